import { z } from "zod";
import { ErrorCodes, PermanentError } from "../errors/errors.js";
import type { StepContext, StepOutput } from "./step-type.js";

/**
 * Which file a media step reads: the job's input by default, or a file an earlier step made:
 * `from: sd` (that step's first output) or `from: sd/video.mp4` (one named output).
 */
export const fromParam = z
  .string()
  .regex(/^[a-zA-Z0-9_-]+(\/.+)?$/, "a step name, optionally followed by /output-name")
  .optional()
  .describe(
    "the file to read: omit for the job's input, or `step` / `step/output-name` for a file an earlier step made",
  );

export interface SourceFile {
  key: string;
  /** The name to show and to take an extension from. */
  filename: string;
  contentType: string | undefined;
  /** Made by an earlier step of the job, not brought in by it: the pipeline's `limits` do not apply. */
  madeByStep?: boolean;
}

/** Resolves `from` (see fromParam) against the job's input and the outputs of the steps this one needs. */
export function sourceFile(ctx: StepContext<unknown>, from: string | undefined): SourceFile {
  if (from === undefined) {
    const input = ctx.job.input;
    if (input === null) {
      throw new PermanentError(
        ErrorCodes.invalidArgument,
        `step ${ctx.step.name} needs an input file, and the job has none`,
      );
    }
    return { key: input.key, filename: input.filename, contentType: input.contentType };
  }
  const [stepName = "", ...rest] = from.split("/");
  const outputName = rest.length === 0 ? undefined : rest.join("/");
  const parent = ctx.needs[stepName];
  if (parent === undefined) {
    throw new PermanentError(
      ErrorCodes.invalidParams,
      `from: ${stepName} is not among the steps ${ctx.step.name} needs`,
    );
  }
  const output =
    outputName === undefined ? parent.outputs[0] : parent.outputs.find((o) => o.name === outputName);
  if (output === undefined) {
    const names = parent.outputs.map((o) => o.name).join(", ") || "none";
    throw new PermanentError(
      ErrorCodes.invalidParams,
      `from: step ${stepName} has no output ${outputName ?? ""} (its outputs: ${names})`,
    );
  }
  return fromOutput(output);
}

export function fromOutput(output: StepOutput): SourceFile {
  return {
    key: output.key,
    filename: output.name.split("/").at(-1) ?? output.name,
    contentType: output.contentType,
    madeByStep: true,
  };
}
