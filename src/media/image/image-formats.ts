import type { Sharp } from "sharp";
import type { ImageHeader } from "./sharp-image.js";

/** The formats image steps write: what browsers show, plus PNG for lossless. */
export const imageOutputFormats = ["jpeg", "png", "webp", "avif"] as const;
export type ImageOutputFormat = (typeof imageOutputFormats)[number];

export const imageExtensions: Readonly<Record<ImageOutputFormat, string>> = {
  jpeg: "jpg",
  png: "png",
  webp: "webp",
  avif: "avif",
};

export const imageContentTypes: Readonly<Record<ImageOutputFormat, string>> = {
  jpeg: "image/jpeg",
  png: "image/png",
  webp: "image/webp",
  avif: "image/avif",
};

/** Whether the format can keep transparency, and so whether `contain` pads with transparent or white. */
export function formatHasAlpha(format: ImageOutputFormat): boolean {
  return format !== "jpeg";
}

/**
 * Sets the encoder. `quality` (1–100) means what each encoder means by it; for PNG, which is lossless, it
 * only matters with a palette, so PNG is written full-colour and quality is ignored.
 */
export function encodeAs(image: Sharp, format: ImageOutputFormat, quality: number): Sharp {
  switch (format) {
    case "jpeg":
      // mozjpeg's defaults: smaller files at the same quality, and progressive for the web.
      return image.jpeg({ quality, mozjpeg: true });
    case "png":
      return image.png({ compressionLevel: 6 });
    case "webp":
      return image.webp({ quality });
    case "avif":
      // effort 4 of 9: sharp's default; higher efforts cost several times the CPU for a few percent.
      return image.avif({ quality, effort: 4 });
  }
}

/** The input's own format when image steps can write it, else JPEG (for TIFF, GIF, HEIC...). */
export function sameFormatAs(header: ImageHeader): ImageOutputFormat {
  if (header.format === "jpeg" || header.format === "png" || header.format === "webp") return header.format;
  if (header.format === "heif" && header.compression === "av1") return "avif";
  return "jpeg";
}
