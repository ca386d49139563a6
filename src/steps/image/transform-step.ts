import { z } from "zod";
import {
  encodeAs,
  imageContentTypes,
  imageExtensions,
  sameFormatAs,
} from "../../media/image/image-formats.js";
import { openImage, readImageHeader, withImageErrors } from "../../media/image/sharp-image.js";
import { fromParam } from "../step-input.js";
import { defineStep } from "../step-type.js";
import { formatParam, maxPixelsParam, qualityParam } from "./image-params.js";
import { openImageSource } from "./image-source.js";

/**
 * `image.transform`: quarter turns and mirrors, on the picture as displayed (EXIF orientation is applied
 * first, so `rotate: 90` turns what people see, not the sensor's raw layout).
 */
export const transformStep = defineStep({
  type: "image.transform",
  description:
    "Rotates an image by quarter turns and mirrors it, upright from its EXIF orientation, metadata " +
    "stripped; written in the input's format (or JPEG) unless `format` says otherwise.",
  params: z.strictObject({
    from: fromParam,
    rotate: z
      .union([z.literal(0), z.literal(90), z.literal(180), z.literal(270)])
      .prefault(0)
      .meta({ description: "clockwise rotation in degrees: 0, 90, 180 or 270" }),
    flip: z.boolean().prefault(false).meta({ description: "mirror top to bottom (vertical flip)" }),
    flop: z.boolean().prefault(false).meta({ description: "mirror left to right (horizontal flip)" }),
    format: formatParam.optional().meta({
      description: "the output format: jpeg, png, webp or avif; default the input's when it is one of them",
    }),
    quality: qualityParam,
    maxPixels: maxPixelsParam,
  }),
  defaultTimeoutMs: 120_000,
  async run(ctx) {
    const { params } = ctx;
    const source = await openImageSource(ctx, params.from);
    const format =
      params.format ??
      sameFormatAs(
        await readImageHeader(source.path, { maxPixels: params.maxPixels, filename: source.filename }),
      );
    const name = `${ctx.step.name}.${imageExtensions[format]}`;
    const path = ctx.tempFile(name);
    let image = openImage(source.path, params.maxPixels).rotate(params.rotate);
    if (params.flip) image = image.flip();
    if (params.flop) image = image.flop();
    // JPEG has no alpha: without flattening, transparent parts of a PNG would come out black.
    if (format === "jpeg") image = image.flatten({ background: "white" });
    const info = await withImageErrors(source, params.maxPixels, () =>
      encodeAs(image, format, params.quality).toFile(path),
    );
    const output = await ctx.saveOutput(name, path, {
      contentType: imageContentTypes[format],
      meta: { width: info.width, height: info.height, format },
      move: true,
    });
    ctx.progress(1);
    return { outputs: [output] };
  },
});
