import { formatNumber } from "../../media/encode-args.js";
import { fileUrl, safeInputArgs } from "../../media/ffmpeg-args.js";
import type { MediaInfo } from "../../media/probe.js";

/**
 * ffmpeg arguments for joining videos, pure: the concat demuxer over files of one format (stream copy,
 * no quality loss, seconds of work), or the concat filter over files of any format, each normalised to
 * one size, frame rate and audio layout (a re-encode).
 */

/** Video codecs an MP4 holds that the concat demuxer joins cleanly by stream copy. */
const COPY_VIDEO_CODECS = new Set(["h264", "hevc", "av1", "vp9"]);
/** Audio codecs an MP4 holds. */
const COPY_AUDIO_CODECS = new Set(["aac", "mp3", "opus", "alac", "flac", "ac3", "eac3"]);

/**
 * True when the files can be joined by stream copy: the same video codec, size, frame rate and pixel
 * format, and the same audio (or none in all). Anything else would give a file players stumble on at the
 * join (a size change mid-stream, a new audio layout), so it is re-encoded instead.
 */
export function canJoinByCopy(infos: readonly MediaInfo[]): boolean {
  const [first, ...rest] = infos;
  if (first === undefined || !copyable(first)) return false;
  return rest.every((info) => copyable(info) && sameFormat(first, info));
}

function copyable(info: MediaInfo): boolean {
  if (info.video === undefined || !COPY_VIDEO_CODECS.has(info.video.codec)) return false;
  return info.audio === undefined || COPY_AUDIO_CODECS.has(info.audio.codec);
}

function sameFormat(a: MediaInfo, b: MediaInfo): boolean {
  const va = a.video;
  const vb = b.video;
  if (va === undefined || vb === undefined) return false;
  const sameVideo =
    va.codec === vb.codec &&
    va.width === vb.width &&
    va.height === vb.height &&
    va.rotation === vb.rotation &&
    va.pixelFormat === vb.pixelFormat &&
    Math.abs((va.frameRate ?? 0) - (vb.frameRate ?? 0)) < 0.01;
  const aa = a.audio;
  const ab = b.audio;
  const sameAudio =
    (aa === undefined && ab === undefined) ||
    (aa !== undefined &&
      ab !== undefined &&
      aa.codec === ab.codec &&
      aa.sampleRate === ab.sampleRate &&
      aa.channels === ab.channels);
  return sameVideo && sameAudio;
}

/**
 * The concat demuxer's list: names relative to the list's own folder, which the demuxer's safe mode
 * accepts (it refuses absolute paths and anything with `..`). The names are ones mediaflow chose.
 */
export function concatList(fileNames: readonly string[]): string {
  return fileNames.map((name) => `file '${name}'\n`).join("");
}

/**
 * Opens a concat list mediaflow wrote in its own work folder. Not `safeInputArgs`: the concat format is
 * rightly refused for uploads, but here the list and every file it names (intermediates remuxed from
 * vetted inputs) were made by mediaflow. Only the file protocol, and safe mode on.
 */
export function concatListInputArgs(listPath: string): string[] {
  return ["-protocol_whitelist", "file", "-f", "concat", "-safe", "1", "-i", fileUrl(listPath)];
}

/** One input of a normalising join: a vetted file, optionally a part of it. */
export interface ConcatPiece {
  path: string;
  /** `MediaInfo.container`, to pin the demuxer. */
  container: string;
  hasAudio: boolean;
  /** Seconds into the file where the piece starts (default 0). */
  from?: number;
  /** The piece's length in seconds: video is cut and audio padded or cut to it, so the two stay in step. */
  seconds: number;
}

export interface ConcatTarget {
  width: number;
  height: number;
  fps: number;
}

/** Audio every normalised piece gets, so the concat filter sees the same layout on each input. */
const AUDIO_RATE = 48_000;

/**
 * Inputs and a filtergraph that scale each piece into `target` (letterboxed: aspect kept, padded to the
 * box), set one frame rate, and give pieces without audio silence, then join them with the concat
 * filter. The caller maps `[v]` and `[a]` and adds the encoder and container options.
 */
export function normalisingConcatArgs(pieces: readonly ConcatPiece[], target: ConcatTarget): string[] {
  const inputs: string[] = [];
  const chains: string[] = [];
  const labels: string[] = [];
  const { width: w, height: h } = target;
  pieces.forEach((piece, i) => {
    const seek = piece.from !== undefined && piece.from > 0 ? ["-ss", formatNumber(piece.from)] : [];
    // -t on the input as well, so ffmpeg stops reading a long recording once the piece is over.
    const inputOptions = [...seek, "-t", formatNumber(piece.seconds)];
    inputs.push(...safeInputArgs(piece.path, { format: piece.container, inputOptions }));
    const seconds = formatNumber(piece.seconds);
    chains.push(
      `[${i}:v:0]scale=${w}:${h}:force_original_aspect_ratio=decrease,` +
        `pad=${w}:${h}:(ow-iw)/2:(oh-ih)/2,setsar=1,fps=${formatNumber(target.fps)},format=yuv420p,` +
        `trim=duration=${seconds},setpts=PTS-STARTPTS[v${i}]`,
    );
    const audioLayout = `aformat=sample_fmts=fltp:sample_rates=${AUDIO_RATE}:channel_layouts=stereo`;
    chains.push(
      piece.hasAudio
        ? `[${i}:a:0]aresample=${AUDIO_RATE},${audioLayout},apad,atrim=duration=${seconds},asetpts=PTS-STARTPTS[a${i}]`
        : `anullsrc=r=${AUDIO_RATE}:cl=stereo,${audioLayout},atrim=duration=${seconds}[a${i}]`,
    );
    labels.push(`[v${i}][a${i}]`);
  });
  chains.push(`${labels.join("")}concat=n=${pieces.length}:v=1:a=1[v][a]`);
  return [...inputs, "-filter_complex", chains.join(";"), "-map", "[v]", "-map", "[a]"];
}
