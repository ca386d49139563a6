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

/** What a file's first bytes say it is: enough to refuse a web page or a text file before storing it. */
export type MediaKind = "image" | "video" | "audio";

/**
 * Recognises the containers mediaflow reads from their signatures (`head`: the first 512 bytes or all
 * of a shorter file). Undefined for anything else: HTML, text, archives, executables.
 */
export function mediaKindOf(head: Buffer): MediaKind | undefined {
  if (imageFormatOf(head) !== undefined) return "image";
  const ascii = (start: number, end: number): string => head.toString("latin1", start, end);
  const bytes = (start: number, ...values: number[]): boolean =>
    values.every((value, index) => head[start + index] === value);
  if (ascii(4, 8) === "ftyp") return ["M4A ", "M4B "].includes(ascii(8, 12)) ? "audio" : "video";
  if (ascii(4, 8) === "moov" || ascii(4, 8) === "mdat" || ascii(4, 8) === "wide") return "video";
  if (bytes(0, 0x1a, 0x45, 0xdf, 0xa3)) return "video"; // Matroska, WebM
  if (bytes(0, 0x06, 0x0e, 0x2b, 0x34)) return "video"; // MXF (SMPTE universal label)
  if (bytes(0, 0x00, 0x00, 0x01, 0xba)) return "video"; // MPEG program stream
  if (bytes(0, 0x30, 0x26, 0xb2, 0x75)) return "video"; // ASF, WMV
  if (ascii(0, 3) === "FLV") return "video";
  if (ascii(0, 4) === "RIFF")
    return ascii(8, 12) === "AVI " ? "video" : ascii(8, 12) === "WAVE" ? "audio" : undefined;
  if (head[0] === 0x47 && (head.length <= 188 || head[188] === 0x47)) return "video"; // MPEG-TS sync bytes
  if (ascii(0, 4) === "OggS") return "video"; // Ogg may hold Theora or only sound; ffprobe tells later
  if (ascii(0, 4) === "FORM" && ["AIFF", "AIFC"].includes(ascii(8, 12))) return "audio";
  if (ascii(0, 4) === "fLaC" || ascii(0, 4) === "caff" || ascii(0, 4) === "wvpk") return "audio";
  if (ascii(0, 3) === "ID3") return "audio";
  // An MPEG audio or ADTS (AAC) frame: 11 (MP3) or 12 (ADTS) set sync bits.
  if (head[0] === 0xff && ((head[1] ?? 0) & 0xe0) === 0xe0) return "audio";
  return undefined;
}
