import { z } from "zod";
import { ErrorCodes, PermanentError } from "../../errors/errors.js";
import {
  encodeAs,
  formatHasAlpha,
  type ImageOutputFormat,
  imageContentTypes,
  imageExtensions,
} from "../../media/image/image-formats.js";
import { openImage, withImageErrors } from "../../media/image/sharp-image.js";
import { fromParam } from "../step-input.js";
import { defineStep, type StepOutput } from "../step-type.js";
import { colourParam, formatParam, maxPixelsParam, qualityParam, sharpColour } from "./image-params.js";
import { openImageSource } from "./image-source.js";

/** 16384: the largest side WebP can encode, and far beyond any thumbnail or web picture. */
const maxSide = 16_384;
const sideParam = z.number().int().min(1).max(maxSide);

const sizeSchema = z
  .strictObject({
    width: sideParam.optional().meta({ description: "width in pixels; omit to follow the height" }),
    height: sideParam.optional().meta({ description: "height in pixels; omit to follow the width" }),
    fit: z
      .enum(["cover", "contain", "inside"])
      .prefault("inside")
      .meta({
        description:
          "cover: fill the box exactly, cropping the overflow (centred); contain: fit inside and pad to the " +
          "box with `background`; inside: fit inside, no padding (the output may be smaller than the box)",
      }),
    name: z
      .string()
      .regex(/^[a-zA-Z0-9][a-zA-Z0-9._-]{0,99}$/, "letters, digits, '.', '_' and '-'")
      .optional()
      .meta({ description: "the output's name; the format's extension is added unless it ends with it" }),
  })
  .refine((size) => size.width !== undefined || size.height !== undefined, {
    message: "give a width, a height, or both",
  });

export type ImageSize = z.output<typeof sizeSchema>;

/**
 * `image.resize`: one or several sizes of a picture in one step, each decoded from the file again, which
 * libvips makes cheap (JPEG shrink-on-load) and which keeps memory flat for large inputs.
 */
export const resizeStep = defineStep({
  type: "image.resize",
  description:
    "Resizes an image to one or several sizes (cover, contain or inside), upright from its EXIF " +
    "orientation, metadata stripped, written as JPEG, PNG, WebP or AVIF.",
  params: z.strictObject({
    from: fromParam,
    sizes: z
      .union([sizeSchema, z.array(sizeSchema).min(1).max(20)])
      .transform((sizes) => (Array.isArray(sizes) ? sizes : [sizes]))
      .meta({ description: "one size, or a list of up to 20 sizes, each written as its own output" }),
    format: formatParam.prefault("jpeg"),
    quality: qualityParam,
    background: colourParam.optional().meta({
      description: "padding colour for fit: contain; default white for jpeg, transparent for the others",
    }),
    withoutEnlargement: z
      .boolean()
      .prefault(true)
      .meta({ description: "true: never make a picture larger than it is, only smaller" }),
    maxPixels: maxPixelsParam,
  }),
  defaultTimeoutMs: 120_000,
  async run(ctx) {
    const { params } = ctx;
    const names = params.sizes.map((size) => outputName(ctx.step.name, size, params.format));
    const duplicate = names.find((name, index) => names.indexOf(name) !== index);
    if (duplicate !== undefined) {
      throw new PermanentError(ErrorCodes.invalidParams, `two sizes would both be written as ${duplicate}`);
    }
    const source = await openImageSource(ctx, params.from);
    const background = sharpColour(
      params.background ?? (formatHasAlpha(params.format) ? "transparent" : "white"),
    );
    const outputs: StepOutput[] = [];
    for (const [index, size] of params.sizes.entries()) {
      ctx.signal.throwIfAborted();
      const name = names[index] ?? "";
      const path = ctx.tempFile(name);
      const image = openImage(source.path, params.maxPixels)
        .resize({
          width: size.width,
          height: size.height,
          fit: size.fit,
          // Only contain pads; sharp parses a colour it is given whether it uses it or not.
          background: size.fit === "contain" ? background : undefined,
          withoutEnlargement: params.withoutEnlargement,
        })
        // JPEG has no alpha: without flattening, transparent parts of a PNG would come out black.
        .flatten(params.format === "jpeg" ? { background } : false);
      const info = await withImageErrors(source, params.maxPixels, () =>
        encodeAs(image, params.format, params.quality).toFile(path),
      );
      outputs.push(
        await ctx.saveOutput(name, path, {
          contentType: imageContentTypes[params.format],
          meta: { width: info.width, height: info.height, format: params.format },
          move: true,
        }),
      );
      ctx.progress((index + 1) / params.sizes.length);
    }
    return { outputs };
  },
});

/** `thumb-100x100.jpg`, `thumb-640w.jpg`, `thumb-360h.jpg`, or the size's own name. */
export function outputName(stepName: string, size: ImageSize, format: ImageOutputFormat): string {
  const extension = `.${imageExtensions[format]}`;
  if (size.name !== undefined) {
    return size.name.toLowerCase().endsWith(extension) ? size.name : `${size.name}${extension}`;
  }
  const box =
    size.width !== undefined && size.height !== undefined
      ? `${size.width}x${size.height}`
      : size.width !== undefined
        ? `${size.width}w`
        : `${size.height}h`;
  return `${stepName}-${box}${extension}`;
}
