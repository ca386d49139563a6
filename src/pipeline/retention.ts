import type { PipelineSpec } from "./types.js";

/** A week: long enough to fetch results after a weekend, short enough that storage does not grow forever. */
export const retentionDefaults: Readonly<{ retentionMs: number }> = Object.freeze({
  retentionMs: 7 * 86_400_000,
});

/** How long a job of this pipeline is kept once finished, in milliseconds. */
export function retentionOf(pipeline: Pick<PipelineSpec, "retentionMs">): number {
  return pipeline.retentionMs ?? retentionDefaults.retentionMs;
}

/** When a job's retention ends: `finishedAt` plus its pipeline's retention; null while it is unfinished. */
export function expiresAtOf(job: { finishedAt: number | null; pipeline: Pick<PipelineSpec, "retentionMs"> }) {
  return job.finishedAt === null ? null : job.finishedAt + retentionOf(job.pipeline);
}
