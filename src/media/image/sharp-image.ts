import sharp, { type Metadata, type Sharp } from "sharp";
import { ErrorCodes, MediaflowError, PermanentError } from "../../errors/errors.js";

/**
 * sharp (libvips) opened the one safe way: a pixel limit, decoding that fails on real errors rather than
 * guessing at broken pixels, and sequential reads so a large file streams through instead of sitting in
 * memory. Every image step goes through here, so these limits cannot be forgotten by one of them.
 */

/** 100 megapixels: a 40 MP camera photo fits with room to spare; a decompression bomb does not. */
export const defaultMaxPixels = 100_000_000;

/** What the header says, read before any pixel is decoded. */
export interface ImageHeader {
  format: string;
  /** Sides as stored in the file. */
  width: number;
  height: number;
  /** Sides as displayed, after EXIF orientation (5–8 turn the picture a quarter). */
  displayWidth: number;
  displayHeight: number;
  orientation: number;
  hasAlpha: boolean;
  /** The codec inside a HEIF container (`av1` for AVIF), when there is one. */
  compression: string | undefined;
}

/**
 * Reads only the header: cheap even for a huge file, so a PNG that claims 30000x30000 is refused before
 * libvips allocates anything for it. Anything sharp cannot read becomes a PermanentError for people.
 */
export async function readImageHeader(
  path: string,
  options: { maxPixels: number; filename: string },
): Promise<ImageHeader> {
  let meta: Metadata;
  try {
    // The limit is checked below, with the real size in the message, so the header read itself has none.
    meta = await sharp(path, { limitInputPixels: false, failOn: "error" }).metadata();
  } catch (error) {
    throw imageError(error, options.filename, options.maxPixels);
  }
  const width = meta.width ?? 0;
  const height = meta.height ?? 0;
  if (meta.format === undefined || width <= 0 || height <= 0) {
    throw new PermanentError(
      ErrorCodes.unsupportedMedia,
      `${options.filename} is not an image sharp can read (no format or size in its header)`,
    );
  }
  if (width * height > options.maxPixels) {
    throw new PermanentError(
      ErrorCodes.inputTooLarge,
      `${options.filename}: the image is ${width}x${height}, above the ${megapixels(options.maxPixels)} limit`,
      { details: { width, height, maxPixels: options.maxPixels } },
    );
  }
  const orientation = meta.orientation ?? 1;
  const quarterTurn = orientation >= 5 && orientation <= 8;
  return {
    format: meta.format,
    width,
    height,
    displayWidth: quarterTurn ? height : width,
    displayHeight: quarterTurn ? width : height,
    orientation,
    hasAlpha: meta.hasAlpha ?? false,
    compression: meta.compression,
  };
}

/**
 * A sharp pipeline on a file, upright (EXIF orientation applied, so later rotations and flips act on the
 * picture as people see it). libvips reads the header before any pixel and refuses there a file it cannot
 * read or one above `maxPixels`: a decompression bomb costs no memory. Output carries no metadata: sharp
 * strips EXIF, XMP and ICC by default and converts colour to sRGB, which is what browsers assume.
 * libvips cannot be interrupted mid-operation: steps check their signal between operations, and the
 * attempt's timeout bounds one operation, which the pixel limit keeps to seconds.
 */
export function openImage(path: string, maxPixels: number): Sharp {
  return sharp(path, { limitInputPixels: maxPixels, failOn: "error", sequentialRead: true }).autoOrient();
}

/**
 * Runs a sharp operation on `source` and turns its errors into the project's, with the file's name for
 * people. When it fails, the header is read to say why: not an image, or above the pixel limit with its
 * real size. Only then: when the operation works, its own header check (see `openImage`) was enough.
 */
export async function withImageErrors<T>(
  source: { path: string; filename: string },
  maxPixels: number,
  operation: () => Promise<T>,
): Promise<T> {
  try {
    return await operation();
  } catch (error) {
    if (error instanceof MediaflowError) throw error;
    await readImageHeader(source.path, { maxPixels, filename: source.filename });
    throw imageError(error, source.filename, maxPixels);
  }
}

/**
 * sharp throws plain Errors whose message is the only clue. The known shapes of bad input become
 * PermanentErrors (retrying the same bytes cannot help); anything else stays retryable, since it may be
 * the machine (out of memory, disk full) rather than the file.
 */
export function imageError(error: unknown, filename: string, maxPixels: number): MediaflowError {
  if (error instanceof MediaflowError) return error;
  const message = error instanceof Error ? error.message : String(error);
  if (/unsupported image format/i.test(message)) {
    return new PermanentError(
      ErrorCodes.unsupportedMedia,
      `${filename} is not an image sharp can read (${message})`,
      { cause: error },
    );
  }
  if (/exceeds pixel limit/i.test(message)) {
    return new PermanentError(
      ErrorCodes.inputTooLarge,
      `${filename} is above the ${megapixels(maxPixels)} limit (${message})`,
      { cause: error },
    );
  }
  // libvips names the loader that gave up (`pngload: end of stream`, `VipsJpeg: premature end of JPEG
  // image`): by then the header was readable, so the file is a known format with damaged data.
  if (/corrupt|premature end|truncated|read error|invalid|bad |not a |load|vipsjpeg/i.test(message)) {
    return new PermanentError(ErrorCodes.corruptMedia, `${filename} is a damaged image (${message})`, {
      cause: error,
    });
  }
  return new MediaflowError(ErrorCodes.internal, `processing ${filename} failed: ${message}`, {
    cause: error,
  });
}

function megapixels(pixels: number): string {
  return `${Math.round((pixels / 1_000_000) * 10) / 10} megapixel`;
}
