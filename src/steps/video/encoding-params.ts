import { z } from "zod";
import {
  AUDIO_CODECS,
  CONTAINERS,
  MAX_CRF,
  PRESETS,
  parseBitrate,
  VIDEO_CODECS,
} from "../../media/encode-args.js";

/**
 * Parameter schemas shared by the steps that encode video, so `crf`, `bitrate` or `preset` mean the same
 * in video.transcode, video.ladder and video.transform.
 */

export const bitrateParam = z
  .union([z.number().positive(), z.string()])
  .transform((value, ctx) => {
    try {
      return parseBitrate(value);
    } catch (error) {
      ctx.addIssue({ code: "custom", message: error instanceof Error ? error.message : String(error) });
      return z.NEVER;
    }
  })
  .meta({ description: "bits per second: a number, or e.g. 2500k, 2.5M" });

const side = z.int().min(16).max(8192);

/** One output size and rate: what a rung of a ladder or a single transcode asks for. */
export const renditionFields = {
  height: side.optional().meta({ description: "Output height; the width follows the aspect ratio." }),
  width: side.optional().meta({ description: "Output width; with height too, the picture fits the box." }),
  crf: z
    .int()
    .min(0)
    .max(Math.max(...Object.values(MAX_CRF)))
    .optional()
    .meta({
      description:
        "Constant quality (lower is better); the codec's default when neither crf nor bitrate is set.",
    }),
  bitrate: bitrateParam.optional().meta({ description: "Average video bit rate; replaces crf." }),
  maxrate: bitrateParam
    .optional()
    .meta({ description: "Peak bit rate (default 1.5x bitrate; with crf: capped CRF)." }),
  bufsize: bitrateParam
    .optional()
    .meta({ description: "Decoder buffer in bits (default 2 s at the peak rate)." }),
  maxFps: z
    .number()
    .positive()
    .max(240)
    .optional()
    .meta({ description: "Frame-rate cap; slower sources keep theirs." }),
};

/** An output's file name without its extension: a safe, flat name. */
export const outputNameParam = z.string().regex(/^[a-zA-Z0-9._-]+$/, "letters, digits, '.', '_' and '-'");

/** The longest one encode may run by default: a feature-length film at 1080p on a few cores. A stall is caught far sooner. */
export const encodeTimeoutMs = 6 * 60 * 60_000;

export const renditionSchema = z.strictObject({
  ...renditionFields,
  name: outputNameParam
    .optional()
    .meta({ description: "Output file name without extension (default e.g. 720p)." }),
});
export type RenditionParams = z.infer<typeof renditionSchema>;

/** How a step encodes, whatever the sizes. */
export const encodingFields = {
  codec: z.enum(VIDEO_CODECS).prefault("h264").meta({
    description: "h264 (libx264) always; h265, vp9 and av1 when this ffmpeg has the encoder.",
  }),
  preset: z.enum(PRESETS).prefault("fast").meta({
    description: "Speed against size, in x264's names; mapped onto each encoder's own speed setting.",
  }),
  container: z
    .enum(CONTAINERS)
    .optional()
    .meta({ description: "mp4 (faststart) or webm; default webm for vp9, else mp4." }),
  audioCodec: z.enum(AUDIO_CODECS).optional().meta({
    description: "aac (default in mp4), opus (default in webm), copy, or none to drop the audio.",
  }),
  audioBitrate: bitrateParam.optional(),
  audioChannels: z.int().min(1).max(8).optional(),
  keyframeInterval: z.number().positive().max(20).prefault(2).meta({
    description:
      "Seconds between keyframes, at the same instants in every rendition (segments are cut there).",
  }),
  upscale: z.boolean().prefault(false).meta({ description: "Allow output sizes larger than the source." }),
};
