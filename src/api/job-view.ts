import type { JobSummary } from "../backend/backend.js";
import type { JobProjection, JobStatus, StepStatus } from "../engine/projection.js";
import type { ApiDependencies } from "./api-dependencies.js";
import type { UrlSigner } from "./url-signer.js";

/** The API's view of a job: what `GET /v1/jobs/:id` returns. */
export interface JobView {
  id: string;
  pipeline: string;
  status: JobStatus;
  progress: number;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  steps: {
    name: string;
    use: string;
    status: StepStatus;
    attempts: number;
    progress: number;
    parts: number | null;
    startedAt: string | null;
    finishedAt: string | null;
    error: { code: string; message: string } | null;
  }[];
  outputs: { step: string; name: string; contentType: string; bytes: number; url: string }[];
  error: { code: string; message: string } | null;
}

export interface OutputLinks {
  signer: UrlSigner;
  /** How long a signed download URL stays valid. */
  ttlMs: number;
  now: number;
}

const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());

export function jobView(state: JobProjection, links: OutputLinks, progress: number): JobView {
  const { job } = state;
  const steps = Object.values(state.steps);
  const expiresAt = links.now + links.ttlMs;
  return {
    id: job.id,
    pipeline: job.pipelineName,
    status: job.status,
    progress,
    createdAt: new Date(job.createdAt).toISOString(),
    startedAt: iso(job.startedAt),
    finishedAt: iso(job.finishedAt),
    steps: steps.map((step) => ({
      name: step.name,
      use: step.use,
      status: step.status,
      attempts: step.attempts,
      progress: step.progress,
      parts: step.parts?.count ?? null,
      startedAt: iso(step.startedAt),
      finishedAt: iso(step.finishedAt),
      error: step.status === "succeeded" ? null : step.error,
    })),
    outputs: steps.flatMap((step) =>
      (step.result?.outputs ?? []).map((output) => ({
        step: step.name,
        name: output.name,
        contentType: output.contentType,
        bytes: output.bytes,
        url: fileUrl(links.signer, output.key, outputScope(output.key, output.name), expiresAt),
      })),
    ),
    error: job.error,
  };
}

/**
 * A signed, expiring download URL for a stored file (relative to the API's origin), valid for every key
 * under `scope`, so files that refer to each other by relative URL (playlists, segments) resolve.
 */
export function fileUrl(signer: UrlSigner, key: string, scope: string, expiresAt: number): string {
  return `/files/${signer.scopeToken(scope, expiresAt)}/${key.split("/").map(encodeURIComponent).join("/")}`;
}

/**
 * The folder a step attempt wrote its outputs to (`jobs/<job>/<step>[.p<part>].t<token>/`): the key
 * without the output's own name, which may itself hold folders (`hls/master.m3u8`).
 */
export function outputScope(key: string, name: string): string {
  if (key.endsWith(`/${name}`)) return key.slice(0, key.length - name.length);
  return key.slice(0, key.lastIndexOf("/") + 1);
}

export function jobSummaryView(job: JobSummary) {
  return {
    id: job.id,
    pipeline: job.pipelineName,
    status: job.status,
    progress: job.progress,
    createdAt: new Date(job.createdAt).toISOString(),
    startedAt: iso(job.startedAt),
    finishedAt: iso(job.finishedAt),
    error: job.error,
  };
}

/**
 * When storage has direct links (S3), a standalone output is downloaded from the bucket itself. Outputs
 * in folders (an HLS or DASH package) keep the API's folder-scoped link: their playlists name each other
 * by relative URL, which per-object presigned URLs cannot follow.
 */
export async function withDirectLinks(
  view: JobView,
  state: JobProjection,
  deps: Pick<ApiDependencies, "storage" | "limits">,
): Promise<JobView> {
  const { storage } = deps;
  if (storage.directUrl === undefined) return view;
  const keys = new Map<string, string>();
  for (const step of Object.values(state.steps)) {
    for (const output of step.result?.outputs ?? []) keys.set(`${step.name}\n${output.name}`, output.key);
  }
  const expiresAt = Date.now() + deps.limits.downloadUrlTtlMs;
  const outputs = await Promise.all(
    view.outputs.map(async (output) => {
      const key = keys.get(`${output.step}\n${output.name}`);
      if (key === undefined || output.name.includes("/")) return output;
      return { ...output, url: (await storage.directUrl?.(key, { method: "GET", expiresAt })) ?? output.url };
    }),
  );
  return { ...view, outputs };
}
