import type { Logger } from "pino";
import type { z } from "zod";
import type { ErrorInfo } from "../errors/errors.js";
import type { InputLimits } from "../pipeline/types.js";
import type { BlobStore } from "../storage/blob-store.js";
import type { JsonObject, JsonValue } from "../util/json.js";

/**
 * A step type: a schema for its parameters and a run function. Steps never touch the database; they read
 * inputs from storage, write outputs through `ctx.saveOutput`, and report progress.
 */
export interface StepType<P = unknown> {
  /** `family.name`, e.g. `util.sleep`, `video.transcode`. */
  readonly type: string;
  readonly description: string;
  readonly params: z.ZodType<P>;
  /** The longest one attempt may run when the pipeline sets no timeout. */
  readonly defaultTimeoutMs?: number;
  run(ctx: StepContext<P>): Promise<StepOutcome>;
}

/** Declares a step type with its parameter type inferred from the schema. */
export function defineStep<P>(definition: StepType<P>): StepType<P> {
  return definition;
}

/** The file a job was created with. */
export interface JobInput {
  key: string;
  filename: string;
  contentType?: string;
  bytes?: number;
  /** The URL the file was imported from, when it was. */
  sourceUrl?: string;
}

/** A file a step produced, stored under a key that the engine chose. */
export interface StepOutput {
  name: string;
  key: string;
  contentType: string;
  bytes: number;
  /** Facts about the file a later step or a client may want (width, height, duration...). */
  meta?: JsonObject;
}

export interface StepResult {
  outputs?: StepOutput[];
  /** Structured result later steps can read (e.g. what `media.probe` found). */
  data?: JsonValue;
}

/** Returned by a step to split its work into parts that run as tasks of their own (a map step). */
export interface SplitRequest {
  split: JsonValue[];
}

export type StepOutcome = StepResult | SplitRequest;

export function split(parts: JsonValue[]): SplitRequest {
  return { split: parts };
}

export function isSplitRequest(outcome: StepOutcome): outcome is SplitRequest {
  return "split" in outcome && Array.isArray(outcome.split);
}

/** What a step sees of a step it needs. */
export interface ParentResult {
  status: "succeeded" | "failed" | "skipped" | "cancelled";
  outputs: StepOutput[];
  data?: JsonValue;
  /** For a map step: each part's result, in part order. */
  parts?: StepResult[];
  error?: ErrorInfo;
}

export interface PartContext {
  index: number;
  count: number;
  input: JsonValue;
}

export interface StepContext<P> {
  readonly params: P;
  readonly job: {
    readonly id: string;
    readonly tenant: string;
    readonly input: JobInput | null;
    /** The pipeline's bounds on input media (see `checkInputLimits`). */
    readonly limits: InputLimits | undefined;
  };
  readonly step: {
    readonly name: string;
    readonly type: string;
    readonly attempt: number;
    readonly maxAttempts: number;
  };
  /** Set when this run is one part of a map step; undefined for the run that decides the split. */
  readonly part: PartContext | undefined;
  /** The results of the steps this one needs, by step name. */
  readonly needs: Readonly<Record<string, ParentResult>>;
  /** Aborted when the job is cancelled, the lease is lost, the attempt times out or the worker is forced to stop. */
  readonly signal: AbortSignal;
  /** A directory of this attempt's own, removed when it ends. */
  readonly workDir: string;
  /**
   * A path for one new file of this attempt, named after `name`, removed when the attempt ends unless
   * `saveOutput` took it. Unlike `workDir` it needs no directory of its own, which costs a step that
   * writes one file per output (an image) a directory made and removed per task.
   */
  tempFile(name: string): string;
  readonly storage: BlobStore;
  readonly log: Logger;
  /** Reports progress (0..1); this is also what keeps the lease alive. */
  progress(fraction: number, message?: string): void;
  /** Keeps the lease alive without a progress figure, for work that cannot measure itself. */
  heartbeat(): void;
  /** A local path to read a stored blob from: the blob itself on local disk, else a copy in `workDir`. */
  localFile(key: string): Promise<string>;
  /**
   * Stores a file this step made as one of its outputs, atomically, and describes it. `move`: the step is
   * done with the file, so the store may take it instead of copying it (it is gone afterwards).
   */
  saveOutput(
    name: string,
    path: string,
    options?: { contentType?: string; meta?: JsonObject; move?: boolean },
  ): Promise<StepOutput>;
}
