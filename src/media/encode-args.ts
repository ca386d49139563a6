import { ErrorCodes, PermanentError } from "../errors/errors.js";
import { assertEncoders, type MediaTools } from "./tools.js";

/**
 * Argument builders shared by the steps that encode video and audio: output sizes (even, aspect kept,
 * never upscaled by accident), the encoder for each codec with its rate control and speed options, the
 * audio encoder, and the container. Pure functions over plain values; the steps add inputs and progress.
 */

export const VIDEO_CODECS = ["h264", "h265", "vp9", "av1"] as const;
export type VideoCodec = (typeof VIDEO_CODECS)[number];

export const AUDIO_CODECS = ["aac", "opus", "copy", "none"] as const;
export type AudioCodec = (typeof AUDIO_CODECS)[number];

export const CONTAINERS = ["mp4", "webm"] as const;
export type Container = (typeof CONTAINERS)[number];

/** x264's preset names, the best known scale; every other encoder's speed knob is mapped onto it. */
export const PRESETS = [
  "ultrafast",
  "superfast",
  "veryfast",
  "faster",
  "fast",
  "medium",
  "slow",
  "slower",
  "veryslow",
] as const;
export type Preset = (typeof PRESETS)[number];

export interface Dimensions {
  width: number;
  height: number;
}

/** A requested size: a height, a width, or a box both must fit in. */
export interface SizeTarget {
  width?: number | undefined;
  height?: number | undefined;
}

/** The nearest even number, at least 2: 4:2:0 video needs even sides, and libx264 refuses odd ones. */
export function even(value: number): number {
  return Math.max(2, Math.round(value / 2) * 2);
}

/** The largest even number not above `value` (at least 2), for sizes that must not grow. */
export function evenFloor(value: number): number {
  return Math.max(2, Math.floor(value / 2) * 2);
}

/**
 * The size `source` takes when scaled to `target` with its aspect ratio kept: to the height, to the
 * width, or to fit inside the box when both are given. No target: the source's own size. Upscaling is
 * not prevented here (see `outputDimensions`); the result is always even.
 */
export function fitDimensions(source: Dimensions, target: SizeTarget): Dimensions {
  const aspect = source.width / source.height;
  const { width, height } = target;
  if (width === undefined && height === undefined) {
    return { width: evenFloor(source.width), height: evenFloor(source.height) };
  }
  let scale: number;
  if (width !== undefined && height !== undefined)
    scale = Math.min(width / source.width, height / source.height);
  else if (height !== undefined) scale = height / source.height;
  else scale = (width ?? source.width) / source.width;
  // The requested side is kept exactly (made even); the other follows from the aspect ratio.
  if (height !== undefined && (width === undefined || height / source.height <= width / source.width)) {
    const h = even(height);
    return { width: even(h * aspect), height: h };
  }
  if (width !== undefined && (height === undefined || scale === width / source.width)) {
    const w = even(width);
    return { width: w, height: even(w / aspect) };
  }
  return { width: even(source.width * scale), height: even(source.height * scale) };
}

/** True when `size` is larger than `source` on either side, i.e. producing it would be an upscale. */
export function isUpscale(size: Dimensions, source: Dimensions): boolean {
  return size.width > evenFloor(source.width) || size.height > evenFloor(source.height);
}

/**
 * The output size for a target: `fitDimensions`, except that without `upscale` a target larger than the
 * source gives the source's own size — enlarging adds bytes and no detail.
 */
export function outputDimensions(source: Dimensions, target: SizeTarget, upscale: boolean): Dimensions {
  const fitted = fitDimensions(source, target);
  if (upscale || !isUpscale(fitted, source)) return fitted;
  return fitDimensions(source, {});
}

/**
 * The video filters every encode ends with: scale to an exact even size (bicubic: ffmpeg's default, a
 * fair balance of sharpness and speed), square pixels, an optional frame-rate cap and 8-bit 4:2:0 —
 * the only pixel format every player decodes (a 10-bit or 4:4:4 source would otherwise give a High 10
 * or High 4:4:4 H.264 that browsers refuse).
 */
export function videoFilters(size: Dimensions, fps?: number): string[] {
  const filters = [`scale=${size.width}:${size.height}:flags=bicubic`, "setsar=1"];
  if (fps !== undefined) filters.push(`fps=${formatNumber(fps)}`);
  filters.push("format=yuv420p");
  return filters;
}

/** The frame rate to cap at: `maxFps` when the source is faster (or unknown), else none. */
export function fpsCap(sourceFps: number | undefined, maxFps: number | undefined): number | undefined {
  if (maxFps === undefined) return undefined;
  return sourceFps === undefined || sourceFps > maxFps + 0.01 ? maxFps : undefined;
}

/** The ffmpeg encoder for a codec on this ffmpeg; throws `tool_missing` naming what to install. */
export function videoEncoderFor(tools: MediaTools, codec: VideoCodec): string {
  switch (codec) {
    case "h264":
      assertEncoders(tools, ["libx264"]);
      return "libx264";
    case "h265":
      assertEncoders(tools, ["libx265"]);
      return "libx265";
    case "vp9":
      assertEncoders(tools, ["libvpx-vp9"]);
      return "libvpx-vp9";
    case "av1":
      // SVT-AV1 is several times faster than libaom at a similar quality; libaom is the fallback.
      if (tools.encoders.has("libsvtav1")) return "libsvtav1";
      if (tools.encoders.has("libaom-av1")) return "libaom-av1";
      assertEncoders(tools, ["libsvtav1"]);
      return "libsvtav1";
  }
}

/** The audio encoder for a codec (undefined for `copy` and `none`); throws `tool_missing` when absent. */
export function audioEncoderFor(tools: MediaTools, codec: AudioCodec | "mp3"): string | undefined {
  switch (codec) {
    case "aac":
      assertEncoders(tools, ["aac"]);
      return "aac";
    case "opus":
      // ffmpeg's native "opus" encoder is experimental and worse; libopus is the real one.
      assertEncoders(tools, ["libopus"]);
      return "libopus";
    case "mp3":
      assertEncoders(tools, ["libmp3lame"]);
      return "libmp3lame";
    case "copy":
    case "none":
      return undefined;
  }
}

/** CRF when neither CRF nor a bit rate is given: each encoder's own "good, not wasteful" default. */
export const DEFAULT_CRF: Readonly<Record<VideoCodec, number>> = Object.freeze({
  // x264's and x265's defaults; the two look about alike at these values.
  h264: 23,
  h265: 28,
  // Google's VOD recommendation for VP9 at 720p–1080p is 31–33.
  vp9: 31,
  // SVT-AV1's default is 35; libaom's 32 is about the same quality.
  av1: 35,
});

/** The highest CRF each encoder accepts (x264/x265 stop at 51; VP9 and AV1 use 0–63). */
export const MAX_CRF: Readonly<Record<VideoCodec, number>> = Object.freeze({
  h264: 51,
  h265: 51,
  vp9: 63,
  av1: 63,
});

export interface RateControl {
  /** Constant quality; used when `bitrate` is not set. */
  crf?: number | undefined;
  /** Average bits per second. */
  bitrate?: number | undefined;
  /** Peak bits per second (with CRF: capped CRF). */
  maxrate?: number | undefined;
  /** The decoder buffer, bits. */
  bufsize?: number | undefined;
}

/**
 * With a bit rate and no peak: the peak is 1.5× the average. Apple's HLS authoring spec allows a peak up
 * to 2× the average for VOD; 1.5× leaves the encoder room for hard scenes while keeping a rendition close
 * to the bandwidth a player picked it for.
 */
const DEFAULT_PEAK_FACTOR = 1.5;
/**
 * The buffer is two seconds at the peak rate: the usual VBV for streaming, short enough that a player's
 * bandwidth estimate holds, long enough not to starve hard scenes.
 */
const DEFAULT_BUFFER_SECONDS = 2;

export interface VideoEncodeOptions extends RateControl {
  codec: VideoCodec;
  /** From `videoEncoderFor`. */
  encoder: string;
  preset: Preset;
  /** Output frame rate, for the keyframe interval; undefined: the interval is forced by time only. */
  fps?: number | undefined;
  /** Seconds between forced keyframes, so renditions can be segmented at the same instants. */
  keyframeInterval: number;
}

/**
 * `-c:v` and everything that goes with it, for the output stream selected by `stream` (`v` for the first
 * video stream of an output; ladders use one output per rendition, so `v` fits there too).
 */
export function videoCodecArgs(options: VideoEncodeOptions, stream = "v"): string[] {
  const { codec, encoder, preset } = options;
  const args = [`-c:${stream}`, encoder];
  args.push(...rateControlArgs(options, stream));
  args.push(...speedArgs(encoder, preset, stream));
  // Keyframes at the same instants in every rendition: packaging cuts segments there, and a player can
  // only switch renditions at a segment boundary. By time, so it holds whatever the frame rate.
  const interval = formatNumber(options.keyframeInterval);
  args.push(`-force_key_frames:${stream}`, `expr:gte(t,n_forced*${interval})`);
  if (options.fps !== undefined) {
    // A GOP no longer than the interval: the encoder may add keyframes at scene cuts, never go longer.
    args.push(`-g:${stream}`, String(Math.max(1, Math.round(options.fps * options.keyframeInterval))));
  }
  if (codec === "h265") {
    // hvc1 (parameter sets in the sample description) is the tag Apple players require for HEVC in MP4.
    args.push(`-tag:${stream}`, "hvc1", `-x265-params:${stream}`, "log-level=error");
  }
  if (encoder === "libvpx-vp9" || encoder === "libaom-av1") {
    // Row multithreading: 2–3× faster on multi-core machines at the same quality, off by default.
    args.push(`-row-mt:${stream}`, "1");
  }
  return args;
}

function rateControlArgs(options: VideoEncodeOptions, stream: string): string[] {
  const { codec, encoder } = options;
  if (options.bitrate !== undefined) {
    const maxrate = options.maxrate ?? Math.round(options.bitrate * DEFAULT_PEAK_FACTOR);
    const bufsize = options.bufsize ?? Math.round(maxrate * DEFAULT_BUFFER_SECONDS);
    return [
      `-b:${stream}`,
      String(options.bitrate),
      `-maxrate:${stream}`,
      String(maxrate),
      `-bufsize:${stream}`,
      String(bufsize),
    ];
  }
  const crf = options.crf ?? DEFAULT_CRF[codec];
  const args = [`-crf:${stream}`, String(crf)];
  // libvpx and libaom treat -crf as a floor under a default target bit rate unless the target is 0.
  if (encoder === "libvpx-vp9" || encoder === "libaom-av1") args.push(`-b:${stream}`, "0");
  if (options.maxrate !== undefined) {
    const bufsize = options.bufsize ?? Math.round(options.maxrate * DEFAULT_BUFFER_SECONDS);
    args.push(`-maxrate:${stream}`, String(options.maxrate), `-bufsize:${stream}`, String(bufsize));
  }
  return args;
}

/**
 * Each encoder's speed knob, mapped from x264's preset names so that one `preset` parameter means about
 * the same trade-off everywhere: libvpx's deadline/cpu-used (realtime for the three fastest), SVT-AV1's
 * 0–13 presets, libaom's cpu-used 0–8.
 */
const VP9_SPEED: Readonly<Record<Preset, [deadline: string, cpuUsed: number]>> = {
  ultrafast: ["realtime", 8],
  superfast: ["realtime", 7],
  veryfast: ["realtime", 6],
  faster: ["good", 5],
  fast: ["good", 4],
  medium: ["good", 3],
  slow: ["good", 2],
  slower: ["good", 1],
  veryslow: ["good", 0],
};
const SVTAV1_PRESET: Readonly<Record<Preset, number>> = {
  ultrafast: 12,
  superfast: 11,
  veryfast: 10,
  faster: 9,
  fast: 8,
  medium: 7,
  slow: 5,
  slower: 4,
  veryslow: 2,
};
const AOM_CPU_USED: Readonly<Record<Preset, number>> = {
  ultrafast: 8,
  superfast: 7,
  veryfast: 6,
  faster: 6,
  fast: 5,
  medium: 4,
  slow: 3,
  slower: 2,
  veryslow: 1,
};

function speedArgs(encoder: string, preset: Preset, stream: string): string[] {
  switch (encoder) {
    case "libx264":
    case "libx265":
      return [`-preset:${stream}`, preset];
    case "libvpx-vp9": {
      const [deadline, cpuUsed] = VP9_SPEED[preset];
      return [`-deadline:${stream}`, deadline, `-cpu-used:${stream}`, String(cpuUsed)];
    }
    case "libsvtav1":
      return [`-preset:${stream}`, String(SVTAV1_PRESET[preset])];
    case "libaom-av1": {
      const cpuUsed = AOM_CPU_USED[preset];
      // cpu-used above 6 exists only in libaom's realtime mode.
      return cpuUsed > 6
        ? [`-usage:${stream}`, "realtime", `-cpu-used:${stream}`, String(cpuUsed)]
        : [`-cpu-used:${stream}`, String(cpuUsed)];
    }
    default:
      return [];
  }
}

/** Audio codecs each container can hold, for refusing `audioCodec: copy` of a codec it cannot. */
const CONTAINER_AUDIO: Readonly<Record<Container, ReadonlySet<string>>> = {
  mp4: new Set(["aac", "mp3", "opus", "ac3", "eac3", "alac", "flac"]),
  webm: new Set(["opus", "vorbis"]),
};

/** Video codecs each container can hold. */
const CONTAINER_VIDEO: Readonly<Record<Container, ReadonlySet<VideoCodec>>> = {
  mp4: new Set<VideoCodec>(["h264", "h265", "vp9", "av1"]),
  webm: new Set<VideoCodec>(["vp9", "av1"]),
};

/** Refuses a codec/container pairing the container cannot hold, before anything runs. */
export function assertContainerFits(container: Container, video: VideoCodec, audio: AudioCodec): void {
  if (!CONTAINER_VIDEO[container].has(video)) {
    throw new PermanentError(
      ErrorCodes.invalidParams,
      `a ${container} file cannot hold ${video} video (use ${[...CONTAINER_VIDEO[container]].join(" or ")}, or container mp4)`,
    );
  }
  if (audio === "aac" && container === "webm") {
    throw new PermanentError(
      ErrorCodes.invalidParams,
      "a webm file cannot hold aac audio (use audioCodec opus)",
    );
  }
}

/** Refuses `audioCodec: copy` of a source codec the container cannot hold, in words a person understands. */
export function assertAudioCopyFits(container: Container, sourceCodec: string): void {
  if (CONTAINER_AUDIO[container].has(sourceCodec)) return;
  throw new PermanentError(
    ErrorCodes.unsupportedMedia,
    `the input's ${sourceCodec} audio cannot be copied into ${container}: use audioCodec ${container === "webm" ? "opus" : "aac"} to re-encode it`,
    { details: { container, audioCodec: sourceCodec } },
  );
}

/** The default audio bit rate per codec: transparent-enough stereo for each. */
export const DEFAULT_AUDIO_BITRATE: Readonly<Record<"aac" | "opus" | "mp3", number>> = Object.freeze({
  // AAC-LC needs about 128 kb/s for stereo to be transparent for most listeners.
  aac: 128_000,
  // Opus reaches the same at about 96 kb/s.
  opus: 96_000,
  // LAME's own recommendation for transparent stereo is V2, about 190 kb/s.
  mp3: 192_000,
});

export interface AudioEncodeOptions {
  codec: AudioCodec;
  /** From `audioEncoderFor` (undefined for copy/none). */
  encoder: string | undefined;
  bitrate?: number | undefined;
  channels?: number | undefined;
}

/** `-c:a` and its options, or `-an` for none. */
export function audioCodecArgs(options: AudioEncodeOptions, stream = "a"): string[] {
  if (options.codec === "none") return ["-an"];
  if (options.codec === "copy" || options.encoder === undefined) return [`-c:${stream}`, "copy"];
  const bitrate = options.bitrate ?? DEFAULT_AUDIO_BITRATE[options.codec];
  const args = [`-c:${stream}`, options.encoder, `-b:${stream}`, String(bitrate)];
  if (options.channels !== undefined) args.push(`-ac:${stream}`, String(options.channels));
  return args;
}

/**
 * `-f` and muxer options for a container. MP4 gets `+faststart`: the index (moov) is moved before the
 * media data so a player can start before the whole file has downloaded.
 */
export function containerArgs(container: Container | "mp3" | "ogg"): string[] {
  switch (container) {
    case "mp4":
      return ["-f", "mp4", "-movflags", "+faststart"];
    case "webm":
      return ["-f", "webm"];
    case "mp3":
      return ["-f", "mp3"];
    case "ogg":
      return ["-f", "ogg"];
  }
}

/**
 * The same muxer choice as `containerArgs`, as the options of one output of ffmpeg's tee muxer
 * (`f=mp4:movflags=+faststart`). Their values are fixed words, nothing that tee's syntax would read.
 */
export function teeContainerOptions(container: Container): string {
  const args = containerArgs(container);
  const options: string[] = [];
  for (let i = 0; i + 1 < args.length; i += 2) options.push(`${args[i]?.slice(1)}=${args[i + 1]}`);
  return options.join(":");
}

/** Environment for ffmpeg: SVT-AV1 logs its banner straight to stderr unless told to keep to errors. */
export function encoderEnv(encoder: string): Record<string, string> {
  return encoder === "libsvtav1" ? { SVT_LOG: "1" } : {};
}

/** `2500k`, `2.5M`, `128000` or a number → bits per second. */
export function parseBitrate(value: string | number): number {
  if (typeof value === "number") return Math.round(value);
  const match = /^(\d+(?:\.\d+)?)\s*([kKmM]?)$/.exec(value.trim());
  if (match === null) throw new Error(`"${value}" is not a bit rate (e.g. 2500k, 2.5M, 128000)`);
  const unit = match[2]?.toLowerCase();
  const factor = unit === "k" ? 1_000 : unit === "m" ? 1_000_000 : 1;
  return Math.round(Number(match[1]) * factor);
}

/** A number for a filter or option: no exponent, no trailing zeros. */
export function formatNumber(value: number): string {
  return Number.isInteger(value) ? String(value) : String(Number(value.toFixed(6)));
}
