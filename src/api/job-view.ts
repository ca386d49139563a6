import type { JobSummary } from "../backend/backend.js";
import type { JobProjection, JobStatus, StepStatus } from "../engine/projection.js";
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
        url: fileUrl(links.signer, output.key, expiresAt),
      })),
    ),
    error: job.error,
  };
}

/** A signed, expiring download URL for a stored file (relative to the API's origin). */
export function fileUrl(signer: UrlSigner, key: string, expiresAt: number): string {
  const path = `/files/${key.split("/").map(encodeURIComponent).join("/")}`;
  return `${path}?${signer.sign("GET", path, expiresAt)}`;
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
