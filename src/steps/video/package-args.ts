import { safeInputArgs } from "../../media/ffmpeg-args.js";

/**
 * Pure builders for `video.package`: the ffmpeg arguments that remux renditions into HLS and DASH, the
 * codec strings players need, and the HLS master playlist. Nothing here spawns or touches files.
 */

export type PackageFormat = "hls" | "dash";
export type AudioLayout = "separate" | "muxed" | "none";
export type HlsSegmentType = "fmp4" | "ts";

/** One rendition as the packager sees it: a local MP4 and what was probed of it. */
export interface PackageInput {
  path: string;
  container: string;
  width: number;
  height: number;
  frameRate: number | undefined;
  hasAudio: boolean;
  /** RFC 6381 codec strings, e.g. `avc1.64001f` and `mp4a.40.2`. */
  videoCodec: string;
  audioCodec: string | undefined;
  audioChannels: number | undefined;
}

/** The folders packages are written to, relative to the step's work directory and the output names. */
export const HLS_DIR = "hls";
export const DASH_DIR = "dash";
export const MASTER_PLAYLIST = "master.m3u8";
export const MANIFEST = "manifest.mpd";

/** Media playlists are `media_<n>.m3u8` in both packagers (ffmpeg's dash muxer cannot rename them). */
export function mediaPlaylistName(index: number): string {
  return `media_${index}.m3u8`;
}

/** The audio rendition, when separate, comes after the video renditions: its index is their count. */
export function audioPlaylistIndex(inputs: readonly PackageInput[]): number {
  return inputs.length;
}

export interface PackageArgsOptions {
  inputs: readonly PackageInput[];
  segmentSeconds: number;
  audio: AudioLayout;
}

/** Every rendition opened with the safe input options (the files come from earlier steps, maybe uploads). */
function inputArgs(inputs: readonly PackageInput[]): string[] {
  return inputs.flatMap((input) => safeInputArgs(input.path, { format: input.container }));
}

/** Separate audio is taken from the first input: the caller sorts the highest rendition first. */
function mapArgs(inputs: readonly PackageInput[], audio: AudioLayout): string[] {
  const maps = inputs.flatMap((_, i) =>
    audio === "muxed" ? ["-map", `${i}:v:0`, "-map", `${i}:a:0`] : ["-map", `${i}:v:0`],
  );
  if (audio === "separate") maps.push("-map", "0:a:0");
  return maps;
}

/** DASH-templated segment names, shared by the CMAF and DASH-only runs. */
const dashSegmentNames = [
  "-init_seg_name",
  "init-$RepresentationID$.m4s",
  "-media_seg_name",
  "seg-$RepresentationID$-$Number%05d$.m4s",
];

/**
 * One set of fMP4 (CMAF) segments for HLS and DASH: ffmpeg's dash muxer with `-hls_playlist 1` writes
 * `media_<n>.m3u8` beside the MPD from the same segments (its own master playlist is replaced by ours,
 * which has bandwidths measured from the segments). `manifestPath` is in the HLS folder; the caller
 * moves the MPD to the DASH folder with a BaseURL pointing back at the segments.
 */
export function cmafArgs(options: PackageArgsOptions, manifestPath: string): string[] {
  const { inputs, segmentSeconds } = options;
  // Shared segments hold one stream each, so muxed audio is not possible here (the step refuses it).
  const audio: AudioLayout = options.audio === "none" ? "none" : "separate";
  return [
    ...inputArgs(inputs),
    ...mapArgs(inputs, audio),
    "-c",
    "copy",
    "-f",
    "dash",
    "-dash_segment_type",
    "mp4",
    "-seg_duration",
    String(segmentSeconds),
    "-use_template",
    "1",
    "-use_timeline",
    "1",
    "-adaptation_sets",
    adaptationSets(inputs, audio),
    ...dashSegmentNames,
    "-hls_playlist",
    "1",
    "-hls_master_name",
    MASTER_PLAYLIST,
    "-y",
    manifestPath,
  ];
}

/**
 * DASH on its own. ffmpeg makes one Representation per stream, so DASH has no muxed audio: with
 * `muxed` the highest rendition's audio becomes its own AdaptationSet, as with `separate`.
 */
export function dashArgs(options: PackageArgsOptions, manifestPath: string): string[] {
  const audio: AudioLayout = options.audio === "none" ? "none" : "separate";
  return [
    ...inputArgs(options.inputs),
    ...mapArgs(options.inputs, audio),
    "-c",
    "copy",
    "-f",
    "dash",
    "-dash_segment_type",
    "mp4",
    "-seg_duration",
    String(options.segmentSeconds),
    "-use_template",
    "1",
    "-use_timeline",
    "1",
    "-adaptation_sets",
    adaptationSets(options.inputs, audio),
    ...dashSegmentNames,
    "-y",
    manifestPath,
  ];
}

function adaptationSets(inputs: readonly PackageInput[], audio: AudioLayout): string {
  const video = "id=0,streams=v";
  return audio === "none" || !inputs.some((i) => i.hasAudio) ? video : `${video} id=1,streams=a`;
}

/** HLS on its own, with ffmpeg's hls muxer: one media playlist per rendition (and one for separate audio). */
export function hlsArgs(
  options: PackageArgsOptions & { segmentType: HlsSegmentType },
  dir: string,
): string[] {
  const { inputs, audio, segmentType } = options;
  const extension = segmentType === "fmp4" ? "m4s" : "ts";
  return [
    ...inputArgs(inputs),
    ...mapArgs(inputs, audio),
    "-c",
    "copy",
    "-f",
    "hls",
    "-hls_time",
    String(options.segmentSeconds),
    "-hls_playlist_type",
    "vod",
    "-hls_segment_type",
    segmentType === "fmp4" ? "fmp4" : "mpegts",
    "-hls_flags",
    "independent_segments",
    "-var_stream_map",
    varStreamMap(inputs, audio),
    "-hls_segment_filename",
    `${dir}/seg-%v-%05d.${extension}`,
    ...(segmentType === "fmp4" ? ["-hls_fmp4_init_filename", "init-%v.m4s"] : []),
    "-y",
    `${dir}/media_%v.m3u8`,
  ];
}

/** `name:<n>` makes `%v` the rendition's index, so playlists are `media_<n>.m3u8` as with CMAF. */
function varStreamMap(inputs: readonly PackageInput[], audio: AudioLayout): string {
  const entries = inputs.map((_, i) => {
    if (audio === "muxed") return `v:${i},a:${i},name:${i}`;
    if (audio === "separate") return `v:${i},agroup:audio,name:${i}`;
    return `v:${i},name:${i}`;
  });
  if (audio === "separate") entries.push(`a:0,agroup:audio,name:${audioPlaylistIndex(inputs)}`);
  return entries.join(" ");
}

/** What ffprobe says of a stream, for codec strings: `-show_data` prints the extradata as a hex dump. */
export interface StreamCodecFacts {
  codec: string;
  profile?: string | undefined;
  level?: number | undefined;
  /** ffprobe's hex dump of the codec's extradata (`-show_data`). */
  extradata?: string | undefined;
}

/**
 * The RFC 6381 string HLS CODECS and DASH `codecs` carry. For H.264 it is `avc1.` and bytes 1–3 of the
 * avcC record (profile, constraint flags, level), read from ffprobe's hex dump, so it is exactly what
 * the stream says rather than a guess from the profile's name.
 */
export function codecString(facts: StreamCodecFacts): string | undefined {
  if (facts.codec === "h264") {
    const bytes = hexDumpBytes(facts.extradata ?? "");
    if (bytes.length >= 4 && bytes[0] === "01") return `avc1.${bytes.slice(1, 4).join("")}`;
    return avcFromProfile(facts.profile, facts.level);
  }
  if (facts.codec === "aac") {
    if (facts.profile === "HE-AAC") return "mp4a.40.5";
    if (facts.profile === "HE-AACv2") return "mp4a.40.29";
    return "mp4a.40.2";
  }
  if (facts.codec === "mp3") return "mp4a.40.34";
  if (facts.codec === "ac3") return "ac-3";
  if (facts.codec === "eac3") return "ec-3";
  if (facts.codec === "opus") return "Opus";
  return undefined;
}

/** `00000000: 0142 c00c ffe1 ...  .B...` → ["01", "42", "c0", "0c", "ff", "e1", ...] (first line is enough). */
export function hexDumpBytes(dump: string): string[] {
  const line = dump.split("\n").find((l) => /^[0-9a-f]{8}:/i.test(l.trim()));
  if (line === undefined) return [];
  const hex = line
    .trim()
    .slice(9, 9 + 40)
    .replace(/\s+/g, "");
  return (hex.match(/[0-9a-f]{2}/gi) ?? []).map((b) => b.toLowerCase());
}

/** A fallback when the extradata cannot be read: the usual constraint flags for each profile. */
function avcFromProfile(profile: string | undefined, level: number | undefined): string | undefined {
  const known: Record<string, string> = {
    "Constrained Baseline": "42c0",
    Baseline: "4200",
    Main: "4d40",
    High: "6400",
  };
  const prefix = profile === undefined ? undefined : known[profile];
  if (prefix === undefined || level === undefined || level <= 0) return undefined;
  return `avc1.${prefix}${level.toString(16).padStart(2, "0")}`;
}

/** A media playlist's segments, as the master playlist's bandwidth figures need them. */
export interface PlaylistSegment {
  uri: string;
  seconds: number;
}

export interface MediaPlaylist {
  /** The EXT-X-MAP init segment, for fMP4. */
  init: string | undefined;
  segments: PlaylistSegment[];
}

/** Reads the URIs and durations out of a VOD media playlist ffmpeg wrote. */
export function parseMediaPlaylist(text: string): MediaPlaylist {
  let init: string | undefined;
  let pending: number | undefined;
  const segments: PlaylistSegment[] = [];
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (line === "") continue;
    const map = /^#EXT-X-MAP:.*URI="([^"]+)"/.exec(line);
    if (map?.[1] !== undefined) init = map[1];
    const inf = /^#EXTINF:([\d.]+)/.exec(line);
    if (inf?.[1] !== undefined) pending = Number(inf[1]);
    if (!line.startsWith("#") && pending !== undefined) {
      segments.push({ uri: line, seconds: pending });
      pending = undefined;
    }
  }
  return { init, segments };
}

/**
 * The segments (all but the last) whose length is not the one asked for: ffmpeg can only cut on
 * keyframes, so these show renditions whose keyframes do not fall on multiples of the segment duration.
 */
export function offGridSegments(playlist: MediaPlaylist, segmentSeconds: number): PlaylistSegment[] {
  const toleranceSeconds = 0.1;
  return playlist.segments
    .slice(0, -1)
    .filter((segment) => Math.abs(segment.seconds - segmentSeconds) > toleranceSeconds);
}

/** Bits per second, as HLS wants them: the peak over any one segment and the average over all. */
export interface Bandwidth {
  peak: number;
  average: number;
}

/** From each segment's size in bytes and duration in seconds. */
export function measureBandwidth(segments: readonly { bytes: number; seconds: number }[]): Bandwidth {
  let peak = 0;
  let bytes = 0;
  let seconds = 0;
  for (const segment of segments) {
    bytes += segment.bytes;
    seconds += segment.seconds;
    if (segment.seconds > 0) peak = Math.max(peak, (segment.bytes * 8) / segment.seconds);
  }
  return { peak: Math.ceil(peak), average: seconds > 0 ? Math.ceil((bytes * 8) / seconds) : 0 };
}

export interface MasterVariant {
  uri: string;
  width: number;
  height: number;
  frameRate: number | undefined;
  /** The variant's own bandwidth; separate audio's is added to it. */
  bandwidth: Bandwidth;
  /** Video, and the audio codec when the audio is muxed into the variant. */
  codecs: string[];
}

export interface MasterAudio {
  uri: string;
  codec: string | undefined;
  channels: number | undefined;
  bandwidth: Bandwidth;
}

/**
 * The HLS master playlist: one EXT-X-STREAM-INF per variant with BANDWIDTH (peak, audio included),
 * AVERAGE-BANDWIDTH, RESOLUTION and CODECS, and the separate audio as an EXT-X-MEDIA group that every
 * variant refers to. URIs are relative: the media playlists sit beside the master.
 */
export function masterPlaylist(variants: readonly MasterVariant[], audio: MasterAudio | undefined): string {
  const lines = ["#EXTM3U", "#EXT-X-VERSION:7", "#EXT-X-INDEPENDENT-SEGMENTS"];
  if (audio !== undefined) {
    const channels = audio.channels === undefined ? "" : `,CHANNELS="${audio.channels}"`;
    lines.push(
      `#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="audio",NAME="audio",DEFAULT=YES,AUTOSELECT=YES${channels},URI="${audio.uri}"`,
    );
  }
  for (const variant of variants) {
    const codecs = [...variant.codecs, ...(audio?.codec === undefined ? [] : [audio.codec])];
    const peak = variant.bandwidth.peak + (audio?.bandwidth.peak ?? 0);
    const average = variant.bandwidth.average + (audio?.bandwidth.average ?? 0);
    const attributes = [
      `BANDWIDTH=${peak}`,
      `AVERAGE-BANDWIDTH=${average}`,
      `RESOLUTION=${variant.width}x${variant.height}`,
      `CODECS="${codecs.join(",")}"`,
    ];
    if (variant.frameRate !== undefined) attributes.push(`FRAME-RATE=${variant.frameRate.toFixed(3)}`);
    if (audio !== undefined) attributes.push(`AUDIO="audio"`);
    lines.push(`#EXT-X-STREAM-INF:${attributes.join(",")}`, variant.uri);
  }
  return `${lines.join("\n")}\n`;
}

/**
 * Points an MPD at segments kept in another folder (`../hls/` for CMAF), so the manifest can live at
 * `dash/manifest.mpd` while the segments are stored once, beside the HLS playlists.
 */
export function withBaseUrl(mpd: string, baseUrl: string): string {
  // The MPD schema orders BaseURL after ProgramInformation and before ServiceDescription and Period.
  const at = ["<ServiceDescription", "<Period"]
    .map((tag) => mpd.indexOf(tag))
    .filter((index) => index >= 0)
    .reduce((first, index) => Math.min(first, index), Number.POSITIVE_INFINITY);
  if (!Number.isFinite(at)) return mpd;
  return `${mpd.slice(0, at)}<BaseURL>${baseUrl}</BaseURL>\n\t${mpd.slice(at)}`;
}
