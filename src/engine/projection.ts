import type { ErrorInfo } from "../errors/errors.js";
import type { PipelineSpec } from "../pipeline/types.js";
import type { JobInput, StepResult } from "../steps/step-type.js";
import type { JsonValue } from "../util/json.js";
import type { JobEvent, NewJobEvent } from "./events.js";

/**
 * Job and step state, derived from the event log by `applyEvent`. The engine applies each event as it
 * writes it and stores the result; rebuilding from the log must give the same state.
 *
 * Step states and their transitions:
 *   pending   -> queued (parents done) | skipped (a parent failed) | cancelled
 *   queued    -> running (claimed) | cancelled
 *   running   -> succeeded | queued (retrying, deferred, released, split into parts) | failed | cancelled
 *   succeeded, failed, skipped, cancelled -> pending (job retried)
 * Job: queued -> running (first step started) -> succeeded | failed | cancelled; a finished job that is
 * retried goes back to running.
 */
export type JobStatus = "queued" | "running" | "succeeded" | "failed" | "cancelled";
export type StepStatus = "pending" | "queued" | "running" | "succeeded" | "failed" | "skipped" | "cancelled";

export const finishedStepStatuses: ReadonlySet<StepStatus> = new Set([
  "succeeded",
  "failed",
  "skipped",
  "cancelled",
]);
export const finishedJobStatuses: ReadonlySet<JobStatus> = new Set(["succeeded", "failed", "cancelled"]);

export interface JobState {
  id: string;
  tenant: string;
  pipelineName: string;
  pipeline: PipelineSpec;
  input: JobInput | null;
  params: Record<string, JsonValue>;
  priority: number;
  idempotencyKey: string | null;
  status: JobStatus;
  createdAt: number;
  startedAt: number | null;
  finishedAt: number | null;
  error: ErrorInfo | null;
  /** The step whose failure failed the job. */
  failedStep: string | null;
  /** The sequence number of the last event applied. */
  lastSeq: number;
}

export interface PartsState {
  count: number;
  /** Each part's result once it succeeded, null until then. */
  results: (StepResult | null)[];
}

export interface StepState {
  name: string;
  use: string;
  status: StepStatus;
  /** Attempts started, released and deferred runs not counted. */
  attempts: number;
  progress: number;
  /** When the step is queued: the earliest time it may run (a retry's backoff, a deferral). */
  runAt: number | null;
  startedAt: number | null;
  finishedAt: number | null;
  /** The last error: the final one once failed, the last attempt's while retrying. */
  error: ErrorInfo | null;
  result: StepResult | null;
  parts: PartsState | null;
}

export interface JobProjection {
  job: JobState;
  steps: Record<string, StepState>;
}

function newStep(name: string, use: string): StepState {
  return {
    name,
    use,
    status: "pending",
    attempts: 0,
    progress: 0,
    runAt: null,
    startedAt: null,
    finishedAt: null,
    error: null,
    result: null,
    parts: null,
  };
}

/** The projection a `job.created` event starts. */
export function projectionFromCreated(
  event: (JobEvent | NewJobEvent) & { type: "job.created" },
): JobProjection {
  const { data } = event;
  const steps: Record<string, StepState> = {};
  for (const [name, spec] of Object.entries(data.pipeline.steps)) steps[name] = newStep(name, spec.use);
  return {
    job: {
      id: event.jobId,
      tenant: data.tenant,
      pipelineName: data.pipeline.name,
      pipeline: data.pipeline,
      input: data.input,
      params: data.params,
      priority: data.priority,
      idempotencyKey: data.idempotencyKey,
      status: "queued",
      createdAt: event.at,
      startedAt: null,
      finishedAt: null,
      error: null,
      failedStep: null,
      // Not yet appended: the sequence number is set when the job's first events are written.
      lastSeq: "seq" in event ? event.seq : 0,
    },
    steps,
  };
}

/**
 * Applies one event to a job's projection. Mutates `state`: the engine applies events to the copy it
 * loaded inside its transaction.
 */
export function applyEvent(state: JobProjection, event: JobEvent | NewJobEvent): void {
  const { job } = state;
  if ("seq" in event) job.lastSeq = event.seq;
  if (event.step === null) {
    applyJobEvent(state, event);
    return;
  }
  const step = state.steps[event.step];
  if (step === undefined) throw new Error(`event ${event.type} names unknown step ${event.step}`);
  applyStepEvent(step, event);
  if (event.type === "step.started" && job.startedAt === null) job.startedAt = event.at;
  if (event.type === "step.started" && job.status === "queued") job.status = "running";
}

function applyJobEvent(state: JobProjection, event: JobEvent | NewJobEvent): void {
  const { job } = state;
  switch (event.type) {
    case "job.succeeded":
      finishJob(job, "succeeded", event.at);
      return;
    case "job.failed":
      finishJob(job, "failed", event.at);
      job.error = event.data.error;
      job.failedStep = event.data.step;
      return;
    case "job.cancelled":
      finishJob(job, "cancelled", event.at);
      return;
    case "job.retried":
      job.status = job.startedAt === null ? "queued" : "running";
      job.finishedAt = null;
      job.error = null;
      job.failedStep = null;
      for (const name of event.data.steps) {
        const step = state.steps[name];
        if (step !== undefined) Object.assign(step, newStep(step.name, step.use));
      }
      return;
    default:
      return;
  }
}

function finishJob(job: JobState, status: JobStatus, at: number): void {
  job.status = status;
  job.finishedAt = at;
}

function applyStepEvent(step: StepState, event: JobEvent | NewJobEvent): void {
  switch (event.type) {
    case "step.queued":
      // A map step's parts are queued while the step itself stays running.
      if (event.part === null) step.status = "queued";
      step.runAt = event.data.runAt;
      return;
    case "step.started":
      step.status = "running";
      step.runAt = null;
      if (event.part === null) step.attempts = event.attempt ?? step.attempts + 1;
      if (step.startedAt === null) step.startedAt = event.at;
      return;
    case "step.progress":
      if (event.part === null) step.progress = event.data.progress;
      else if (step.parts !== null)
        step.progress = partsProgress(step.parts, event.part, event.data.progress);
      return;
    case "step.split":
      step.parts = { count: event.data.count, results: Array.from({ length: event.data.count }, () => null) };
      step.progress = 0;
      return;
    case "step.succeeded": {
      const result: StepResult = { outputs: event.data.outputs };
      if (event.data.data !== undefined) result.data = event.data.data;
      if (event.part !== null && step.parts !== null) {
        step.parts.results[event.part] = result;
        step.progress = partsProgress(step.parts, event.part, 1);
        return;
      }
      step.status = "succeeded";
      step.progress = 1;
      step.finishedAt = event.at;
      step.error = null;
      step.result = result;
      return;
    }
    case "step.retrying":
      step.error = event.data.error;
      if (event.part === null) step.status = "queued";
      step.runAt = event.data.runAt;
      return;
    case "step.deferred":
      if (event.part === null) {
        step.status = "queued";
        step.attempts = Math.max(0, step.attempts - 1);
      }
      step.runAt = event.data.runAt;
      return;
    case "step.released":
      if (event.part === null) {
        step.status = "queued";
        step.attempts = Math.max(0, step.attempts - 1);
      }
      return;
    case "step.failed":
      step.status = "failed";
      step.error = event.data.error;
      step.finishedAt = event.at;
      return;
    case "step.skipped":
      step.status = "skipped";
      step.finishedAt = event.at;
      return;
    case "step.cancelled":
      step.status = "cancelled";
      step.finishedAt = event.at;
      return;
    default:
      return;
  }
}

// A map step's progress: finished parts count whole, the reporting part by its own fraction.
function partsProgress(parts: PartsState, part: number, fraction: number): number {
  const done = parts.results.filter((result, index) => result !== null && index !== part).length;
  return Math.min(1, (done + fraction) / Math.max(1, parts.count));
}

/** Rebuilds a job's projection from its whole event log, oldest first. */
export function rebuildProjection(events: readonly JobEvent[]): JobProjection {
  const [first, ...rest] = events;
  if (first === undefined || first.type !== "job.created") {
    throw new Error("a job's event log must start with job.created");
  }
  const state = projectionFromCreated(first);
  for (const event of rest) applyEvent(state, event);
  return state;
}

/** A job's progress: the mean of its steps', a finished step counting whole. */
export function jobProgress(state: JobProjection): number {
  const steps = Object.values(state.steps);
  if (steps.length === 0) return 0;
  const total = steps.reduce(
    (sum, step) =>
      sum +
      (step.status === "pending" || step.status === "queued" || step.status === "running"
        ? step.progress
        : 1),
    0,
  );
  return total / steps.length;
}

/**
 * A copy that `applyEvent` can change without touching the original: the job, each step and a map step's
 * list of part results are copied; what it only ever replaces (results, errors, the definition) is shared.
 */
export function copyProjection({ job, steps }: JobProjection): JobProjection {
  const copied: Record<string, StepState> = {};
  for (const [name, step] of Object.entries(steps)) {
    copied[name] = {
      ...step,
      parts: step.parts === null ? null : { count: step.parts.count, results: [...step.parts.results] },
    };
  }
  return { job: { ...job }, steps: copied };
}
