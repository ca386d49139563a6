import type { JsonValue } from "../util/json.js";

/**
 * A pipeline after parsing and validation: every default filled in, durations in milliseconds. What the
 * engine stores with each job (resolved, with the job's parameters substituted) and plans from.
 */
export interface PipelineSpec {
  name: string;
  description?: string;
  /** Values a job may set (`--set key=value`, API `params`); steps refer to them as `${params.key}`. */
  params: Record<string, ParamSpec>;
  /** In the order the file lists them; that order breaks ties when several steps become ready at once. */
  steps: Record<string, StepSpec>;
  /**
   * How long a finished job and its files are kept, in milliseconds; then its outputs are deleted and the
   * API answers 410 Gone. Optional because jobs stored before retention existed have none: they get
   * `retentionDefaults.retentionMs` (see `retentionOf`).
   */
  retentionMs?: number;
  /** What a job's media may be at most; every media step checks its inputs against it. */
  limits?: InputLimits;
}

/**
 * Bounds on the media a pipeline accepts, checked when a step first reads an input (before any decoding
 * beyond ffprobe's look at the header), so a job with a five-hour or 16K upload fails at once with
 * `input_too_large` instead of holding a worker for hours. Unset: no bound.
 */
export interface InputLimits {
  maxBytes?: number;
  maxDurationMs?: number;
  /** Width and height as displayed, after rotation metadata. */
  maxWidth?: number;
  maxHeight?: number;
}

export interface ParamSpec {
  description?: string;
  /** No default: the job must set it. */
  default?: JsonValue;
}

export interface StepSpec {
  /** The step type, e.g. `video.transcode`. */
  use: string;
  /** The steps this one waits for. */
  needs: string[];
  /** Parameters for the step type, checked against its schema. */
  with: Record<string, JsonValue>;
  retry: RetryPolicy;
  /** The longest one attempt may run; undefined: the step type's own limit. */
  timeoutMs?: number;
  /** Higher runs first; added to the job's priority. */
  priority: number;
  join: JoinPolicy;
}

/**
 * When a step with parents runs:
 * - `all-succeeded` (default): once every parent succeeded; if one fails for good, the step is skipped.
 * - `some-succeeded`: once every parent has finished and at least one succeeded; the step sees which failed.
 */
export type JoinPolicy = "all-succeeded" | "some-succeeded";

export interface RetryPolicy {
  /** Attempts in all, the first included; 1 means no retry. */
  attempts: number;
  initialDelayMs: number;
  maxDelayMs: number;
  /** 0..1: the fraction of each delay that is randomised (0 = exact exponential delays). */
  jitter: number;
}

export const retryDefaults: RetryPolicy = Object.freeze({
  attempts: 3,
  initialDelayMs: 1_000,
  maxDelayMs: 5 * 60_000,
  jitter: 0.2,
});
