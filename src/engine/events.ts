import type { ErrorInfo } from "../errors/errors.js";
import type { PipelineSpec } from "../pipeline/types.js";
import type { JobInput, StepOutput } from "../steps/step-type.js";
import type { JsonValue } from "../util/json.js";

/**
 * The job event log: append-only, one global monotonic sequence. Job and step state are projections of it
 * (see projection.ts). Each event type carries its own data shape, so the reducer and every reader are
 * checked by the compiler.
 */
export interface EventDataByType {
  "job.created": {
    tenant: string;
    pipeline: PipelineSpec;
    input: JobInput | null;
    params: Record<string, JsonValue>;
    priority: number;
    idempotencyKey: string | null;
  };
  "job.succeeded": Record<string, never>;
  "job.failed": { error: ErrorInfo; step: string };
  "job.cancelled": { reason: string };
  /** A finished job was retried: these steps (and the steps waiting on them) go back to pending. */
  "job.retried": { steps: string[] };
  "step.queued": { runAt: number };
  "step.started": { leaseExpiresAt: number };
  "step.progress": { progress: number; message?: string };
  /** A map step's first run decided to split into `count` parts. */
  "step.split": { count: number };
  "step.succeeded": { outputs: StepOutput[]; data?: JsonValue };
  /** An attempt failed and another is scheduled. */
  "step.retrying": { error: ErrorInfo; delayMs: number; runAt: number };
  /** The step asked to run again later (waiting for something); the attempt does not count. */
  "step.deferred": { reason: string; runAt: number; deadline: number };
  /** The worker gave the task back (shutting down); the attempt does not count. */
  "step.released": { reason: string };
  /** Failed for good: the error, and for exhausted retries the error of the last attempt. */
  "step.failed": { error: ErrorInfo; cause?: ErrorInfo };
  "step.skipped": { reason: string };
  "step.cancelled": { reason: string };
  /**
   * One attempt to deliver a webhook for one of this job's events. It changes no job or step state, and
   * no webhook can subscribe to it (it is not in `jobEventTypes`), so deliveries never beget deliveries.
   */
  "webhook.attempted": {
    deliveryId: string;
    url: string;
    /** The event the delivery carries. */
    eventSeq: number;
    attempt: number;
    outcome: "delivered" | "retrying" | "dead";
    /** The receiver's HTTP status; null when there was no response. */
    status: number | null;
    error?: string;
    nextAttemptAt?: number;
  };
}

export type JobEventType = keyof EventDataByType;

interface EventEnvelope<T extends JobEventType> {
  type: T;
  jobId: string;
  /** Null for job-level events. */
  step: string | null;
  /** The part of a map step, null for the step itself. */
  part: number | null;
  attempt: number | null;
  workerId: string | null;
  /** Milliseconds since the epoch. */
  at: number;
  data: EventDataByType[T];
}

export type NewJobEvent = { [T in JobEventType]: EventEnvelope<T> }[JobEventType];
export type JobEvent = NewJobEvent & { seq: number };

export const jobEventTypes = [
  "job.created",
  "job.succeeded",
  "job.failed",
  "job.cancelled",
  "job.retried",
  "step.queued",
  "step.started",
  "step.progress",
  "step.split",
  "step.succeeded",
  "step.retrying",
  "step.deferred",
  "step.released",
  "step.failed",
  "step.skipped",
  "step.cancelled",
] as const satisfies readonly JobEventType[];

/** The events that end a job: nothing of it follows one, until a retry. */
export const jobEndEventTypes: ReadonlySet<string> = new Set<JobEventType>([
  "job.succeeded",
  "job.failed",
  "job.cancelled",
]);

/** The job's own events, which webhooks may subscribe to (bookkeeping such as `webhook.attempted` is not). */
export type JobLifecycleEventType = (typeof jobEventTypes)[number];
