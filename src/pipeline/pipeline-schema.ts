import { z } from "zod";
import { durationSchema } from "../util/duration.js";
import type { JsonValue } from "../util/json.js";
import { retentionDefaults } from "./retention.js";
import {
  type InputLimits,
  type JoinPolicy,
  type ParamSpec,
  type PipelineSpec,
  type RetryPolicy,
  retryDefaults,
  type StepSpec,
} from "./types.js";

/**
 * The schema of a pipeline file as a user writes it (YAML or JSON). Its output is a `PipelineSpec` with
 * every default filled in and durations in milliseconds. Objects are strict so that a misspelt key
 * (`timout`, `need`) is an error instead of a setting silently ignored.
 *
 * This checks the shape of one file only; what needs the step catalogue or the whole graph (step types,
 * `needs` naming real steps, cycles, `${params.x}` references) is checked by `parsePipeline`.
 */

export const pipelineNamePattern = /^[a-z0-9][a-z0-9._-]*$/;
export const stepNamePattern = /^[a-zA-Z0-9_-]+$/;
/** Starts with a letter or `_` so that `${params.x}` reads like a variable. */
export const paramNamePattern = /^[a-zA-Z_][a-zA-Z0-9_-]*$/;

/** What a step gets when its file leaves a field out; retry fields default from `retryDefaults`. */
export const stepDefaults: Readonly<{ priority: number; join: JoinPolicy }> = Object.freeze({
  priority: 0,
  join: "all-succeeded",
});

const jsonValueSchema: z.ZodType<JsonValue> = z.json();

const stepNameSchema = z
  .string()
  .regex(stepNamePattern, "a step name may only contain letters, digits, _ and -");

// Bounds that no sensible pipeline reaches; they stop a typo (`attempts: 30000`) from hiding a job for days.
const maxAttempts = 100;

export const retryObjectSchema = z.strictObject({
  attempts: z
    .int()
    .min(1)
    .max(maxAttempts)
    .prefault(retryDefaults.attempts)
    .meta({ description: "Attempts in all, the first included; 1 means no retry." }),
  initialDelay: durationSchema
    .prefault(retryDefaults.initialDelayMs)
    .meta({ description: "Delay before the second attempt; doubles with each further attempt." }),
  maxDelay: durationSchema.prefault(retryDefaults.maxDelayMs).meta({ description: "The longest delay." }),
  jitter: z
    .number()
    .min(0)
    .max(1)
    .prefault(retryDefaults.jitter)
    .meta({ description: "0..1: the fraction of each delay that is randomised." }),
});

const retrySchema = retryObjectSchema
  .refine((retry) => retry.maxDelay >= retry.initialDelay, {
    path: ["maxDelay"],
    message: "maxDelay must not be shorter than initialDelay",
  })
  .transform(
    (retry): RetryPolicy => ({
      attempts: retry.attempts,
      initialDelayMs: retry.initialDelay,
      maxDelayMs: retry.maxDelay,
      jitter: retry.jitter,
    }),
  );

export const stepObjectSchema = z.strictObject({
  use: z.string().min(1).meta({ description: "The step type, e.g. `video.transcode`." }),
  needs: z
    .union([stepNameSchema, z.array(stepNameSchema)], {
      error: "expected a step name or a list of step names",
    })
    .optional()
    .meta({ description: "The steps this one waits for: a name or a list of names." }),
  with: z
    .record(z.string(), jsonValueSchema)
    .optional()
    .meta({ description: `Parameters for the step type; strings may refer to \${params.name}.` }),
  retry: retrySchema.prefault({}).meta({ description: "How failed attempts are retried." }),
  timeout: durationSchema
    .refine((ms) => ms > 0, "a timeout must be longer than 0")
    .optional()
    .meta({
      description: "The longest one attempt may run, e.g. `10m`; default: the step type's own limit.",
    }),
  priority: z
    .int()
    .prefault(stepDefaults.priority)
    .meta({ description: "Higher runs first; added to the job's priority." }),
  join: z.enum(["all-succeeded", "some-succeeded"]).prefault(stepDefaults.join).meta({
    description:
      "all-succeeded: run once every needed step succeeded. some-succeeded: once all finished and one succeeded.",
  }),
});

export const stepSchema = stepObjectSchema
  .superRefine((step, ctx) => {
    if (!Array.isArray(step.needs)) return;
    step.needs.forEach((need, index) => {
      if (step.needs?.indexOf(need) !== index) {
        ctx.addIssue({ code: "custom", path: ["needs", index], message: `"${need}" is listed twice` });
      }
    });
  })
  .transform((step): StepSpec => {
    const spec: StepSpec = {
      use: step.use,
      needs: step.needs === undefined ? [] : typeof step.needs === "string" ? [step.needs] : step.needs,
      with: step.with ?? {},
      retry: step.retry,
      priority: step.priority,
      join: step.join,
    };
    if (step.timeout !== undefined) spec.timeoutMs = step.timeout;
    return spec;
  });

export const paramObjectSchema = z.strictObject({
  description: z.string().optional(),
  default: jsonValueSchema.optional().meta({ description: "No default: every job must set this parameter." }),
});

const paramSchema = paramObjectSchema.transform((param): ParamSpec => {
  const spec: ParamSpec = {};
  if (param.description !== undefined) spec.description = param.description;
  if (param.default !== undefined) spec.default = param.default;
  return spec;
});

export const paramsSchema = z
  .record(
    z
      .string()
      .regex(
        paramNamePattern,
        "a parameter name starts with a letter or _ and continues with letters, digits, _ or -",
      ),
    paramSchema,
  )
  .optional()
  .transform((params) => params ?? {})
  .meta({ description: `Values a job may set; steps refer to them as \${params.name}.` });

export const stepsSchema = z
  .record(stepNameSchema, stepSchema)
  .refine((steps) => Object.keys(steps).length > 0, "a pipeline needs at least one step")
  .meta({ description: "The steps by name, in the order that breaks ties when several are ready at once." });

const sideLimit = z.int().min(1).max(65_535);

export const limitsObjectSchema = z.strictObject({
  maxBytes: z.int().min(1).optional().meta({ description: "The largest input file, in bytes." }),
  maxDuration: durationSchema
    .refine((ms) => ms > 0, "a duration limit must be longer than 0")
    .optional()
    .meta({ description: "The longest video or audio input, e.g. `2h`." }),
  maxWidth: sideLimit.optional().meta({ description: "The widest video input, in pixels as displayed." }),
  maxHeight: sideLimit.optional().meta({ description: "The tallest video input, in pixels as displayed." }),
});

const limitsSchema = limitsObjectSchema.transform((limits): InputLimits => {
  const spec: InputLimits = {};
  if (limits.maxBytes !== undefined) spec.maxBytes = limits.maxBytes;
  if (limits.maxDuration !== undefined) spec.maxDurationMs = limits.maxDuration;
  if (limits.maxWidth !== undefined) spec.maxWidth = limits.maxWidth;
  if (limits.maxHeight !== undefined) spec.maxHeight = limits.maxHeight;
  return spec;
});

export const pipelineObjectSchema = z.strictObject({
  /** Lets a JSON file point editors at the JSON Schema; ignored otherwise. */
  $schema: z.string().optional(),
  name: z
    .string()
    .regex(
      pipelineNamePattern,
      "a pipeline name is lower case: letters, digits, ., _ and -, not first . _ or -",
    )
    .meta({ description: "The pipeline's name, unique among the pipelines a server knows." }),
  description: z.string().optional(),
  params: paramsSchema,
  steps: stepsSchema,
  retention: durationSchema
    .refine((ms) => ms >= 1000, "a retention must be at least 1s")
    .prefault(retentionDefaults.retentionMs)
    .meta({
      description:
        "How long a finished job and its output files are kept, e.g. `30d`; then the files are deleted and the job answers 410 Gone. Default 7d.",
    }),
  limits: limitsSchema.optional().meta({
    description:
      "What the job's media may be at most; a media step fails with input_too_large on an input beyond them.",
  }),
});

export const pipelineSchema = pipelineObjectSchema.transform((file): PipelineSpec => {
  const { name, description, params, steps, retention, limits } = file;
  const spec: PipelineSpec = { name, params, steps, retentionMs: retention };
  if (description !== undefined) spec.description = description;
  if (limits !== undefined) spec.limits = limits;
  return spec;
});

/** A pipeline file as written, before defaults: what editors and API bodies describe. */
export type PipelineFile = z.input<typeof pipelineSchema>;
