import { z } from "zod";
import { runFfmpeg } from "../media/ffmpeg.js";
import { type MediaInfo, probeMedia } from "../media/probe.js";
import type { ToolResult } from "../media/run-tool.js";
import { durationSchema } from "../util/duration.js";
import { checkMediaLimits } from "./input-limits.js";
import { mediaTools } from "./media-tools.js";
import type { SourceFile } from "./step-input.js";
import type { StepContext } from "./step-type.js";

/**
 * What every step that runs ffmpeg shares: how long ffmpeg may go without reporting progress before it
 * is taken for hung, killed and the attempt retried.
 */
export const stallTimeoutParam = durationSchema
  .prefault("60s")
  .meta({ description: "ffmpeg is killed (and the step retried) after reporting no progress this long." });

export const ffmpegStepParams = { stallTimeout: stallTimeoutParam };

/** A source file on local disk and what ffprobe found in it. */
export interface ProbedSource extends SourceFile {
  path: string;
  info: MediaInfo;
}

/** Makes a stored file readable by a tool (no copy on local disk) and probes it under the step's signal. */
export async function probeSource(ctx: StepContext<unknown>, source: SourceFile): Promise<ProbedSource> {
  const tools = await mediaTools();
  const path = await ctx.localFile(source.key);
  const info = await probeMedia(tools, path, { signal: ctx.signal });
  checkMediaLimits(source, info, ctx.job.limits);
  return { ...source, path, info };
}

export interface StepFfmpegOptions {
  args: readonly string[];
  /** Seconds of output expected, for progress fractions. */
  durationSeconds: number | undefined;
  stallMs: number;
  /** The share of the step's progress this run covers, for steps that run ffmpeg several times. */
  progressRange?: readonly [from: number, to: number];
  env?: Readonly<Record<string, string>>;
}

/**
 * Runs ffmpeg for a step: stopped by the step's signal (cancel, lease loss, timeout, shutdown), killed
 * when it stalls, and every progress block reported, which is also what keeps the lease alive.
 */
export async function runFfmpegInStep(
  ctx: StepContext<unknown>,
  options: StepFfmpegOptions,
): Promise<ToolResult> {
  const tools = await mediaTools();
  const [from, to] = options.progressRange ?? [0, 1];
  return runFfmpeg(tools, {
    args: options.args,
    signal: ctx.signal,
    stallMs: options.stallMs,
    expectedDurationSeconds: options.durationSeconds,
    env: options.env,
    cwd: ctx.workDir,
    onProgress(progress) {
      if (progress.fraction === undefined) ctx.heartbeat();
      else ctx.progress(from + (to - from) * progress.fraction);
    },
  });
}

/** Positive seconds, e.g. a start time or a clip length in parameters. */
export const secondsParam = z.number().nonnegative().meta({ description: "seconds" });
