import { extname } from "node:path";

const byExtension: Record<string, string> = {
  ".mp4": "video/mp4",
  ".m4v": "video/mp4",
  ".mov": "video/quicktime",
  ".webm": "video/webm",
  ".mkv": "video/x-matroska",
  ".mxf": "application/mxf",
  ".ts": "video/mp2t",
  ".m4s": "video/iso.segment",
  ".m3u8": "application/vnd.apple.mpegurl",
  ".mpd": "application/dash+xml",
  ".m4a": "audio/mp4",
  ".aac": "audio/aac",
  ".mp3": "audio/mpeg",
  ".opus": "audio/opus",
  ".ogg": "audio/ogg",
  ".wav": "audio/wav",
  ".jpg": "image/jpeg",
  ".jpeg": "image/jpeg",
  ".png": "image/png",
  ".webp": "image/webp",
  ".avif": "image/avif",
  ".gif": "image/gif",
  ".tif": "image/tiff",
  ".tiff": "image/tiff",
  ".vtt": "text/vtt",
  ".json": "application/json",
  ".txt": "text/plain",
};

/** The media type a file name suggests; `application/octet-stream` when it suggests none. */
export function contentTypeFor(name: string): string {
  return impliedContentType(name) ?? "application/octet-stream";
}

/** The media type a file name's extension implies, or undefined when it implies none. */
export function impliedContentType(name: string): string | undefined {
  return byExtension[extname(name).toLowerCase()];
}
