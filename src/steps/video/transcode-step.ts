import { z } from "zod";
import { ffmpegStepParams } from "../media-step-kit.js";
import { mediaTools } from "../media-tools.js";
import { fromParam } from "../step-input.js";
import { defineStep } from "../step-type.js";
import { encodeOutputs } from "./encode-outputs.js";
import { encodeTimeoutMs, encodingFields, outputNameParam, renditionFields } from "./encoding-params.js";
import { planRendition, renditionLabel } from "./rendition.js";
import { videoSource } from "./video-source.js";

export const transcodeStep = defineStep({
  type: "video.transcode",
  description:
    "Encodes one rendition: codec, size (aspect kept, even, no upscaling unless asked), CRF or bit rate " +
    "with peak and buffer, frame-rate cap, preset, audio, mp4 (faststart) or webm.",
  params: z.strictObject({
    from: fromParam,
    ...renditionFields,
    ...encodingFields,
    name: outputNameParam
      .optional()
      .meta({ description: "Output file name without extension (default e.g. 720p)." }),
    ...ffmpegStepParams,
  }),
  defaultTimeoutMs: encodeTimeoutMs,
  async run(ctx) {
    const { params } = ctx;
    const source = await videoSource(ctx, params.from);
    const plan = planRendition(await mediaTools(), source.info, params, params);
    const name = `${params.name ?? renditionLabel(plan.size)}.${plan.extension}`;
    const outputs = await encodeOutputs(ctx, source, [{ plan, name }], { stallMs: params.stallTimeout });
    return { outputs };
  },
});
