import { join } from "node:path";
import { containerArgs, teeContainerOptions, videoCodecArgs } from "../../media/encode-args.js";
import { fileUrl, safeInputArgs } from "../../media/ffmpeg-args.js";
import { contentTypeFor } from "../../util/content-type.js";
import type { JsonObject } from "../../util/json.js";
import { type ProbedSource, runFfmpegInStep } from "../media-step-kit.js";
import type { StepContext, StepOutput } from "../step-type.js";
import type { RenditionPlan } from "./rendition.js";

export interface PlannedOutput {
  plan: RenditionPlan;
  /** The output's name, extension included. */
  name: string;
}

export interface EncodeOptions {
  /** Filters applied once to the decoded picture before it is split into renditions (e.g. a rotation). */
  preFilter?: string | undefined;
  stallMs: number;
}

/**
 * Encodes every planned output in one ffmpeg process: the source is decoded once and its picture split
 * into one filter chain per output; audio that every output carries alike is encoded once. Each output
 * is then stored, described from its plan: its size, codecs and frame rate are set by the arguments, not
 * left to ffmpeg, so a run that succeeded made exactly them,
 * and it holds the whole source. Probing each output again cost an ffprobe start per output (0.13 s of
 * CPU each, 215 libraries to load), 0.4 s at the end of a 15 s ladder on 2 cores.
 */
export async function encodeOutputs(
  ctx: StepContext<unknown>,
  source: ProbedSource,
  outputs: readonly PlannedOutput[],
  options: EncodeOptions,
): Promise<StepOutput[]> {
  const files = outputs.map((output, index) => join(ctx.workDir, `out-${index}.${output.plan.extension}`));
  const args = [
    ...safeInputArgs(source.path, { format: source.info.container }),
    "-filter_complex",
    filterGraph(outputs, options.preFilter),
    ...outputArgs(outputs, files),
  ];
  // Storing the outputs takes the last few percent.
  await runFfmpegInStep(ctx, {
    args,
    durationSeconds: source.info.duration,
    stallMs: options.stallMs,
    progressRange: [0, 0.98],
  });

  const stored = await Promise.all(
    outputs.map(async ({ plan, name }, index) => {
      const output = await ctx.saveOutput(name, files[index] ?? "", {
        contentType: contentTypeFor(name),
        move: true,
      });
      output.meta = describeOutput(plan, source, output.bytes);
      return output;
    }),
  );
  ctx.progress(1);
  return stored;
}

// Camera make, GPS position and the like stay private; chapters rarely survive a re-encode intact.
const STRIPPED = ["-map_metadata", "-1", "-map_chapters", "-1", "-sn", "-dn"];

/**
 * Everything after the filter graph: the streams each file gets, their encoders and muxers. Renditions
 * that carry the same audio share one encode of it (see `sharedAudioArgs`); otherwise each file is an
 * output of its own.
 */
export function outputArgs(
  outputs: readonly Pick<PlannedOutput, "plan">[],
  files: readonly string[],
): string[] {
  const audio = outputs[0]?.plan.audioArgs.join(" ");
  const sameAudio = outputs.every(({ plan }) => plan.hasAudio && plan.audioArgs.join(" ") === audio);
  if (outputs.length > 1 && sameAudio) return sharedAudioArgs(outputs, files);
  return outputs.flatMap(({ plan }, index) => [
    "-map",
    `[v${index}]`,
    ...(plan.hasAudio ? ["-map", "0:a:0"] : []),
    ...videoCodecArgs(plan.video),
    ...plan.audioArgs,
    ...STRIPPED,
    ...containerArgs(plan.container),
    fileUrl(files[index] ?? ""),
  ]);
}

/**
 * One output through ffmpeg's tee muxer: every rendition's video and the audio encoded once, each file
 * getting its video and that audio. Encoding the same AAC once per rendition costs about 0.6 s of CPU per
 * 20 s of source, 4% of a three-rung 1080p ladder at preset veryfast.
 */
function sharedAudioArgs(
  outputs: readonly Pick<PlannedOutput, "plan">[],
  files: readonly string[],
): string[] {
  const args = outputs.flatMap((_, index) => ["-map", `[v${index}]`]);
  args.push("-map", "0:a:0");
  args.push(...outputs.flatMap(({ plan }, index) => videoCodecArgs(plan.video, `v:${index}`)));
  args.push(...(outputs[0]?.plan.audioArgs ?? []), ...STRIPPED);
  // A muxer behind tee cannot ask the encoders for codec headers up front, as MP4 and WebM need: ask here.
  args.push("-flags:v", "+global_header", "-flags:a", "+global_header", "-f", "tee");
  const slaves = outputs.map(({ plan }, index) => {
    const options = `${teeContainerOptions(plan.container)}:select=\\'v:${index},a\\'`;
    return `[${options}]${teeEscape(fileUrl(files[index] ?? ""))}`;
  });
  args.push(slaves.join("|"));
  return args;
}

/** A file name in tee's list, where `|`, brackets, quotes and backslashes mean something. */
function teeEscape(name: string): string {
  return name.replace(/[\\|[\]']/g, "\\$&");
}

function describeOutput(plan: RenditionPlan, source: ProbedSource, bytes: number): JsonObject {
  const { size, codecs, fps } = plan;
  const { duration } = source.info;
  const meta: JsonObject = { width: size.width, height: size.height, codec: codecs.video };
  if (duration !== undefined && duration > 0) {
    meta.duration = duration;
    meta.bitrate = Math.round((bytes * 8) / duration);
  }
  const frameRate = fps ?? source.info.video?.frameRate;
  if (frameRate !== undefined) meta.frameRate = frameRate;
  if (codecs.audio !== undefined) meta.audioCodec = codecs.audio;
  return meta;
}

/**
 * `[0:v:0]` → optional pre-filter → each output's scale chain, where an output is scaled from the
 * smallest other output at least as large with the same frame rate (a cascade: 1080p → 720p → 360p), so
 * each scaler reads fewer pixels than the source's; outputs that feed others are split. Labels are fixed
 * strings and the chains come from numbers mediaflow computed, never from user text.
 */
export function filterGraph(outputs: readonly Pick<PlannedOutput, "plan">[], preFilter?: string): string {
  const parents = outputs.map((_, index) => cascadeParent(outputs, index));
  const childrenOf = (parent: number | undefined) =>
    outputs.flatMap((_, index) => (parents[index] === parent ? [index] : []));
  const labels = (indexes: number[]) => indexes.map((index) => `[c${index}]`).join("");
  const head = preFilter === undefined ? "[0:v:0]" : `[0:v:0]${preFilter},`;
  const roots = childrenOf(undefined);
  const chains: string[] = [];
  if (roots.length > 1) chains.push(`${head}split=${roots.length}${labels(roots)}`);
  outputs.forEach((output, index) => {
    const input = roots.length === 1 && roots[0] === index ? head : `[c${index}]`;
    const children = childrenOf(index);
    const split = children.length === 0 ? "" : `,split=${children.length + 1}`;
    chains.push(`${input}${output.plan.filterChain}${split}[v${index}]${labels(children)}`);
  });
  return chains.join(";");
}

/** Bigger first, then in the given order: the order parents are chosen in, so there is no cycle. */
function comesBefore(outputs: readonly Pick<PlannedOutput, "plan">[], a: number, b: number): boolean {
  const sizeA = outputs[a]?.plan.size;
  const sizeB = outputs[b]?.plan.size;
  if (sizeA === undefined || sizeB === undefined) return false;
  const areaA = sizeA.width * sizeA.height;
  const areaB = sizeB.width * sizeB.height;
  return areaA !== areaB ? areaA > areaB : a < b;
}

function cascadeParent(outputs: readonly Pick<PlannedOutput, "plan">[], index: number): number | undefined {
  const own = outputs[index]?.plan;
  if (own === undefined) return undefined;
  let parent: number | undefined;
  outputs.forEach(({ plan }, candidate) => {
    if (candidate === index || !comesBefore(outputs, candidate, index)) return;
    const covers = plan.size.width >= own.size.width && plan.size.height >= own.size.height;
    if (!covers || plan.fps !== own.fps) return;
    if (parent === undefined || comesBefore(outputs, parent, candidate)) parent = candidate;
  });
  return parent;
}
