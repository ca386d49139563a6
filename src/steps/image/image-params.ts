import { z } from "zod";
import { imageOutputFormats } from "../../media/image/image-formats.js";
import { defaultMaxPixels } from "../../media/image/sharp-image.js";

/** Parameters every image step shares. */

export const formatParam = z
  .enum(imageOutputFormats)
  .meta({ description: "the output format: jpeg, png, webp or avif" });

export const qualityParam = z
  .number()
  .int()
  .min(1)
  .max(100)
  .prefault(80)
  .meta({ description: "encoder quality, 1–100 (ignored for png, which is lossless)" });

export const maxPixelsParam = z
  .number()
  .int()
  .positive()
  .prefault(defaultMaxPixels)
  .meta({ description: "inputs with more pixels than this (width × height) are refused before decoding" });

/** A CSS-style hex colour, or `transparent`; sharp's own parser would accept more but fail late. */
export const colourParam = z
  .string()
  .regex(/^(#([0-9a-fA-F]{3,4}|[0-9a-fA-F]{6}|[0-9a-fA-F]{8})|transparent|white|black)$/, {
    message: "a hex colour (#rgb, #rrggbb, #rrggbbaa), white, black or transparent",
  });

/** What a colour parameter means to sharp. */
export function sharpColour(colour: string): string | { r: number; g: number; b: number; alpha: number } {
  return colour === "transparent" ? { r: 0, g: 0, b: 0, alpha: 0 } : colour;
}
