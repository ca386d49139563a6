import { stat } from "node:fs/promises";
import sharp from "sharp";
import { z } from "zod";
import { ErrorCodes, PermanentError } from "../../errors/errors.js";
import type { MediaInfo } from "../../media/probe.js";
import { sniffImageFormat } from "../../media/sniff.js";
import type { JsonObject } from "../../util/json.js";
import { checkImageLimits } from "../input-limits.js";
import { probeSource } from "../media-step-kit.js";
import { fromParam, sourceFile } from "../step-input.js";
import { defineStep, type StepContext } from "../step-type.js";

/**
 * `media.probe`: what a file is, as data later steps and clients read (a ladder skips rungs above the
 * source's height; a client shows the duration). Sizes are as displayed: after rotation metadata for
 * video, after EXIF orientation for images.
 */
export const probeStep = defineStep({
  type: "media.probe",
  description:
    "Describes a video, audio file or image: container, duration, streams, codecs, size as displayed, " +
    "frame rate, bit rates, audio channels; for images format, size and EXIF orientation.",
  params: z.strictObject({ from: fromParam }),
  defaultTimeoutMs: 60_000,
  async run(ctx) {
    const source = sourceFile(ctx, ctx.params.from);
    const path = await ctx.localFile(source.key);
    const imageFormat = await sniffImageFormat(path);
    if (imageFormat !== undefined) {
      checkImageLimits(source, path, ctx.job.limits);
      return { data: await imageFacts(ctx, path) };
    }
    const probed = await probeSource(ctx, source);
    return { data: probeData(probed.info) };
  },
});

/** MediaInfo as plain JSON: undefined fields dropped, so the event log stores only what is known. */
function probeData(info: MediaInfo): JsonObject {
  const data: JsonObject = {
    kind: info.kind,
    container: info.container,
    bytes: info.bytes,
    streams: info.streams,
  };
  if (info.duration !== undefined) data.duration = info.duration;
  if (info.bitRate !== undefined) data.bitRate = info.bitRate;
  if (info.video !== undefined) {
    const { codec, width, height, rotation, frameRate, pixelFormat, bitRate } = info.video;
    data.width = width;
    data.height = height;
    data.video = withoutUndefined({ codec, width, height, rotation, frameRate, pixelFormat, bitRate });
  }
  if (info.audio !== undefined) data.audio = withoutUndefined({ ...info.audio });
  return data;
}

/**
 * ffprobe does not read EXIF, so a phone photo's orientation comes from sharp (header only: it does not
 * decode the picture). Orientations 5–8 turn the picture a quarter, so the displayed sides swap.
 */
async function imageFacts(ctx: StepContext<unknown>, path: string): Promise<JsonObject> {
  ctx.heartbeat();
  let meta: sharp.Metadata;
  try {
    meta = await sharp(path, { limitInputPixels: false }).metadata();
  } catch (error) {
    throw new PermanentError(
      ErrorCodes.corruptMedia,
      "the file starts like an image but cannot be read as one",
      {
        cause: error,
      },
    );
  }
  const orientation = meta.orientation ?? 1;
  const stored = { width: meta.width ?? 0, height: meta.height ?? 0 };
  const quarterTurn = orientation >= 5 && orientation <= 8;
  const facts: JsonObject = {
    kind: "image",
    bytes: meta.size ?? (await stat(path)).size,
    format: meta.format ?? "unknown",
    orientation,
    width: quarterTurn ? stored.height : stored.width,
    height: quarterTurn ? stored.width : stored.height,
  };
  if (meta.hasAlpha !== undefined) facts.hasAlpha = meta.hasAlpha;
  return facts;
}

function withoutUndefined(values: Record<string, string | number | undefined>): JsonObject {
  const result: JsonObject = {};
  for (const [key, value] of Object.entries(values)) if (value !== undefined) result[key] = value;
  return result;
}
