import { join } from "node:path";
import { z } from "zod";
import { ErrorCodes, PermanentError, RetryLaterError } from "../../errors/errors.js";
import { formatNumber, outputDimensions, PRESETS, VIDEO_CODECS } from "../../media/encode-args.js";
import { ffprobeArgs, safeInputArgs } from "../../media/ffmpeg-args.js";
import type { MediaInfo } from "../../media/probe.js";
import { runTool } from "../../media/run-tool.js";
import { assertValidKey } from "../../storage/keys.js";
import { durationSchema } from "../../util/duration.js";
import type { JsonObject } from "../../util/json.js";
import { ffmpegStepParams, type ProbedSource, probeSource, runFfmpegInStep } from "../media-step-kit.js";
import { mediaTools } from "../media-tools.js";
import { fromParam, sourceFile } from "../step-input.js";
import { defineStep, type StepContext, type StepOutput } from "../step-type.js";
import {
  isOnKeyframe,
  parseTimestamp,
  planCoverage,
  type Recording,
  recordingFromKey,
  type TimeWindow,
  type Trim,
  uncoveredDecision,
} from "./clip-plan.js";
import type { ConcatPiece } from "./concat-args.js";
import { canJoinByCopy } from "./concat-args.js";
import { assertJoinable, joinByCopy, joinByReencode, joinTarget, probeLocal } from "./concat-step.js";

const timeParam = z.union([z.number().nonnegative(), z.string().min(1)]).meta({
  description: "seconds into the input, or for recordings an ISO 8601 timestamp or epoch milliseconds",
});

const recordingParam = z.strictObject({
  key: z
    .string()
    .min(1)
    .max(1024)
    .meta({ description: "The recording's storage key, under tenants/<tenant>/." }),
  start: z
    .union([z.number().nonnegative(), z.string()])
    .meta({ description: "When it starts (ISO 8601 or epoch ms)." }),
  end: z
    .union([z.number().nonnegative(), z.string()])
    .meta({ description: "When it ends (ISO 8601 or epoch ms)." }),
});

const clipParams = z
  .strictObject({
    from: fromParam,
    start: timeParam.meta({ description: "Where the clip starts: seconds into the input, or a timestamp." }),
    end: timeParam.meta({ description: "Where the clip ends: seconds into the input, or a timestamp." }),
    recordings: z.array(recordingParam).min(1).max(1000).optional().meta({
      description: "Timestamped recordings to cut the window from, each with its wall-clock span.",
    }),
    recordingsPrefix: z
      .string()
      .min(1)
      .max(1024)
      .optional()
      .meta({
        description:
          "A storage prefix listed on every attempt; each key named <start>_<end>.<ext> is a recording. " +
          "Lets a recording that arrives while the step waits be used.",
      }),
    accurate: z
      .enum(["auto", "reencode", "copy"])
      .prefault("auto")
      .meta({
        description:
          "auto: stream copy when every cut falls on a keyframe, else re-encode; reencode: always frame-exact; " +
          "copy: never re-encode (cuts move to the keyframe before).",
      }),
    waitFor: durationSchema.prefault("10m").meta({ description: "How long to wait for missing recordings." }),
    maxAge: durationSchema.prefault("7d").meta({
      description:
        "A window that ended longer ago than this and is not covered fails at once (out_of_range).",
    }),
    pollEvery: durationSchema
      .prefault("30s")
      .meta({ description: "How often to look again for missing recordings." }),
    thumbnails: z.array(z.int().min(16).max(4096)).max(8).optional().meta({
      description: "Widths of JPEG thumbnails of the clip's middle frame; never wider than the clip.",
    }),
    codec: z.enum(VIDEO_CODECS).prefault("h264").meta({ description: "Video codec when re-encoding." }),
    crf: z.int().min(0).max(63).prefault(23).meta({ description: "Constant quality when re-encoding." }),
    preset: z.enum(PRESETS).prefault("veryfast").meta({ description: "Encoder speed when re-encoding." }),
    ...ffmpegStepParams,
  })
  .refine((p) => p.recordings === undefined || p.recordingsPrefix === undefined, {
    message: "give recordings or recordingsPrefix, not both",
  })
  .refine((p) => p.from === undefined || (p.recordings === undefined && p.recordingsPrefix === undefined), {
    message: "from cuts one file; it cannot be combined with recordings",
  });

type ClipParams = z.infer<typeof clipParams>;

/** A cut point within this many seconds of a keyframe is on it: less than half a frame at 60 fps. */
const KEYFRAME_TOLERANCE_SECONDS = 0.008;

export const clipStep = defineStep({
  type: "video.clip",
  description:
    "Cuts a window [start, end] out of one video, or out of timestamped recordings (joined when the " +
    "window spans several), waiting for recordings that have not arrived yet. Output `clip.mp4`, and " +
    "optional JPEG thumbnails.",
  params: clipParams,
  defaultTimeoutMs: 30 * 60_000,
  async run(ctx) {
    const { params } = ctx;
    const usesRecordings = params.recordings !== undefined || params.recordingsPrefix !== undefined;
    const cut = usesRecordings ? await recordingsCut(ctx, params) : await inputCut(ctx, params);
    const outPath = join(ctx.workDir, "clip.mp4");
    const method = await decideMethod(ctx, params, cut);
    await writeClip(ctx, params, cut, method, outPath);
    const made = await probeLocal(ctx, outPath);
    const width = made.video?.width ?? 0;
    const height = made.video?.height ?? 0;
    const duration = made.duration ?? 0;
    const clip = await ctx.saveOutput("clip.mp4", outPath, {
      contentType: "video/mp4",
      meta: { duration, width, height, method, pieces: cut.pieces.length },
    });
    const outputs: StepOutput[] = [clip];
    if (params.thumbnails !== undefined && params.thumbnails.length > 0) {
      outputs.push(...(await thumbnails(ctx, outPath, made, params.thumbnails, params.stallTimeout)));
    }
    ctx.progress(1);
    return { outputs, data: { duration, width, height, method, sources: cut.sources.map((s) => s.key) } };
  },
});

/** Cuts and joins the pieces into `outPath`, by stream copy or by one re-encode. */
async function writeClip(
  ctx: StepContext<unknown>,
  params: ClipParams,
  cut: Cut,
  method: "copy" | "reencode",
  outPath: string,
): Promise<void> {
  if (method === "copy") {
    await joinByCopy(ctx, cut.pieces, outPath, params.stallTimeout);
    return;
  }
  const target = joinTarget(
    cut.sources.map((source) => source.info),
    {},
  );
  const { codec, crf, preset, stallTimeout } = params;
  await joinByReencode(ctx, cut.pieces, target, { codec, crf, preset, stallMs: stallTimeout }, outPath);
}

/** What a clip is made of: the probed files and the part of each to keep, in order. */
interface Cut {
  sources: ProbedSource[];
  /** `pieces[i]` is the part of `sources[i]` to keep. */
  pieces: ConcatPiece[];
}

/** One input (the job's, or `from`) and seconds into it. */
async function inputCut(ctx: StepContext<unknown>, params: ClipParams): Promise<Cut> {
  const start = seconds(params.start, "start");
  const end = seconds(params.end, "end");
  if (end <= start)
    throw new PermanentError(ErrorCodes.invalidParams, `end (${end}) must be after start (${start})`);
  const source = await probeSource(ctx, sourceFile(ctx, params.from));
  assertJoinable(source, ctx.step.type);
  const length = source.info.duration ?? 0;
  // Half a frame of slack: a "4 s" file is often 3.98 s long by its container's reckoning.
  if (end > length + 0.02) {
    throw new PermanentError(
      ErrorCodes.outOfRange,
      `the clip ends at ${end} s, after the end of ${source.filename} (${formatNumber(length)} s)`,
    );
  }
  return {
    sources: [source],
    pieces: [piece(source, { key: source.key, from: start, to: Math.min(end, length) })],
  };
}

function seconds(value: string | number, name: string): number {
  const number = typeof value === "number" ? value : Number(value);
  if (!Number.isFinite(number) || number < 0) {
    throw new PermanentError(
      ErrorCodes.invalidParams,
      `${name}: "${value}" is not a number of seconds (timestamps need recordings or recordingsPrefix)`,
    );
  }
  return number;
}

/** A window of wall-clock time out of recordings; waits (RetryLaterError) while it is not yet covered. */
async function recordingsCut(ctx: StepContext<unknown>, params: ClipParams): Promise<Cut> {
  const window = { start: timestamp(params.start, "start"), end: timestamp(params.end, "end") };
  if (window.end <= window.start) {
    throw new PermanentError(ErrorCodes.invalidParams, "the window's end must be after its start");
  }
  const recordings = await currentRecordings(ctx, params);
  const coverage = planCoverage(window, recordings);
  if (!coverage.covered) throw notCoveredYet(window, coverage.gaps, params);
  const sources: ProbedSource[] = [];
  const pieces: ConcatPiece[] = [];
  for (const trim of coverage.trims) {
    const source = await probeSource(ctx, {
      key: trim.key,
      filename: trim.key.split("/").at(-1) ?? trim.key,
      contentType: undefined,
    });
    assertJoinable(source, ctx.step.type);
    sources.push(source);
    pieces.push(piece(source, trim));
  }
  return { sources, pieces };
}

/** The recordings as given, or as listed under the prefix now (a new one may have arrived since the last attempt). */
async function currentRecordings(ctx: StepContext<unknown>, params: ClipParams): Promise<Recording[]> {
  const tenantPrefix = `tenants/${ctx.job.tenant}/`;
  if (params.recordings !== undefined) {
    return params.recordings.map((r, i) => {
      assertTenantKey(r.key, tenantPrefix, `recordings[${i}].key`);
      return {
        key: r.key,
        start: timestamp(r.start, `recordings[${i}].start`),
        end: timestamp(r.end, `recordings[${i}].end`),
      };
    });
  }
  const prefix = (params.recordingsPrefix ?? "").replace(/\/+$/, "");
  assertTenantKey(prefix, tenantPrefix, "recordingsPrefix");
  const found: Recording[] = [];
  for await (const blob of ctx.storage.list(`${prefix}/`)) {
    const recording = recordingFromKey(blob.key);
    if (recording !== undefined) found.push(recording);
  }
  return found;
}

/** Recordings are read with the worker's access to the whole store, so a job may only name its own tenant's. */
function assertTenantKey(key: string, tenantPrefix: string, name: string): void {
  assertValidKey(key);
  if (!key.startsWith(tenantPrefix)) {
    throw new PermanentError(
      ErrorCodes.invalidKey,
      `${name}: ${key} is not under this job's storage (${tenantPrefix})`,
    );
  }
}

function timestamp(value: string | number, name: string): number {
  const ms = parseTimestamp(value);
  if (ms === undefined) {
    throw new PermanentError(
      ErrorCodes.invalidParams,
      `${name}: "${value}" is not a timestamp (ISO 8601 with a zone, e.g. 2026-11-22T18:00:00Z, or epoch milliseconds)`,
    );
  }
  return ms;
}

/**
 * An uncovered window: too old to ever be covered fails now; a recent one is looked at again every
 * `pollEvery` until `waitFor` has passed. The engine keeps the earliest deadline any attempt gave, so
 * `waitFor` counts from the first attempt, not from each one.
 */
function notCoveredYet(window: TimeWindow, gaps: readonly TimeWindow[], params: ClipParams): Error {
  const now = Date.now();
  const missing = gaps
    .map((g) => `${new Date(g.start).toISOString()}–${new Date(g.end).toISOString()}`)
    .join(", ");
  if (uncoveredDecision(window, { now, maxAgeMs: params.maxAge }) === "out_of_range") {
    return new PermanentError(
      ErrorCodes.outOfRange,
      `no recordings cover ${missing}, and the window ended more than ${formatNumber(params.maxAge / 1000)} s ago`,
      { details: { gaps: gaps.map((g) => ({ start: g.start, end: g.end })) } },
    );
  }
  return new RetryLaterError({
    delayMs: Math.max(1, params.pollEvery),
    deadline: now + params.waitFor,
    code: ErrorCodes.notAvailable,
    message: `waiting for recordings of ${missing}`,
  });
}

function piece(source: ProbedSource, trim: Trim): ConcatPiece {
  // A recording may be a little shorter than its name says; never ask for more than it has.
  const length = source.info.duration ?? trim.to;
  const to = Math.min(trim.to, length);
  return {
    path: source.path,
    container: source.info.container,
    hasAudio: source.info.audio !== undefined,
    from: trim.from,
    seconds: Math.max(0, to - trim.from),
  };
}

/** copy or reencode, per `accurate`: auto copies only when the formats match and every cut is on a keyframe. */
async function decideMethod(
  ctx: StepContext<unknown>,
  params: ClipParams,
  cut: Cut,
): Promise<"copy" | "reencode"> {
  if (params.accurate === "reencode") return "reencode";
  const sameFormat = canJoinByCopy(cut.sources.map((s) => s.info));
  if (params.accurate === "copy") {
    if (!sameFormat) {
      throw new PermanentError(
        ErrorCodes.invalidParams,
        "accurate: copy needs recordings of one codec, size and frame rate; use auto or reencode",
      );
    }
    return "copy";
  }
  if (!sameFormat) return "reencode";
  for (const [i, source] of cut.sources.entries()) {
    const p = cut.pieces[i];
    if (p === undefined) continue;
    const length = source.info.duration ?? 0;
    const from = p.from ?? 0;
    const to = from + p.seconds;
    const cuts = [from > KEYFRAME_TOLERANCE_SECONDS ? from : undefined, to < length - 0.05 ? to : undefined];
    for (const t of cuts) {
      if (t !== undefined && !(await keyframeAt(ctx, source, t))) return "reencode";
    }
  }
  return "copy";
}

/**
 * Whether a video keyframe sits at `t` seconds: ffprobe seeks there (to the keyframe at or before it)
 * and lists the video packets up to just past it, which reads a few packets, not the whole file.
 */
async function keyframeAt(ctx: StepContext<unknown>, source: ProbedSource, t: number): Promise<boolean> {
  const tools = await mediaTools();
  const listing = z.object({
    packets: z.array(z.object({ pts_time: z.string().optional(), flags: z.string().optional() })).default([]),
  });
  const startTime = await formatStartTime(ctx, source);
  const at = t + startTime;
  const { stdout } = await runTool({
    command: tools.ffprobe,
    name: "ffprobe",
    args: ffprobeArgs(
      source.path,
      [
        ["-select_streams", "v:0", "-read_intervals", `${formatNumber(at)}%${formatNumber(at + 0.1)}`],
        ["-show_entries", "packet=pts_time,flags", "-of", "json"],
      ].flat(),
    ),
    signal: ctx.signal,
    timeoutMs: 30_000,
  });
  const keyframes = listing
    .parse(JSON.parse(stdout))
    .packets.filter((p) => p.flags?.startsWith("K") === true && p.pts_time !== undefined)
    .map((p) => Number(p.pts_time));
  return isOnKeyframe(at, keyframes, KEYFRAME_TOLERANCE_SECONDS);
}

/** ffmpeg's -ss counts from the file's start time, ffprobe's packet times do not. */
async function formatStartTime(ctx: StepContext<unknown>, source: ProbedSource): Promise<number> {
  const tools = await mediaTools();
  const { stdout } = await runTool({
    command: tools.ffprobe,
    name: "ffprobe",
    args: ffprobeArgs(source.path, ["-show_entries", "format=start_time", "-of", "json"]),
    signal: ctx.signal,
    timeoutMs: 30_000,
  });
  const parsed = z
    .object({ format: z.object({ start_time: z.string().optional() }).optional() })
    .parse(JSON.parse(stdout));
  const value = Number(parsed.format?.start_time ?? 0);
  return Number.isFinite(value) ? value : 0;
}

/**
 * JPEG thumbnails of the clip's middle frame, one per width, in one ffmpeg run. A width above the
 * clip's is capped at the clip's (enlarging adds bytes, not detail); meta says so with `capped`.
 */
async function thumbnails(
  ctx: StepContext<unknown>,
  clipPath: string,
  clip: MediaInfo,
  widths: readonly number[],
  stallMs: number,
): Promise<StepOutput[]> {
  const source = { width: clip.video?.width ?? 2, height: clip.video?.height ?? 2 };
  const unique = [...new Set(widths)];
  const sizes = unique.map((width) => ({ requested: width, ...outputDimensions(source, { width }, false) }));
  const middle = (clip.duration ?? 0) / 2;
  const split = sizes.map((_, i) => `[t${i}]`).join("");
  const scales = sizes.map((s, i) => `[t${i}]scale=${s.width}:${s.height},setsar=1[o${i}]`);
  const graph = [`[0:v:0]split=${sizes.length}${split}`, ...scales].join(";");
  const outputArgs = sizes.flatMap((s, i) => [
    "-map",
    `[o${i}]`,
    "-frames:v",
    "1",
    // 2–5 is ffmpeg's visually good JPEG range; 3 keeps thumbnails small.
    "-q:v",
    "3",
    "-f",
    "image2",
    "-update",
    "1",
    "-y",
    join(ctx.workDir, `thumb-${s.requested}.jpg`),
  ]);
  await runFfmpegInStep(ctx, {
    args: [
      ...safeInputArgs(clipPath, { format: clip.container, inputOptions: ["-ss", formatNumber(middle)] }),
      "-filter_complex",
      graph,
      ...outputArgs,
    ],
    durationSeconds: undefined,
    stallMs,
    progressRange: [0.9, 1],
  });
  const outputs: StepOutput[] = [];
  for (const s of sizes) {
    const meta: JsonObject = {
      width: s.width,
      height: s.height,
      requestedWidth: s.requested,
      capped: s.width < s.requested,
      at: middle,
    };
    outputs.push(
      await ctx.saveOutput(`thumb-${s.requested}.jpg`, join(ctx.workDir, `thumb-${s.requested}.jpg`), {
        contentType: "image/jpeg",
        meta,
      }),
    );
  }
  return outputs;
}
