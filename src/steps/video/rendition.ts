import {
  type AudioCodec,
  assertAudioCopyFits,
  assertContainerFits,
  audioCodecArgs,
  audioEncoderFor,
  type Container,
  type Dimensions,
  fpsCap,
  outputDimensions,
  type Preset,
  type VideoCodec,
  type VideoEncodeOptions,
  videoEncoderFor,
  videoFilters,
} from "../../media/encode-args.js";
import type { MediaInfo } from "../../media/probe.js";
import type { MediaTools } from "../../media/tools.js";

/** Encoding choices a step made from its parameters, shared by all its outputs. */
export interface EncodingSettings {
  codec: VideoCodec;
  preset: Preset;
  container?: Container | undefined;
  audioCodec?: AudioCodec | undefined;
  audioBitrate?: number | undefined;
  audioChannels?: number | undefined;
  keyframeInterval: number;
  upscale: boolean;
}

export interface RenditionTarget {
  width?: number | undefined;
  height?: number | undefined;
  crf?: number | undefined;
  bitrate?: number | undefined;
  maxrate?: number | undefined;
  bufsize?: number | undefined;
  maxFps?: number | undefined;
}

/** One output of an encode: its size, the filters that make it, and the output options. */
export interface RenditionPlan {
  size: Dimensions;
  container: Container;
  extension: string;
  /** The frame-rate cap its filters apply, if any. */
  fps: number | undefined;
  /** Comma-joined filters for this output's video, after any transform the step applies first. */
  filterChain: string;
  /** The video encoder and its settings, for `videoCodecArgs` with the stream this rendition becomes. */
  video: VideoEncodeOptions;
  /** `-c:a` and its options for the output's one audio stream, or `-an`. */
  audioArgs: string[];
  hasAudio: boolean;
  /** The codecs the output holds, as ffprobe names them; audio undefined without audio. */
  codecs: { video: string; audio: string | undefined };
}

/**
 * Plans one rendition of a probed video: size (aspect kept, even, not above the source unless allowed),
 * frame-rate cap, encoder with its rate control and keyframe cadence, audio, container. Throws
 * `tool_missing` when this ffmpeg lacks the encoder and `invalid_params` for impossible pairings.
 */
export function planRendition(
  tools: MediaTools,
  source: MediaInfo,
  settings: EncodingSettings,
  target: RenditionTarget,
  /** The picture's size before scaling, when a transform (a quarter turn) changes it. */
  pictureSize?: Dimensions,
): RenditionPlan {
  const video = source.video;
  if (video === undefined) throw new Error("planRendition needs a source with video");
  const picture = pictureSize ?? { width: video.width, height: video.height };
  const container = settings.container ?? (settings.codec === "vp9" ? "webm" : "mp4");
  const hasAudio = source.audio !== undefined && settings.audioCodec !== "none";
  const audioCodec = settings.audioCodec ?? (container === "webm" ? "opus" : "aac");
  assertContainerFits(container, settings.codec, hasAudio ? audioCodec : "none");
  if (hasAudio && audioCodec === "copy" && source.audio !== undefined) {
    assertAudioCopyFits(container, source.audio.codec);
  }

  const size = outputDimensions(picture, target, settings.upscale);
  const fps = fpsCap(video.frameRate, target.maxFps);
  const encoder = videoEncoderFor(tools, settings.codec);
  const videoOptions: VideoEncodeOptions = {
    codec: settings.codec,
    encoder,
    preset: settings.preset,
    fps: fps ?? video.frameRate,
    keyframeInterval: settings.keyframeInterval,
    crf: target.crf,
    bitrate: target.bitrate,
    maxrate: target.maxrate,
    bufsize: target.bufsize,
  };
  const audioArgs = hasAudio
    ? audioCodecArgs({
        codec: audioCodec,
        encoder: audioEncoderFor(tools, audioCodec),
        bitrate: settings.audioBitrate,
        channels: settings.audioChannels,
      })
    : ["-an"];
  return {
    size,
    container,
    extension: container,
    fps,
    filterChain: videoFilters(size, fps).join(","),
    video: videoOptions,
    audioArgs,
    hasAudio,
    codecs: {
      video: settings.codec === "h265" ? "hevc" : settings.codec,
      audio: !hasAudio ? undefined : audioCodec === "copy" ? source.audio?.codec : audioCodec,
    },
  };
}

/** `720p` for a landscape rendition; the shorter side names it, as people say it. */
export function renditionLabel(size: Dimensions): string {
  return `${Math.min(size.width, size.height)}p`;
}
