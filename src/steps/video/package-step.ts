import { mkdir, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { z } from "zod";
import { ErrorCodes, PermanentError } from "../../errors/errors.js";
import { ffprobeArgs } from "../../media/ffmpeg-args.js";
import { runTool } from "../../media/run-tool.js";
import type { JsonObject } from "../../util/json.js";
import { ffmpegStepParams, probeSource, runFfmpegInStep } from "../media-step-kit.js";
import { mediaTools } from "../media-tools.js";
import { fromOutput } from "../step-input.js";
import { defineStep, type StepContext, type StepOutput } from "../step-type.js";
import {
  type AudioLayout,
  audioPlaylistIndex,
  cmafArgs,
  codecString,
  DASH_DIR,
  dashArgs,
  HLS_DIR,
  hlsArgs,
  MANIFEST,
  MASTER_PLAYLIST,
  type MasterAudio,
  type MasterVariant,
  masterPlaylist,
  measureBandwidth,
  mediaPlaylistName,
  offGridSegments,
  type PackageInput,
  parseMediaPlaylist,
  type StreamCodecFacts,
  withBaseUrl,
} from "./package-args.js";

const packageParams = z.strictObject({
  formats: z
    .array(z.enum(["hls", "dash"]))
    .min(1)
    .prefault(["hls", "dash"])
    .meta({ description: "the manifests to write" }),
  segmentDuration: z
    .number()
    .positive()
    .max(60)
    .prefault(4)
    .meta({
      description:
        "seconds per segment; must be a multiple of the renditions' keyframe interval (2 s for mediaflow's " +
        "encodes), since a segment can only start on a keyframe and a copy cannot move keyframes",
    }),
  segmentType: z
    .enum(["fmp4", "ts"])
    .prefault("fmp4")
    .meta({ description: "HLS segments: fragmented MP4 (CMAF) or MPEG-TS; DASH always uses fMP4" }),
  cmaf: z
    .boolean()
    .optional()
    .meta({
      description:
        "one set of fMP4 segments shared by HLS and DASH; default true when both formats are written with fmp4 " +
        "segments and audio is not muxed",
    }),
  audio: z
    .enum(["separate", "muxed", "none"])
    .prefault("separate")
    .meta({
      description:
        "separate: one audio-only rendition from the highest rendition's audio; muxed: each variant keeps its " +
        "own audio (HLS only, DASH treats it as separate); none: video only",
    }),
  from: z
    .array(z.string().regex(/^[a-zA-Z0-9_-]+$/))
    .min(1)
    .optional()
    .meta({ description: "the rendition steps; default every needed step that succeeded" }),
  ...ffmpegStepParams,
});

type PackageParams = z.infer<typeof packageParams>;

/**
 * `video.package`: the fan-in of an ABR pipeline. Remuxes (never re-encodes) the MP4 renditions of the
 * steps it needs into HLS and/or DASH, and writes a master playlist whose bandwidths are measured from
 * the segments themselves. Output names keep the folders (`hls/…`, `dash/…`), and the engine keeps them
 * in the storage key, so relative URIs resolve beside the master playlist.
 */
export const packageStep = defineStep({
  type: "video.package",
  description:
    "Packages MP4 renditions (H.264/AAC with aligned keyframes) as HLS and DASH by stream copy: a master " +
    "playlist with BANDWIDTH, RESOLUTION and CODECS, one media playlist per rendition, the segments, and an " +
    "MPD. segmentDuration must be a multiple of the renditions' keyframe interval.",
  params: packageParams,
  defaultTimeoutMs: 30 * 60_000,
  async run(ctx) {
    const { params } = ctx;
    const inputs = await probeRenditions(ctx, renditionOutputs(ctx, params.from));
    const audio = audioLayout(params.audio, inputs);
    const wantsHls = params.formats.includes("hls");
    const wantsDash = params.formats.includes("dash");
    const cmafPossible = wantsHls && wantsDash && params.segmentType === "fmp4" && audio !== "muxed";
    const cmaf = params.cmaf ?? cmafPossible;
    if (cmaf && !cmafPossible) {
      throw new PermanentError(
        ErrorCodes.invalidParams,
        "cmaf needs both formats, segmentType fmp4 and audio other than muxed",
        { details: { formats: params.formats, segmentType: params.segmentType, audio } },
      );
    }

    const hlsDir = join(ctx.workDir, HLS_DIR);
    const dashDir = join(ctx.workDir, DASH_DIR);
    const durationSeconds = Math.max(...inputs.map((i) => i.duration ?? 0)) || undefined;
    const common = { inputs, segmentSeconds: params.segmentDuration, audio };
    const run = (args: string[], progressRange: [number, number]) =>
      runFfmpegInStep(ctx, { args, durationSeconds, stallMs: params.stallTimeout, progressRange });

    if (cmaf) {
      await mkdir(hlsDir, { recursive: true });
      await mkdir(dashDir, { recursive: true });
      const writtenManifest = join(hlsDir, MANIFEST);
      await run(cmafArgs(common, writtenManifest), [0, 0.9]);
      const mpd = await readFile(writtenManifest, "utf8");
      await writeFile(join(dashDir, MANIFEST), withBaseUrl(mpd, `../${HLS_DIR}/`));
      await rm(writtenManifest);
    } else {
      const hlsShare = wantsDash ? 0.45 : 0.9;
      if (wantsHls) {
        await mkdir(hlsDir, { recursive: true });
        await run(hlsArgs({ ...common, segmentType: params.segmentType }, hlsDir), [0, hlsShare]);
      }
      if (wantsDash) {
        await mkdir(dashDir, { recursive: true });
        await run(dashArgs(common, join(dashDir, MANIFEST)), [wantsHls ? hlsShare : 0, 0.9]);
      }
    }
    if (wantsHls) {
      await writeFile(join(hlsDir, MASTER_PLAYLIST), await buildMaster(hlsDir, inputs, audio));
      await warnOffGrid(ctx, hlsDir, params.segmentDuration);
    }

    const outputs: StepOutput[] = [];
    if (wantsHls) outputs.push(...(await saveFolder(ctx, hlsDir, HLS_DIR, MASTER_PLAYLIST)));
    if (wantsDash) outputs.push(...(await saveFolder(ctx, dashDir, DASH_DIR, MANIFEST)));
    ctx.progress(1);
    const data: JsonObject = {
      formats: params.formats,
      cmaf,
      audio,
      segmentDuration: params.segmentDuration,
      renditions: inputs.map((i) => ({ width: i.width, height: i.height, codec: i.videoCodec })),
    };
    if (wantsHls) data.master = `${HLS_DIR}/${MASTER_PLAYLIST}`;
    if (wantsDash) data.manifest = `${DASH_DIR}/${MANIFEST}`;
    return { outputs, data };
  },
});

/** What this step's own use of a rendition needs beyond PackageInput. */
interface ProbedRendition extends PackageInput {
  duration: number | undefined;
}

/**
 * The MP4 outputs of the parents named in `from` (default: every parent), skipping parents that did not
 * succeed: with `join: some-succeeded` the package is made from the renditions that exist.
 */
function renditionOutputs(ctx: StepContext<PackageParams>, from: string[] | undefined): StepOutput[] {
  for (const name of from ?? []) {
    if (ctx.needs[name] === undefined) {
      throw new PermanentError(
        ErrorCodes.invalidParams,
        `from: ${name} is not among the steps ${ctx.step.name} needs`,
      );
    }
  }
  const names = from ?? Object.keys(ctx.needs);
  const outputs = names.flatMap((name) => {
    const parent = ctx.needs[name];
    return parent?.status === "succeeded" ? parent.outputs.filter(isVideoFile) : [];
  });
  if (outputs.length === 0) {
    throw new PermanentError(
      ErrorCodes.invalidArgument,
      `${ctx.step.name} found no video renditions among the outputs of ${names.join(", ") || "its parents"}`,
    );
  }
  return outputs;
}

function isVideoFile(output: StepOutput): boolean {
  return output.contentType.startsWith("video/") || /\.(mp4|m4v|mov)$/i.test(output.name);
}

/** Probes every rendition and sorts them highest first (the separate audio is taken from the first). */
async function probeRenditions(
  ctx: StepContext<PackageParams>,
  outputs: StepOutput[],
): Promise<ProbedRendition[]> {
  const renditions: ProbedRendition[] = [];
  for (const output of outputs) {
    const source = await probeSource(ctx, fromOutput(output));
    const { info } = source;
    if (info.video === undefined) {
      throw new PermanentError(ErrorCodes.unsupportedMedia, `rendition ${output.name} has no video`);
    }
    const facts = await codecFacts(ctx, source.path);
    const videoCodec = codecString(facts.video ?? { codec: info.video.codec });
    if (videoCodec === undefined) {
      throw new PermanentError(
        ErrorCodes.unsupportedMedia,
        `rendition ${output.name} is ${info.video.codec}; video.package packages H.264 renditions`,
      );
    }
    renditions.push({
      path: source.path,
      container: info.container,
      width: info.video.width,
      height: info.video.height,
      frameRate: info.video.frameRate,
      hasAudio: info.audio !== undefined,
      videoCodec,
      audioCodec:
        info.audio === undefined ? undefined : codecString(facts.audio ?? { codec: info.audio.codec }),
      audioChannels: info.audio?.channels,
      duration: info.duration,
    });
  }
  return renditions.sort((a, b) => b.height - a.height || b.width - a.width);
}

const codecFactsOutput = z.object({
  streams: z
    .array(
      z.object({
        codec_type: z.string().optional(),
        codec_name: z.string().optional(),
        profile: z.string().optional(),
        level: z.number().optional(),
        extradata: z.string().optional(),
      }),
    )
    .default([]),
});

/** ffprobe again, for what MediaInfo leaves out: the profile, level and avcC bytes codec strings need. */
async function codecFacts(
  ctx: StepContext<unknown>,
  path: string,
): Promise<{ video?: StreamCodecFacts; audio?: StreamCodecFacts }> {
  const tools = await mediaTools();
  const { stdout } = await runTool({
    command: tools.ffprobe,
    name: "ffprobe",
    args: ffprobeArgs(path, [
      "-print_format",
      "json",
      "-show_data",
      "-show_entries",
      "stream=codec_type,codec_name,profile,level,extradata",
    ]),
    signal: ctx.signal,
    timeoutMs: 30_000,
  });
  const { streams } = codecFactsOutput.parse(JSON.parse(stdout));
  const facts = (type: string): StreamCodecFacts | undefined => {
    const stream = streams.find((s) => s.codec_type === type);
    if (stream?.codec_name === undefined) return undefined;
    return {
      codec: stream.codec_name,
      profile: stream.profile,
      level: stream.level,
      extradata: stream.extradata,
    };
  };
  const result: { video?: StreamCodecFacts; audio?: StreamCodecFacts } = {};
  const video = facts("video");
  const audio = facts("audio");
  if (video !== undefined) result.video = video;
  if (audio !== undefined) result.audio = audio;
  return result;
}

/** Separate audio needs the highest rendition to have some; muxed needs every rendition to. */
function audioLayout(requested: AudioLayout, inputs: readonly PackageInput[]): AudioLayout {
  if (requested === "separate" && inputs[0]?.hasAudio !== true) return "none";
  if (requested === "muxed" && !inputs.every((i) => i.hasAudio)) {
    throw new PermanentError(
      ErrorCodes.unsupportedMedia,
      "audio: muxed needs audio in every rendition, and some have none",
    );
  }
  return requested;
}

/** The master playlist, with bandwidths measured from the segments ffmpeg wrote. */
async function buildMaster(
  dir: string,
  inputs: readonly PackageInput[],
  audio: AudioLayout,
): Promise<string> {
  const variants: MasterVariant[] = [];
  for (const [index, input] of inputs.entries()) {
    const uri = mediaPlaylistName(index);
    variants.push({
      uri,
      width: input.width,
      height: input.height,
      frameRate: input.frameRate,
      bandwidth: await playlistBandwidth(dir, uri),
      codecs:
        audio === "muxed" && input.audioCodec !== undefined
          ? [input.videoCodec, input.audioCodec]
          : [input.videoCodec],
    });
  }
  let separate: MasterAudio | undefined;
  if (audio === "separate") {
    const uri = mediaPlaylistName(audioPlaylistIndex(inputs));
    separate = {
      uri,
      codec: inputs[0]?.audioCodec,
      channels: inputs[0]?.audioChannels,
      bandwidth: await playlistBandwidth(dir, uri),
    };
  }
  return masterPlaylist(variants, separate);
}

async function playlistBandwidth(dir: string, playlist: string) {
  const { segments } = parseMediaPlaylist(await readFile(join(dir, playlist), "utf8"));
  const sized = await Promise.all(
    segments.map(async (s) => ({ seconds: s.seconds, bytes: (await stat(join(dir, s.uri))).size })),
  );
  return measureBandwidth(sized);
}

/** Segments of uneven length still play, but players switching renditions may stall; say so. */
async function warnOffGrid(ctx: StepContext<unknown>, dir: string, segmentSeconds: number): Promise<void> {
  const playlist = parseMediaPlaylist(await readFile(join(dir, mediaPlaylistName(0)), "utf8"));
  const uneven = offGridSegments(playlist, segmentSeconds);
  if (uneven.length === 0) return;
  ctx.log.warn(
    { segmentSeconds, uneven: uneven.slice(0, 5) },
    "segments differ from segmentDuration: the renditions' keyframes are not on multiples of it",
  );
}

/** Saves every file of a package folder as `<prefix>/<file>`, the playlist or manifest first. */
async function saveFolder(
  ctx: StepContext<unknown>,
  dir: string,
  prefix: string,
  first: string,
): Promise<StepOutput[]> {
  const files = (await readdir(dir)).sort(
    (a, b) => Number(b === first) - Number(a === first) || a.localeCompare(b),
  );
  const outputs: StepOutput[] = [];
  for (const file of files) {
    outputs.push(await ctx.saveOutput(`${prefix}/${file}`, join(dir, file), { move: true }));
  }
  return outputs;
}
