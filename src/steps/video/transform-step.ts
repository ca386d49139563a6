import { z } from "zod";
import { ffmpegStepParams } from "../media-step-kit.js";
import { mediaTools } from "../media-tools.js";
import { fromParam } from "../step-input.js";
import { defineStep } from "../step-type.js";
import { encodeOutputs } from "./encode-outputs.js";
import { encodeTimeoutMs, encodingFields, outputNameParam, renditionFields } from "./encoding-params.js";
import { planRendition } from "./rendition.js";
import { videoSource } from "./video-source.js";

/** Filters for a clockwise turn; transpose=1 is 90° clockwise, transpose=2 90° counter-clockwise. */
const ROTATIONS: Readonly<Record<number, string | undefined>> = {
  0: undefined,
  90: "transpose=1",
  180: "hflip,vflip",
  270: "transpose=2",
};

export const transformStep = defineStep({
  type: "video.transform",
  description:
    "Rotates a video 90/180/270 degrees clockwise, flips it horizontally or vertically, and scales it.",
  params: z.strictObject({
    from: fromParam,
    rotate: z.union([z.literal(0), z.literal(90), z.literal(180), z.literal(270)]).prefault(0),
    flipHorizontal: z.boolean().prefault(false),
    flipVertical: z.boolean().prefault(false),
    ...renditionFields,
    ...encodingFields,
    name: outputNameParam.prefault("transformed"),
    ...ffmpegStepParams,
  }),
  defaultTimeoutMs: encodeTimeoutMs,
  async run(ctx) {
    const { params } = ctx;
    const source = await videoSource(ctx, params.from);
    const video = source.info.video ?? { width: 0, height: 0 };
    const filters = [ROTATIONS[params.rotate], params.flipHorizontal ? "hflip" : undefined]
      .concat(params.flipVertical ? "vflip" : undefined)
      .filter((filter): filter is string => filter !== undefined);
    // A quarter turn swaps the sides the scale step starts from.
    const quarterTurn = params.rotate === 90 || params.rotate === 270;
    const picture = quarterTurn ? { width: video.height, height: video.width } : video;
    const plan = planRendition(await mediaTools(), source.info, params, params, picture);
    const outputs = await encodeOutputs(ctx, source, [{ plan, name: `${params.name}.${plan.extension}` }], {
      preFilter: filters.length === 0 ? undefined : filters.join(","),
      stallMs: params.stallTimeout,
    });
    return { outputs };
  },
});
