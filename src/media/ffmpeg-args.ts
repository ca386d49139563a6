import { resolve } from "node:path";
import { ErrorCodes, PermanentError } from "../errors/errors.js";

/**
 * The options every ffmpeg and ffprobe run on untrusted input uses. Media files can be made to point at
 * other files or URLs: an HLS or DASH playlist lists segments to open, a concat list names files, an image2
 * "sequence" (a name containing %d or a glob) reads every matching file, an SDP file opens network
 * streams. Any of those would let an upload make the worker read /etc/passwd or the network and hand
 * the bytes back as "media". So, as arrays (never strings handed to a shell):
 *
 * - `-protocol_whitelist file`: the input and anything it opens may only use the local file protocol —
 *   no http, tcp, data:, subfile:, concat: or pipe:.
 * - `-format_whitelist <allowed demuxers>`: ffmpeg probes the format as usual but refuses, before the
 *   demuxer reads anything beyond the probe buffer, to open any format not in the list. Only
 *   self-contained formats are listed; playlists, reference formats, image2 sequences, devices (lavfi,
 *   x11grab) and weak guessers (tty, which "decodes" any .txt as ANSI art) are left out.
 * - `-f <demuxer>` when the caller knows the probed format, so a later run cannot pick a different
 *   demuxer than the one the probe saw and vetted.
 * - `file:<absolute path>` as the input, so a file named `-y`, `http:x` or `concat:a|b` is only a file.
 *
 * Filtergraphs are the other way to read files (`movie=`, `subtitles=`, `ass=`): never build one from
 * user-supplied text.
 */

/**
 * Demuxers mediaflow reads uploads with. Each is self-contained: it reads only the bytes of the file it
 * was given. ffmpeg matches any alias, so `mov` admits `mov,mp4,m4a,3gp,3g2,mj2`.
 */
export const ALLOWED_INPUT_FORMATS: readonly string[] = Object.freeze([
  // video containers
  "mov",
  "matroska",
  "avi",
  "flv",
  "mpegts",
  "mpeg",
  "mxf",
  "asf",
  "ogg",
  "dv",
  // audio
  "wav",
  "w64",
  "aiff",
  "caf",
  "flac",
  "mp3",
  "aac",
  "ac3",
  "eac3",
  "amr",
  "wv",
  // single images (image2 itself is left out: it reads numbered sequences and globs)
  "png_pipe",
  "jpeg_pipe",
  "webp_pipe",
  "bmp_pipe",
  "tiff_pipe",
  "gif",
  "gif_pipe",
]);

/**
 * File extensions of the formats above. A file named like one of them is read by an allowed demuxer when
 * it is what its name says, so when ffprobe takes it for some other format, the name is wrong or the
 * file damaged; ffprobe's guess on bytes that are not media at all is often a headerless format such as
 * `lrc` or `h263`, and that guess is no explanation to give a person.
 */
const ALLOWED_FORMAT_EXTENSIONS: ReadonlySet<string> = new Set([
  // video containers
  ...["mp4", "m4v", "mov", "3gp", "3g2", "mkv", "webm", "avi", "flv", "ts", "m2ts", "mts", "mpg", "mpeg"],
  ...["vob", "mxf", "wmv", "asf", "ogv", "dv"],
  // audio
  ...["m4a", "mka", "wma", "ogg", "oga", "opus", "wav", "w64", "aif", "aiff", "caf", "flac", "mp3", "aac"],
  ...["ac3", "eac3", "amr", "wv"],
  // images
  ...["png", "jpg", "jpeg", "webp", "bmp", "tif", "tiff", "gif"],
]);

/** True when `filename` ends in the extension of a format mediaflow reads (`clip.MP4`, `photo.jpeg`). */
export function isNamedLikeAllowedFormat(filename: string): boolean {
  const dot = filename.lastIndexOf(".");
  return dot > 0 && ALLOWED_FORMAT_EXTENSIONS.has(filename.slice(dot + 1).toLowerCase());
}

/**
 * Demuxers that open other files or URLs named inside the input. They are refused like every format not
 * allowed; this list only lets a refusal say why in words a person understands.
 */
export const REFERENCE_FORMATS: readonly string[] = Object.freeze([
  "hls",
  "applehttp",
  "dash",
  "concat",
  "image2",
  "imf",
  "webm_dash_manifest",
  "sdp",
  "rtsp",
  "rtp",
  "sap",
  "lavfi",
  "ffmetadata",
]);

const allowed = new Set(ALLOWED_INPUT_FORMATS);
const references = new Set(REFERENCE_FORMATS);

/** True when any alias of `formatName` (ffprobe's comma-separated `format_name`) is an allowed demuxer. */
export function isAllowedInputFormat(formatName: string): boolean {
  return formatName.split(",").some((name) => allowed.has(name.trim()));
}

/** True for playlists and other formats that point at further files or URLs. */
export function isReferenceFormat(formatName: string): boolean {
  return formatName.split(",").some((name) => references.has(name.trim()));
}

/** A local path as an ffmpeg URL: absolute and with an explicit `file:` protocol. */
export function fileUrl(path: string): string {
  return `file:${resolve(path)}`;
}

/**
 * ffmpeg's global options: no banner, never read stdin (a stray `q` would stop it and a closed stdin can
 * make it stop on its own), no stats line on stderr (use `progressArgs`), and only errors logged so the
 * stderr tail kept for a failure is the reason for it.
 */
export function ffmpegGlobalArgs(): string[] {
  return ["-hide_banner", "-nostdin", "-nostats", "-loglevel", "error"];
}

/** ffmpeg writes its progress as key=value blocks to stdout; see `ffmpeg-progress.ts`. */
export function progressArgs(): string[] {
  return ["-progress", "pipe:1"];
}

export interface SafeInputOptions {
  /**
   * The input's format as `probeMedia` reported it (`MediaInfo.container`, e.g. `mov,mp4,m4a,3gp,3g2,mj2`):
   * pins the demuxer. It must be an allowed format.
   */
  format?: string;
  /** Further input options, placed before `-i` (e.g. `["-ss", "12.5"]`). */
  inputOptions?: readonly string[];
}

/**
 * The arguments that open one untrusted input file in ffmpeg: the whitelists, optionally `-f`, then
 * `-i file:<path>`. Put `ffmpegGlobalArgs()` first and the outputs after.
 */
export function safeInputArgs(path: string, options: SafeInputOptions = {}): string[] {
  const pinned: string[] = [];
  if (options.format !== undefined) {
    const demuxer = options.format.split(",")[0]?.trim() ?? "";
    if (!isAllowedInputFormat(demuxer)) {
      throw new PermanentError(
        ErrorCodes.unsupportedMedia,
        `mediaflow does not read ${demuxer || "this"} files`,
        {
          details: { format: options.format },
        },
      );
    }
    pinned.push("-f", demuxer);
  }
  return [...whitelistArgs(), ...pinned, ...(options.inputOptions ?? []), "-i", fileUrl(path)];
}

/**
 * ffprobe's arguments for one untrusted file: `what` is the output selection (e.g. `-show_format`).
 * ffprobe never reads stdin, so it has no `-nostdin`.
 */
export function ffprobeArgs(path: string, what: readonly string[]): string[] {
  return ["-hide_banner", "-loglevel", "error", ...whitelistArgs(), ...what, "-i", fileUrl(path)];
}

function whitelistArgs(): string[] {
  return ["-protocol_whitelist", "file", "-format_whitelist", ALLOWED_INPUT_FORMATS.join(",")];
}
