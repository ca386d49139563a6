import { z } from "zod";
import type { JsonValue } from "../../util/json.js";
import { ffmpegStepParams } from "../media-step-kit.js";
import { mediaTools } from "../media-tools.js";
import { fromParam } from "../step-input.js";
import { defineStep, split } from "../step-type.js";
import { encodeOutputs, type PlannedOutput } from "./encode-outputs.js";
import { encodeTimeoutMs, encodingFields, type RenditionParams, renditionSchema } from "./encoding-params.js";
import { DEFAULT_LADDER, rungsFor } from "./ladder-plan.js";
import { planRendition, renditionLabel } from "./rendition.js";
import { videoSource } from "./video-source.js";

/**
 * `video.ladder`: the renditions of an adaptive-bitrate ladder. `mode: single` encodes every rung in one
 * ffmpeg process from one decode (cheapest in total CPU: decoding and scaling the source once, and
 * encoding its audio once for all rungs, is a large share of the work for fast presets). `mode: map`
 * makes each rung a task of its own, so several workers encode in parallel (fastest wall-clock time when
 * workers are idle, and a failed rung retries alone).
 */
export const ladderStep = defineStep({
  type: "video.ladder",
  description:
    "Several renditions of one video, never upscaled: from one decode in one process (mode single) or one " +
    "task per rendition spread over workers (mode map).",
  params: z.strictObject({
    from: fromParam,
    renditions: z
      .array(renditionSchema)
      .min(1)
      .max(12)
      .prefault([...DEFAULT_LADDER])
      .meta({ description: "The rungs; default 1080p/720p/360p at 5M/2.8M/800k." }),
    mode: z.enum(["single", "map"]).prefault("single"),
    ...encodingFields,
    ...ffmpegStepParams,
  }),
  defaultTimeoutMs: encodeTimeoutMs,
  async run(ctx) {
    const { params } = ctx;
    const source = await videoSource(ctx, params.from);
    const video = source.info.video ?? { width: 0, height: 0 };
    const tools = await mediaTools();

    const plan = (rung: RenditionParams): PlannedOutput => {
      const rendition = planRendition(tools, source.info, params, rung);
      return {
        plan: rendition,
        name: `${rung.name ?? renditionLabel(rendition.size)}.${rendition.extension}`,
      };
    };

    if (ctx.part !== undefined) {
      const rung = renditionSchema.parse(ctx.part.input);
      return { outputs: await encodeOutputs(ctx, source, [plan(rung)], { stallMs: params.stallTimeout }) };
    }
    const rungs = rungsFor(video, params.renditions, params.upscale);
    // Planning every rung first refuses a missing encoder or a bad pairing before any work is split.
    const planned = rungs.map(plan);
    if (params.mode === "map") return split(rungs.map((rung) => toJson(rung)));
    return { outputs: await encodeOutputs(ctx, source, planned, { stallMs: params.stallTimeout }) };
  },
});

/** A rung as the part's input: the params as given (bit rates already in bits per second). */
function toJson(rung: RenditionParams): JsonValue {
  const json: Record<string, JsonValue> = {};
  for (const [key, value] of Object.entries(rung)) if (value !== undefined) json[key] = value;
  return json;
}
