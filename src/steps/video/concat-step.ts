import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { z } from "zod";
import { ErrorCodes, PermanentError } from "../../errors/errors.js";
import {
  audioCodecArgs,
  audioEncoderFor,
  containerArgs,
  evenFloor,
  fitDimensions,
  PRESETS,
  type Preset,
  VIDEO_CODECS,
  type VideoCodec,
  videoCodecArgs,
  videoEncoderFor,
} from "../../media/encode-args.js";
import { safeInputArgs } from "../../media/ffmpeg-args.js";
import { type MediaInfo, probeMedia } from "../../media/probe.js";
import { ffmpegStepParams, type ProbedSource, probeSource, runFfmpegInStep } from "../media-step-kit.js";
import { mediaTools } from "../media-tools.js";
import { fromOutput, type SourceFile, sourceFile } from "../step-input.js";
import { defineStep, type StepContext } from "../step-type.js";
import {
  type ConcatPiece,
  type ConcatTarget,
  canJoinByCopy,
  concatList,
  concatListInputArgs,
  normalisingConcatArgs,
} from "./concat-args.js";

/** How a re-encoded join is encoded. */
export interface JoinEncoding {
  codec: VideoCodec;
  crf: number | undefined;
  preset: Preset;
  stallMs: number;
}

/**
 * Keyframes every 2 s: short enough for a player to seek in a clip, long enough to cost little. The
 * same interval video.transcode uses, so clips segment like the rest.
 */
const KEYFRAME_INTERVAL_SECONDS = 2;

/** When a file does not say its frame rate: the PAL rate the test sources and most cameras use. */
const FALLBACK_FPS = 25;

/**
 * Joins `pieces` by stream copy: each piece is first remuxed (cut, when `from`/`seconds` ask) into an
 * MP4 of its own in the work folder, then the concat demuxer joins those. Remuxing first means the
 * concat demuxer only ever opens files mediaflow wrote; the untrusted inputs are opened with the safe
 * input options like everywhere else.
 */
export async function joinByCopy(
  ctx: StepContext<unknown>,
  pieces: readonly ConcatPiece[],
  outPath: string,
  stallMs: number,
): Promise<void> {
  const total = pieces.reduce((sum, piece) => sum + piece.seconds, 0);
  const names: string[] = [];
  for (const [i, piece] of pieces.entries()) {
    const name = `piece-${i}.mp4`;
    const seek = piece.from !== undefined && piece.from > 0 ? ["-ss", String(piece.from)] : [];
    await runFfmpegInStep(ctx, {
      args: [
        ...safeInputArgs(piece.path, { format: piece.container, inputOptions: seek }),
        ["-t", String(piece.seconds)],
        // No -avoid_negative_ts make_zero: it shifts the video by the AAC priming (21 ms) on every remux,
        // which the concat demuxer then adds up; the muxer's edit list keeps each piece at its length.
        ["-map", "0:v:0", "-map", "0:a:0?", "-c", "copy"],
        ["-f", "mp4", "-y", join(ctx.workDir, name)],
      ].flat(),
      durationSeconds: piece.seconds,
      stallMs,
      progressRange: [0.8 * (names.length / pieces.length), 0.8 * ((names.length + 1) / pieces.length)],
    });
    names.push(name);
  }
  const listPath = join(ctx.workDir, "pieces.txt");
  await writeFile(listPath, concatList(names));
  await runFfmpegInStep(ctx, {
    args: [
      ...concatListInputArgs(listPath),
      "-map",
      "0",
      "-c",
      "copy",
      ...containerArgs("mp4"),
      "-y",
      outPath,
    ],
    durationSeconds: total,
    stallMs,
    progressRange: [0.8, 0.9],
  });
}

/** Joins `pieces` with the concat filter, each normalised to `target`, into an H.264/AAC MP4. */
export async function joinByReencode(
  ctx: StepContext<unknown>,
  pieces: readonly ConcatPiece[],
  target: ConcatTarget,
  encoding: JoinEncoding,
  outPath: string,
): Promise<void> {
  const tools = await mediaTools();
  const encoder = videoEncoderFor(tools, encoding.codec);
  const video = videoCodecArgs({
    codec: encoding.codec,
    encoder,
    preset: encoding.preset,
    crf: encoding.crf,
    fps: target.fps,
    keyframeInterval: KEYFRAME_INTERVAL_SECONDS,
  });
  const audio = audioCodecArgs({ codec: "aac", encoder: audioEncoderFor(tools, "aac") });
  await runFfmpegInStep(ctx, {
    args: [
      ...normalisingConcatArgs(pieces, target),
      ...video,
      ...audio,
      ...containerArgs("mp4"),
      "-y",
      outPath,
    ],
    durationSeconds: pieces.reduce((sum, piece) => sum + piece.seconds, 0),
    stallMs: encoding.stallMs,
    progressRange: [0, 0.9],
  });
}

/** The size and rate a re-encoded join takes: the first video's, or the size asked for. */
export function joinTarget(
  infos: readonly MediaInfo[],
  size: { width?: number; height?: number },
): ConcatTarget {
  const first = infos[0]?.video;
  if (first === undefined) {
    throw new PermanentError(ErrorCodes.unsupportedMedia, "nothing to join: the first file has no video");
  }
  // Odd rates (29.97) are kept to 3 decimals; fps= accepts decimals.
  const fps = Math.round((first.frameRate ?? FALLBACK_FPS) * 1000) / 1000;
  if (size.width !== undefined && size.height !== undefined) {
    return { width: evenFloor(size.width), height: evenFloor(size.height), fps };
  }
  const fitted = fitDimensions(first, size);
  return { width: fitted.width, height: fitted.height, fps };
}

/** A probed file as a whole-file piece of a join. */
export function wholePiece(source: ProbedSource): ConcatPiece {
  return {
    path: source.path,
    container: source.info.container,
    hasAudio: source.info.audio !== undefined,
    seconds: source.info.duration ?? 0,
  };
}

/** Refuses a file that is not a video with a known length: a join needs both. */
export function assertJoinable(source: ProbedSource, stepType: string): void {
  if (source.info.kind !== "video" || source.info.video === undefined) {
    throw new PermanentError(
      ErrorCodes.unsupportedMedia,
      `${stepType} joins videos, and ${source.filename} is not one`,
      {
        details: { kind: source.info.kind },
      },
    );
  }
  if (source.info.duration === undefined) {
    throw new PermanentError(ErrorCodes.unsupportedMedia, `${source.filename} does not say how long it is`);
  }
}

const side = z.int().min(16).max(8192);

export const concatStep = defineStep({
  type: "video.concat",
  description:
    "Joins videos in order: by stream copy when all have one codec, size and frame rate, else each is " +
    "scaled (letterboxed) to one size and frame rate, given silence when it has no audio, and re-encoded " +
    "to H.264/AAC in one ffmpeg run. Output `video.mp4`.",
  params: z.strictObject({
    from: z
      .array(z.string().regex(/^[a-zA-Z0-9_-]+(\/.+)?$/, "a step name, optionally followed by /output-name"))
      .min(1)
      .optional()
      .meta({
        description:
          "The files to join, in order: `input` for the job's input, `step` or `step/output-name`. Default: " +
          "the first output of each step this one needs, in the order `needs` lists them.",
      }),
    width: side
      .optional()
      .meta({ description: "Output width when re-encoding (default: the first video's)." }),
    height: side
      .optional()
      .meta({ description: "Output height when re-encoding (default: the first video's)." }),
    reencode: z.boolean().prefault(false).meta({ description: "Re-encode even when stream copy would do." }),
    codec: z.enum(VIDEO_CODECS).prefault("h264").meta({ description: "Video codec when re-encoding." }),
    crf: z.int().min(0).max(63).optional().meta({ description: "Constant quality when re-encoding." }),
    preset: z.enum(PRESETS).prefault("veryfast").meta({ description: "Encoder speed when re-encoding." }),
    ...ffmpegStepParams,
  }),
  defaultTimeoutMs: 30 * 60_000,
  async run(ctx) {
    const { params } = ctx;
    const files = concatInputs(ctx, params.from);
    const sources: ProbedSource[] = [];
    for (const file of files) {
      const source = await probeSource(ctx, file);
      assertJoinable(source, ctx.step.type);
      sources.push(source);
    }
    const infos = sources.map((s) => s.info);
    const sizeGiven = params.width !== undefined || params.height !== undefined;
    const copy = !params.reencode && !sizeGiven && canJoinByCopy(infos);
    const outPath = join(ctx.workDir, "video.mp4");
    const pieces = sources.map(wholePiece);
    if (copy) {
      await joinByCopy(ctx, pieces, outPath, params.stallTimeout);
    } else {
      const target = joinTarget(infos, { width: params.width, height: params.height });
      const encoding = {
        codec: params.codec,
        crf: params.crf,
        preset: params.preset,
        stallMs: params.stallTimeout,
      };
      await joinByReencode(ctx, pieces, target, encoding, outPath);
    }
    const made = await probeLocal(ctx, outPath);
    const output = await ctx.saveOutput("video.mp4", outPath, {
      move: true,
      contentType: "video/mp4",
      meta: {
        duration: made.duration ?? 0,
        width: made.video?.width ?? 0,
        height: made.video?.height ?? 0,
        inputs: sources.length,
        method: copy ? "copy" : "reencode",
      },
    });
    return { outputs: [output] };
  },
});

/** The files `from` names, or the first output of each step this one needs. */
function concatInputs(ctx: StepContext<unknown>, from: readonly string[] | undefined): SourceFile[] {
  if (from !== undefined) return from.map((name) => sourceFile(ctx, name === "input" ? undefined : name));
  const files: SourceFile[] = [];
  for (const [name, parent] of Object.entries(ctx.needs)) {
    const first = parent.outputs[0];
    if (first === undefined) {
      throw new PermanentError(
        ErrorCodes.invalidParams,
        `step ${name} made no file for ${ctx.step.name} to join`,
      );
    }
    files.push(fromOutput(first));
  }
  if (files.length === 0) {
    throw new PermanentError(
      ErrorCodes.invalidParams,
      `${ctx.step.name} has nothing to join: give \`from\` or steps in \`needs\``,
    );
  }
  return files;
}

/** Probes a file this step wrote in its work folder. */
export async function probeLocal(ctx: StepContext<unknown>, path: string): Promise<MediaInfo> {
  return probeMedia(await mediaTools(), path, { signal: ctx.signal });
}
