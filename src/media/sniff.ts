import { open } from "node:fs/promises";

/** Image formats mediaflow reads with sharp, told apart by their first bytes. */
export type ImageFormat = "jpeg" | "png" | "webp" | "gif" | "tiff" | "avif" | "heif";

/**
 * The image format a file's first bytes announce, or undefined. Sniffing, not the name: ffprobe picks its
 * `image2` sequence reader from a `.jpg` name, and a name is whatever the uploader typed.
 */
export async function sniffImageFormat(path: string): Promise<ImageFormat | undefined> {
  const file = await open(path, "r");
  try {
    const head = Buffer.alloc(32);
    const { bytesRead } = await file.read(head, 0, head.length, 0);
    return imageFormatOf(head.subarray(0, bytesRead));
  } finally {
    await file.close();
  }
}

export function imageFormatOf(head: Buffer): ImageFormat | undefined {
  const ascii = (start: number, end: number): string => head.toString("latin1", start, end);
  if (head.length >= 3 && head[0] === 0xff && head[1] === 0xd8 && head[2] === 0xff) return "jpeg";
  if (ascii(0, 8) === "\x89PNG\r\n\x1a\n") return "png";
  if (ascii(0, 4) === "RIFF" && ascii(8, 12) === "WEBP") return "webp";
  if (ascii(0, 4) === "GIF8") return "gif";
  if (ascii(0, 4) === "II*\0" || ascii(0, 4) === "MM\0*") return "tiff";
  if (ascii(4, 8) === "ftyp") {
    const brand = ascii(8, 12);
    if (brand === "avif" || brand === "avis") return "avif";
    if (["heic", "heix", "mif1", "msf1", "hevc"].includes(brand)) return "heif";
  }
  return undefined;
}
