import { ffmpegGlobalArgs, progressArgs } from "./ffmpeg-args.js";
import { type FfmpegProgress, progressLineHandler } from "./ffmpeg-progress.js";
import { runTool, type ToolResult } from "./run-tool.js";
import type { MediaTools } from "./tools.js";

export interface FfmpegOptions {
  /** Inputs, filters and outputs; the global options and `-progress` are added in front. */
  args: readonly string[];
  signal?: AbortSignal;
  /** The most one run may take (code `timeout`). */
  timeoutMs?: number;
  /** Stops ffmpeg when it has reported no progress this long (code `timeout`, "stalled"). */
  stallMs?: number;
  /** Seconds of output expected, so progress becomes a fraction; unknown: fractions stay undefined. */
  expectedDurationSeconds?: number | undefined;
  onProgress?: (progress: FfmpegProgress) => void;
  env?: Readonly<Record<string, string>>;
  cwd?: string;
}

/**
 * Runs ffmpeg with the global options every run needs (no banner, no stdin, errors only) and its
 * progress on stdout, which also serves as the liveness signal for `stallMs`.
 */
export function runFfmpeg(tools: Pick<MediaTools, "ffmpeg">, options: FfmpegOptions): Promise<ToolResult> {
  return runTool({
    command: tools.ffmpeg,
    name: "ffmpeg",
    args: [...ffmpegGlobalArgs(), ...progressArgs(), ...options.args],
    signal: options.signal,
    timeoutMs: options.timeoutMs,
    inactivityMs: options.stallMs,
    // On SIGTERM ffmpeg stops reading but first flushes its encoders, which for a slow x264 preset's
    // lookahead takes seconds; the output of a stopped run is thrown away, so half a second is enough.
    killGraceMs: 500,
    env: options.env,
    cwd: options.cwd,
    onStdoutLine: progressLineHandler(options.expectedDurationSeconds, (progress) =>
      options.onProgress?.(progress),
    ),
  });
}
