import { open, stat } from "node:fs/promises";
import { basename, extname } from "node:path";
import { z } from "zod";
import { ErrorCodes, MediaflowError, PermanentError } from "../errors/errors.js";
import {
  ffprobeArgs,
  isAllowedInputFormat,
  isNamedLikeAllowedFormat,
  isReferenceFormat,
} from "./ffmpeg-args.js";
import { runTool, ToolError } from "./run-tool.js";
import type { MediaTools } from "./tools.js";

export interface VideoInfo {
  codec: string;
  /** As displayed: after the rotation below, so a portrait phone video is taller than wide. */
  width: number;
  height: number;
  /** Clockwise degrees the stored picture must be turned to display upright: 0, 90, 180 or 270. */
  rotation: number;
  /** Frames per second (from avg_frame_rate, else r_frame_rate); undefined when ffprobe cannot tell. */
  frameRate: number | undefined;
  pixelFormat: string | undefined;
  bitRate: number | undefined;
}

export interface AudioInfo {
  codec: string;
  channels: number;
  sampleRate: number;
  bitRate: number | undefined;
}

export interface MediaInfo {
  /** An image has one still picture; `video` then describes it. Cover art does not make audio a video. */
  kind: "video" | "audio" | "image";
  /** ffprobe's `format_name`, e.g. `mov,mp4,m4a,3gp,3g2,mj2`; pass it to `safeInputArgs({ format })`. */
  container: string;
  /** Seconds; undefined when the file does not say (images, some live recordings). */
  duration: number | undefined;
  bytes: number;
  /** Bits per second over the whole file. */
  bitRate: number | undefined;
  /** The main video stream (the default one, else the first), when there is one. */
  video?: VideoInfo;
  /** The main audio stream, when there is one. */
  audio?: AudioInfo;
  /** How many streams of any kind the file has. */
  streams: number;
}

export interface ProbeOptions {
  signal?: AbortSignal;
  /** Default 30 s: ffprobe reads only the start of a well-formed file, so this is for pathological ones. */
  timeoutMs?: number;
}

const DEFAULT_PROBE_TIMEOUT_MS = 30_000;

/**
 * ffmpeg warns "misdetection possible" at or below this probe score (AVPROBE_SCORE_RETRY). Random bytes
 * named .mp3 probe as MP3 with a score of 1; real files score 50 (extension and content) or more.
 */
const MIN_PROBE_SCORE = 26;

/** Only what mediaflow reads of ffprobe's JSON; ffprobe prints many more keys, which are dropped. */
const ffprobeStream = z.object({
  codec_type: z.string().optional(),
  codec_name: z.string().optional(),
  width: z.number().optional(),
  height: z.number().optional(),
  pix_fmt: z.string().optional(),
  r_frame_rate: z.string().optional(),
  avg_frame_rate: z.string().optional(),
  bit_rate: z.string().optional(),
  duration: z.string().optional(),
  channels: z.number().optional(),
  sample_rate: z.string().optional(),
  disposition: z.record(z.string(), z.number()).optional(),
  tags: z.record(z.string(), z.string()).optional(),
  side_data_list: z
    .array(z.object({ side_data_type: z.string().optional(), rotation: z.number().optional() }))
    .optional(),
});

const ffprobeOutput = z.object({
  streams: z.array(ffprobeStream).default([]),
  format: z
    .object({
      format_name: z.string(),
      duration: z.string().optional(),
      bit_rate: z.string().optional(),
      probe_score: z.number().optional(),
    })
    .optional(),
});

export type FfprobeOutput = z.infer<typeof ffprobeOutput>;
type FfprobeStream = z.infer<typeof ffprobeStream>;

/**
 * Describes a local media file with ffprobe, on the safe input options (see `ffmpeg-args.ts`). A file
 * that is empty, damaged, not media, or a playlist fails with PermanentError `corrupt_media` or
 * `unsupported_media` and a message for people; ffprobe's own words are in `details.stderrTail`.
 */
export async function probeMedia(
  tools: Pick<MediaTools, "ffprobe">,
  path: string,
  options: ProbeOptions = {},
): Promise<MediaInfo> {
  const bytes = await fileSize(path);
  if (bytes === 0) throw new PermanentError(ErrorCodes.corruptMedia, "the file is empty (0 bytes)");
  let stdout: string;
  try {
    const result = await runTool({
      command: tools.ffprobe,
      name: "ffprobe",
      args: ffprobeArgs(path, ["-print_format", "json", "-show_format", "-show_streams"]),
      signal: options.signal,
      timeoutMs: options.timeoutMs ?? DEFAULT_PROBE_TIMEOUT_MS,
    });
    stdout = result.stdout;
  } catch (error) {
    if (error instanceof ToolError && error.code === ErrorCodes.toolFailed) {
      throw unreadable(error, await startsLikeIsoMedia(path), basename(path));
    }
    throw error;
  }
  let parsed: FfprobeOutput;
  try {
    parsed = ffprobeOutput.parse(JSON.parse(stdout));
  } catch (error) {
    throw new MediaflowError(ErrorCodes.toolFailed, "ffprobe printed output mediaflow could not understand", {
      cause: error,
      details: { stdout: stdout.slice(0, 2_000) },
    });
  }
  return mediaInfoFromProbe(parsed, bytes);
}

/** Turns ffprobe's JSON into a MediaInfo, refusing what mediaflow cannot process. Pure. */
export function mediaInfoFromProbe(output: FfprobeOutput, bytes: number): MediaInfo {
  const format = output.format;
  if (format === undefined) throw notMedia("ffprobe found no container format");
  const container = format.format_name;
  if (!isAllowedInputFormat(container)) throw refusedFormat(container);
  if (format.probe_score !== undefined && format.probe_score < MIN_PROBE_SCORE) {
    throw new PermanentError(
      ErrorCodes.corruptMedia,
      `the file is not a video or audio file ffprobe can read (it could only guess ${container}, with low confidence)`,
      { details: { container, probeScore: format.probe_score } },
    );
  }

  const isImage = isImageFormat(container);
  const pictures = output.streams.filter(
    (s) => s.codec_type === "video" && s.disposition?.attached_pic !== 1,
  );
  const sounds = output.streams.filter((s) => s.codec_type === "audio");
  const videoStream = mainStream(pictures);
  const audioStream = isImage ? undefined : mainStream(sounds);
  if (videoStream === undefined && audioStream === undefined) {
    throw new PermanentError(ErrorCodes.unsupportedMedia, "the file has no video or audio in it", {
      details: { container, streams: output.streams.length },
    });
  }

  const info: MediaInfo = {
    kind: isImage ? "image" : videoStream !== undefined ? "video" : "audio",
    container,
    duration: isImage ? undefined : duration(format.duration, output.streams),
    bytes,
    bitRate: positive(format.bit_rate),
    streams: output.streams.length,
  };
  if (videoStream !== undefined) info.video = videoInfo(videoStream);
  if (audioStream !== undefined) info.audio = audioInfo(audioStream);
  return info;
}

function videoInfo(stream: FfprobeStream): VideoInfo {
  const codec = knownCodec(stream, "video");
  const stored = { width: stream.width ?? 0, height: stream.height ?? 0 };
  if (stored.width <= 0 || stored.height <= 0) {
    throw new PermanentError(
      ErrorCodes.corruptMedia,
      "the file is damaged: the size of its picture cannot be read",
      {
        details: { codec },
      },
    );
  }
  const rotation = rotationOf(stream);
  const quarterTurn = rotation === 90 || rotation === 270;
  return {
    codec,
    width: quarterTurn ? stored.height : stored.width,
    height: quarterTurn ? stored.width : stored.height,
    rotation,
    frameRate: rate(stream.avg_frame_rate) ?? rate(stream.r_frame_rate),
    pixelFormat: stream.pix_fmt,
    bitRate: positive(stream.bit_rate),
  };
}

function audioInfo(stream: FfprobeStream): AudioInfo {
  const codec = knownCodec(stream, "audio");
  const sampleRate = positive(stream.sample_rate);
  const channels = stream.channels ?? 0;
  if (sampleRate === undefined || channels <= 0) {
    throw new PermanentError(
      ErrorCodes.corruptMedia,
      "the file is damaged: its audio format cannot be read",
      {
        details: { codec, sampleRate: stream.sample_rate, channels: stream.channels },
      },
    );
  }
  return { codec, channels, sampleRate, bitRate: positive(stream.bit_rate) };
}

function knownCodec(stream: FfprobeStream, what: "video" | "audio"): string {
  if (stream.codec_name !== undefined && stream.codec_name !== "") return stream.codec_name;
  throw new PermanentError(
    ErrorCodes.unsupportedMedia,
    `the file's ${what} is in a format ffmpeg does not know`,
  );
}

/** The default-disposition stream, else the first: what ffmpeg itself would pick by default. */
function mainStream(streams: FfprobeStream[]): FfprobeStream | undefined {
  return streams.find((s) => s.disposition?.default === 1) ?? streams[0];
}

/**
 * Clockwise degrees, from the display matrix when there is one, else from the older `rotate` tag. The
 * matrix's `rotation` is counter-clockwise (ffmpeg's av_display_rotation_get), hence the minus; ffmpeg 4
 * derived its `rotate` tag the same way, so both agree. Rounded to a quarter turn, which is all that
 * phones write and all ffmpeg's autorotation handles with a plain transpose.
 */
function rotationOf(stream: FfprobeStream): number {
  const matrix = stream.side_data_list?.find(
    (d) => d.side_data_type === "Display Matrix" && d.rotation !== undefined,
  );
  const tag = stream.tags?.rotate;
  const degrees = matrix?.rotation !== undefined ? -matrix.rotation : tag === undefined ? 0 : Number(tag);
  if (!Number.isFinite(degrees)) return 0;
  const quarterTurns = Math.round(degrees / 90);
  return (((quarterTurns % 4) + 4) % 4) * 90;
}

/** Image demuxers are the `*_pipe` family (png_pipe, jpeg_pipe...) and gif. */
function isImageFormat(container: string): boolean {
  return container.split(",").some((name) => name.endsWith("_pipe") || name === "gif" || name === "image2");
}

function duration(formatDuration: string | undefined, streams: FfprobeStream[]): number | undefined {
  const whole = positive(formatDuration);
  if (whole !== undefined) return whole;
  const perStream = streams.map((s) => positive(s.duration)).filter((d): d is number => d !== undefined);
  return perStream.length === 0 ? undefined : Math.max(...perStream);
}

/** `30000/1001` → 29.97...; `0/0` (unknown) → undefined. */
function rate(fraction: string | undefined): number | undefined {
  const match = fraction === undefined ? null : /^(\d+)\/(\d+)$/.exec(fraction);
  if (match === null) return undefined;
  const value = Number(match[1]) / Number(match[2]);
  return Number.isFinite(value) && value > 0 ? value : undefined;
}

/** ffprobe prints numbers as strings, and `N/A` when it does not know. */
function positive(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const number = Number(value);
  return Number.isFinite(number) && number > 0 ? number : undefined;
}

/** The box types an MP4/MOV file can start with; bytes 4–7 of the file are the first box's type. */
const FIRST_BOXES = new Set(["ftyp", "moov", "mdat", "free", "skip", "wide", "pnot"]);

async function startsLikeIsoMedia(path: string): Promise<boolean> {
  try {
    const handle = await open(path, "r");
    try {
      const { buffer, bytesRead } = await handle.read(Buffer.alloc(8), 0, 8, 0);
      return bytesRead === 8 && FIRST_BOXES.has(buffer.toString("latin1", 4, 8));
    } finally {
      await handle.close();
    }
  } catch {
    return false;
  }
}

async function fileSize(path: string): Promise<number> {
  try {
    const info = await stat(path);
    if (!info.isFile()) throw new PermanentError(ErrorCodes.invalidArgument, `${path} is not a file`);
    return info.size;
  } catch (error) {
    if (error instanceof MediaflowError) throw error;
    throw new PermanentError(ErrorCodes.notFound, `there is no file to probe at ${path}`, { cause: error });
  }
}

/** Explains a failed ffprobe run in words, keeping what ffprobe said in `details`. */
function unreadable(error: ToolError, isoMedia: boolean, filename: string): PermanentError {
  const details = { stderrTail: error.stderrTail, exitCode: error.exitCode };
  // With -format_whitelist, ffprobe logs "[<demuxer> @ 0x…] Format not on whitelist" before reading further.
  const refused = /\[([^\] @]+) @ [^\]]*\] Format not on whitelist/.exec(error.stderrTail)?.[1];
  if (refused === "image2" && !/[%*?[]/.test(filename)) {
    // ffprobe picks its image-sequence reader from a name like `x.jpg` alone when the content is nothing
    // it knows (a real picture goes to its single-image reader): a file named like an image that is not one.
    return new PermanentError(
      ErrorCodes.corruptMedia,
      "the file is named like an image but is not a video, audio or image file mediaflow can read (it may be damaged)",
      { cause: error, details },
    );
  }
  if (refused !== undefined && !isReferenceFormat(refused) && isNamedLikeAllowedFormat(filename)) {
    // Named `.mp4` and taken for something else: not what its name says, whatever ffprobe guessed.
    return new PermanentError(
      ErrorCodes.corruptMedia,
      `the file is named like a ${extname(filename).toLowerCase()} file but is not one, nor any other video, audio or image file mediaflow can read (it may be damaged)`,
      { cause: error, details: { ...details, guessedFormat: refused } },
    );
  }
  if (refused !== undefined) return refusedFormat(refused, error);
  // ffprobe says "moov atom not found" for any file named .mp4 it cannot read; only call it a cut-short
  // MP4 when it does start like one.
  if (isoMedia && /moov atom not found/.test(error.stderrTail)) {
    return new PermanentError(
      ErrorCodes.corruptMedia,
      "the file is incomplete or damaged: the index of this MP4/MOV file is missing (was the upload cut short?)",
      { cause: error, details },
    );
  }
  return new PermanentError(
    ErrorCodes.corruptMedia,
    "the file is not a video or audio file ffprobe can read",
    {
      cause: error,
      details,
    },
  );
}

function refusedFormat(format: string, cause?: ToolError): PermanentError {
  const details = { format, stderrTail: cause?.stderrTail };
  if (isReferenceFormat(format)) {
    return new PermanentError(
      ErrorCodes.unsupportedMedia,
      `the file is a playlist or refers to other files (${format}), which mediaflow does not accept: upload the media file itself`,
      { cause, details },
    );
  }
  return new PermanentError(
    ErrorCodes.unsupportedMedia,
    `the file is not a video, audio or image format mediaflow accepts (ffprobe took it for ${format})`,
    { cause, details },
  );
}

function notMedia(why: string): PermanentError {
  return new PermanentError(
    ErrorCodes.corruptMedia,
    `the file is not a video or audio file ffprobe can read: ${why}`,
  );
}
