import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import sharp from "sharp";
import { z } from "zod";
import { ErrorCodes, PermanentError } from "../../errors/errors.js";
import { type Dimensions, outputDimensions } from "../../media/encode-args.js";
import { safeInputArgs } from "../../media/ffmpeg-args.js";
import { ffmpegStepParams, type ProbedSource, probeSource, runFfmpegInStep } from "../media-step-kit.js";
import { fromParam, sourceFile } from "../step-input.js";
import { defineStep, type StepContext, type StepOutput } from "../step-type.js";
import { evenlySpacedTimes, storyboardFilter, storyboardLayout, storyboardVtt } from "./storyboard.js";

const MAX_FRAMES = 100;

/**
 * Inputs per ffmpeg run. Each `-ss` input keeps a demuxer and a decoder open, so a run over all 100
 * frames would hold 100 decoders; eight keeps memory small while saving most process start-ups.
 */
const FRAMES_PER_RUN = 8;

const sizeParam = z.union([
  z.number().int().positive().max(7680),
  z.strictObject({
    width: z.number().int().positive().max(7680),
    height: z.number().int().positive().max(4320).optional(),
  }),
]);

const thumbnailsParams = z
  .strictObject({
    from: fromParam,
    count: z
      .number()
      .int()
      .positive()
      .max(MAX_FRAMES)
      .optional()
      .meta({ description: "frames evenly spaced over the video (default 5); not with `times`" }),
    times: z
      .array(z.number().nonnegative())
      .min(1)
      .max(MAX_FRAMES)
      .optional()
      .meta({ description: "seconds to take frames at; not with `count`" }),
    sizes: z
      .array(sizeParam)
      .min(1)
      .max(8)
      .prefault([320])
      .meta({ description: "widths, or {width, height} boxes to fit in; aspect ratio kept, never enlarged" }),
    format: z.enum(["jpeg", "webp"]).prefault("jpeg"),
    quality: z.number().int().min(1).max(100).prefault(80),
    storyboard: z
      .strictObject({
        interval: z.number().positive().prefault(2).meta({ description: "seconds between tiles" }),
        width: z.number().int().min(16).max(640).prefault(160).meta({ description: "tile width" }),
        columns: z.number().int().positive().max(50).prefault(10),
      })
      .optional()
      .meta({ description: "a sprite sheet (sprite.jpg) and storyboard.vtt for seek previews" }),
    ...ffmpegStepParams,
  })
  .refine((p) => p.count === undefined || p.times === undefined, {
    message: "give either count or times, not both",
  });

type ThumbnailsParams = z.infer<typeof thumbnailsParams>;

/**
 * `video.thumbnails`: still frames at chosen or evenly spaced times, in several sizes, and optionally a
 * storyboard for seek previews.
 */
export const thumbnailsStep = defineStep({
  type: "video.thumbnails",
  description:
    "Still frames from a video at evenly spaced times (count) or given times, each in several widths, as " +
    "JPEG or WebP; optionally a storyboard: one sprite sheet and a WebVTT file of sprite.jpg#xywh cues.",
  params: thumbnailsParams,
  defaultTimeoutMs: 10 * 60_000,
  async run(ctx) {
    const source = await probeSource(ctx, sourceFile(ctx, ctx.params.from));
    const video = source.info.video;
    if (video === undefined || source.info.kind !== "video") {
      throw new PermanentError(ErrorCodes.unsupportedMedia, "video.thumbnails needs a video");
    }
    const duration = source.info.duration;
    const times = frameTimes(ctx.params, duration, video.frameRate);
    const frameShare = ctx.params.storyboard === undefined ? 0.9 : 0.5;
    const frames = await extractFrames(ctx, source, times, [0, frameShare]);

    const outputs: StepOutput[] = [];
    const displayed = { width: video.width, height: video.height };
    for (const [index, frame] of frames.entries()) {
      for (const target of ctx.params.sizes) {
        const size = outputDimensions(
          displayed,
          typeof target === "number" ? { width: target } : target,
          false,
        );
        outputs.push(await saveThumbnail(ctx, frame, { index, time: times[index] ?? 0, size }));
      }
      ctx.heartbeat();
    }
    if (ctx.params.storyboard !== undefined) {
      if (duration === undefined) {
        throw new PermanentError(
          ErrorCodes.unsupportedMedia,
          "a storyboard needs a video whose duration is known",
        );
      }
      outputs.push(...(await makeStoryboard(ctx, source, displayed, duration, [frameShare, 0.95])));
    }
    ctx.progress(1);
    return { outputs, data: { times } };
  },
});

/**
 * The times to take frames at. A time at or past the last frame would give ffmpeg nothing to decode, so
 * times in the last frame are pulled back onto it, and times past the end are refused.
 */
function frameTimes(
  params: ThumbnailsParams,
  duration: number | undefined,
  fps: number | undefined,
): number[] {
  if (params.times === undefined && duration === undefined) {
    throw new PermanentError(
      ErrorCodes.unsupportedMedia,
      "the video's duration is unknown, so frames cannot be spread over it: give times",
    );
  }
  const times = params.times ?? evenlySpacedTimes(duration ?? 0, params.count ?? 5);
  if (duration === undefined) return times;
  const lastFrame = Math.max(0, duration - 1 / (fps ?? 25));
  return times.map((t) => {
    if (t > duration) {
      throw new PermanentError(
        ErrorCodes.outOfRange,
        `time ${t} s is past the end of the video (${duration} s)`,
      );
    }
    return Math.min(t, lastFrame);
  });
}

/**
 * One PNG per time, at the displayed size (ffmpeg applies rotation). `-ss` before each `-i` seeks by the
 * container's index to the keyframe before the time and decodes only from there, so a frame near the end
 * of a long video costs as much as one near the start; a single input with a `select` filter would
 * decode the whole video instead. Several `-ss` inputs share one ffmpeg run (see FRAMES_PER_RUN).
 */
async function extractFrames(
  ctx: StepContext<ThumbnailsParams>,
  source: ProbedSource,
  times: readonly number[],
  range: [number, number],
): Promise<string[]> {
  const paths = times.map((_, i) => join(ctx.workDir, `frame-${i}.png`));
  const runs = Math.ceil(times.length / FRAMES_PER_RUN);
  for (let run = 0; run < runs; run++) {
    const batch = times.slice(run * FRAMES_PER_RUN, (run + 1) * FRAMES_PER_RUN);
    const args: string[] = [];
    for (const time of batch) {
      args.push(
        ...safeInputArgs(source.path, { format: source.info.container, inputOptions: ["-ss", String(time)] }),
      );
    }
    batch.forEach((_, i) => {
      const path = paths[run * FRAMES_PER_RUN + i] ?? "";
      args.push(
        "-map",
        `${i}:v:0`,
        "-frames:v",
        "1",
        "-f",
        "image2",
        "-update",
        "1",
        "-c:v",
        "png",
        "-y",
        path,
      );
    });
    const step = (range[1] - range[0]) / runs;
    await runFfmpegInStep(ctx, {
      args,
      durationSeconds: undefined,
      stallMs: ctx.params.stallTimeout,
      progressRange: [range[0] + run * step, range[0] + (run + 1) * step],
    });
    ctx.progress(range[0] + (run + 1) * step);
  }
  return paths;
}

async function saveThumbnail(
  ctx: StepContext<ThumbnailsParams>,
  frame: string,
  { index, time, size }: { index: number; time: number; size: Dimensions },
): Promise<StepOutput> {
  const { format, quality } = ctx.params;
  const extension = format === "jpeg" ? "jpg" : "webp";
  // `<step>-<frame>-<width>x<height>`, as image.resize names its outputs after the step.
  const name = `${ctx.step.name}-${String(index + 1).padStart(3, "0")}-${size.width}x${size.height}.${extension}`;
  const path = join(ctx.workDir, name);
  const resized = sharp(frame).resize(size.width, size.height, { fit: "fill" });
  await (format === "jpeg" ? resized.jpeg({ quality, mozjpeg: false }) : resized.webp({ quality })).toFile(
    path,
  );
  return ctx.saveOutput(name, path, {
    meta: { width: size.width, height: size.height, time, index },
  });
}

/**
 * The sprite sheet and its WebVTT. ffmpeg's `fps` filter takes one frame per interval (this decodes the
 * whole video, which a storyboard needs anyway) and `tile` lays them out; the VTT is computed from the
 * same layout, so its boxes match the sheet.
 */
async function makeStoryboard(
  ctx: StepContext<ThumbnailsParams>,
  source: ProbedSource,
  displayed: Dimensions,
  duration: number,
  range: [number, number],
): Promise<StepOutput[]> {
  const options = ctx.params.storyboard;
  if (options === undefined) return [];
  const layout = storyboardLayout({
    duration,
    interval: options.interval,
    source: displayed,
    tileWidth: options.width,
    columns: options.columns,
  });
  const sprite = join(ctx.workDir, "sprite.jpg");
  await runFfmpegInStep(ctx, {
    args: [
      ...safeInputArgs(source.path, { format: source.info.container }),
      "-map",
      "0:v:0",
      "-vf",
      storyboardFilter(layout, options.interval),
      "-frames:v",
      "1",
      "-q:v",
      "4",
      "-f",
      "image2",
      "-update",
      "1",
      "-y",
      sprite,
    ],
    durationSeconds: duration,
    stallMs: ctx.params.stallTimeout,
    progressRange: range,
  });
  const vtt = join(ctx.workDir, "storyboard.vtt");
  await writeFile(vtt, storyboardVtt(layout, "sprite.jpg"));
  const { sheet, tile, columns, rows } = layout;
  return [
    await ctx.saveOutput("sprite.jpg", sprite, {
      meta: {
        width: sheet.width,
        height: sheet.height,
        tileWidth: tile.width,
        tileHeight: tile.height,
        columns,
        rows,
        tiles: layout.tiles.length,
        interval: options.interval,
      },
    }),
    await ctx.saveOutput("storyboard.vtt", vtt, { meta: { cues: layout.tiles.length } }),
  ];
}
