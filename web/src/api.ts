/**
 * The dashboard's only way to the server: the public HTTP API, with the API key the user entered. Types
 * mirror the API's JSON (src/api/schemas.ts); the dashboard never sees anything else.
 */

export type JobStatus = "queued" | "running" | "succeeded" | "failed" | "cancelled";
export const jobStatuses: readonly JobStatus[] = ["queued", "running", "succeeded", "failed", "cancelled"];

export interface ErrorInfo {
  code: string;
  message: string;
}

export interface JobSummary {
  id: string;
  pipeline: string;
  status: JobStatus;
  progress: number;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  error: ErrorInfo | null;
}

export interface StepView {
  name: string;
  use: string;
  status: string;
  attempts: number;
  progress: number;
  parts: number | null;
  startedAt: string | null;
  finishedAt: string | null;
  error: ErrorInfo | null;
}

export interface OutputView {
  step: string;
  name: string;
  contentType: string;
  bytes: number;
  url: string;
}

export interface JobView extends JobSummary {
  steps: StepView[];
  outputs: OutputView[];
}

export interface StepSpec {
  use: string;
  needs: string[];
  with: Record<string, unknown>;
}

export interface PipelineSpec {
  name: string;
  description?: string;
  params: Record<string, { description?: string; default?: unknown }>;
  steps: Record<string, StepSpec>;
}

export interface PipelineSummary {
  name: string;
  description: string | null;
  steps: number;
}

export interface JobEvent {
  seq: number;
  type: string;
  jobId: string;
  step: string | null;
  part: number | null;
  attempt: number | null;
  workerId: string | null;
  at: number;
  data: Record<string, unknown>;
}

/** An API answer that was not 2xx, with the problem+json code and detail when there is one. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = "ApiError";
  }
}

const keyStorage = "mediaflow.apiKey";

export function storedKey(): string | null {
  return localStorage.getItem(keyStorage);
}

export function storeKey(key: string | null): void {
  if (key === null) localStorage.removeItem(keyStorage);
  else localStorage.setItem(keyStorage, key);
}

export function authHeaders(key = storedKey()): Record<string, string> {
  return key === null ? {} : { authorization: `Bearer ${key}` };
}

export async function apiFetch<T>(path: string, init: RequestInit & { key?: string } = {}): Promise<T> {
  const { key, ...rest } = init;
  const headers = new Headers(rest.headers);
  for (const [name, value] of Object.entries(authHeaders(key))) headers.set(name, value);
  if (typeof rest.body === "string") headers.set("content-type", "application/json");
  const response = await fetch(path, { ...rest, headers });
  if (!response.ok) throw await problemOf(response);
  return (await response.json()) as T;
}

async function problemOf(response: Response): Promise<ApiError> {
  try {
    const body = (await response.json()) as { code?: string; detail?: string };
    return new ApiError(response.status, body.code ?? "http_error", body.detail ?? response.statusText);
  } catch {
    return new ApiError(response.status, "http_error", `${response.status} ${response.statusText}`);
  }
}

export const api = {
  listJobs(query: { status?: string; pipeline?: string; cursor?: string | null; limit?: number }) {
    const params = new URLSearchParams();
    if (query.status) params.set("status", query.status);
    if (query.pipeline) params.set("pipeline", query.pipeline);
    if (query.cursor) params.set("cursor", query.cursor);
    params.set("limit", String(query.limit ?? 50));
    return apiFetch<{ jobs: JobSummary[]; nextCursor: string | null }>(`/v1/jobs?${params}`);
  },
  getJob: (id: string) => apiFetch<JobView>(`/v1/jobs/${encodeURIComponent(id)}`),
  events: (id: string, after = 0) =>
    apiFetch<{ events: JobEvent[]; lastSeq: number }>(
      `/v1/jobs/${encodeURIComponent(id)}/events?after=${after}&limit=1000`,
    ),
  cancelJob: (id: string) => apiFetch<JobView>(`/v1/jobs/${encodeURIComponent(id)}`, { method: "DELETE" }),
  retryJob: (id: string, steps?: string[]) =>
    apiFetch<JobView>(`/v1/jobs/${encodeURIComponent(id)}/retry`, {
      method: "POST",
      body: JSON.stringify(steps === undefined ? {} : { steps }),
    }),
  createJob: (body: { pipeline: string; input?: { uploadId: string }; params?: Record<string, unknown> }) =>
    apiFetch<JobView>("/v1/jobs", { method: "POST", body: JSON.stringify(body) }),
  listPipelines: () => apiFetch<{ pipelines: PipelineSummary[] }>("/v1/pipelines"),
  getPipeline: (name: string) => apiFetch<PipelineSpec>(`/v1/pipelines/${encodeURIComponent(name)}`),
  async metrics(): Promise<string> {
    const response = await fetch("/metrics");
    if (!response.ok) throw await problemOf(response);
    return response.text();
  },
};

/**
 * Uploads a file with the tus protocol (`/v1/tus`), resumably: an interrupted upload (a dropped
 * connection, a closed laptop, a reload of the page) goes on from the offset the server has, not from the
 * start. tus-js-client is loaded only when a file is uploaded. Resolves with the upload's id, which a job
 * names as `{uploadId}`.
 */
export async function uploadResumably(
  file: File,
  onProgress: (fraction: number) => void,
  signal?: AbortSignal,
): Promise<string> {
  const { Upload } = await import("tus-js-client");
  return new Promise((resolve, reject) => {
    const upload = new Upload(file, {
      endpoint: "/v1/tus",
      headers: authHeaders(),
      metadata: { filename: file.name, filetype: file.type || "application/octet-stream" },
      // Chunks bound what a dropped connection costs; the fingerprint kept in localStorage lets a
      // reloaded page find the upload again.
      chunkSize: 8 * 1024 * 1024,
      retryDelays: [0, 1_000, 3_000, 5_000, 10_000],
      storeFingerprintForResuming: true,
      removeFingerprintOnSuccess: true,
      onProgress: (sent, total) => onProgress(total > 0 ? sent / total : 0),
      onSuccess: () => {
        const id = upload.url?.split("/").at(-1);
        if (id === undefined || id === "")
          reject(new ApiError(0, "upload_failed", "the server named no upload"));
        else {
          onProgress(1);
          resolve(decodeURIComponent(id));
        }
      },
      onError: (error) => reject(new ApiError(0, "upload_failed", `the upload failed: ${error.message}`)),
    });
    signal?.addEventListener("abort", () => {
      void upload.abort();
      reject(new ApiError(0, "aborted", "the upload was cancelled"));
    });
    void upload.findPreviousUploads().then((previous) => {
      const [latest] = previous;
      if (latest !== undefined) upload.resumeFromPreviousUpload(latest);
      upload.start();
    }, reject);
  });
}
