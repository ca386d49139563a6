import { join } from "node:path";
import { z } from "zod";
import { ErrorCodes, PermanentError } from "../../errors/errors.js";
import {
  audioEncoderFor,
  containerArgs,
  DEFAULT_AUDIO_BITRATE,
  formatNumber,
} from "../../media/encode-args.js";
import { fileUrl, safeInputArgs } from "../../media/ffmpeg-args.js";
import { probeMedia } from "../../media/probe.js";
import type { JsonObject } from "../../util/json.js";
import { ffmpegStepParams, probeSource, runFfmpegInStep } from "../media-step-kit.js";
import { mediaTools } from "../media-tools.js";
import { fromParam, sourceFile } from "../step-input.js";
import { defineStep } from "../step-type.js";
import { bitrateParam, outputNameParam } from "../video/encoding-params.js";
import { type LoudnessTarget, measureFilter, normalizeFilter, parseMeasurement } from "./loudness.js";

const FORMATS = {
  aac: { extension: "m4a", contentType: "audio/mp4", container: ["-f", "mp4", "-movflags", "+faststart"] },
  mp3: { extension: "mp3", contentType: "audio/mpeg", container: containerArgs("mp3") },
  opus: { extension: "opus", contentType: "audio/ogg", container: containerArgs("ogg") },
} as const;

/** Broadcast (EBU R128) targets by default; streaming services aim louder, around -14 to -16 LUFS. */
const loudnessSchema = z.strictObject({
  integrated: z.number().min(-70).max(-5).prefault(-23),
  truePeak: z.number().min(-9).max(0).prefault(-1),
  range: z.number().min(1).max(50).prefault(7),
});

export const extractAudioStep = defineStep({
  type: "audio.extract",
  description: "Extracts the audio track as AAC, MP3 or Opus, optionally normalised to EBU R128 loudness.",
  params: z.strictObject({
    from: fromParam,
    codec: z.enum(["aac", "mp3", "opus"]).prefault("aac"),
    bitrate: bitrateParam.optional(),
    channels: z.int().min(1).max(8).optional(),
    sampleRate: z.int().min(8_000).max(192_000).optional(),
    normalize: z
      .union([z.boolean(), loudnessSchema])
      .prefault(false)
      .meta({ description: "true for EBU R128 (-23 LUFS, -1 dBTP), or {integrated, truePeak, range}." }),
    name: outputNameParam.prefault("audio"),
    ...ffmpegStepParams,
  }),
  defaultTimeoutMs: 2 * 60 * 60_000,
  async run(ctx) {
    const { params } = ctx;
    const source = await probeSource(ctx, sourceFile(ctx, params.from));
    if (source.info.audio === undefined) {
      throw new PermanentError(ErrorCodes.unsupportedMedia, `${source.filename} has no audio track`, {
        details: { kind: source.info.kind },
      });
    }
    const tools = await mediaTools();
    const encoder = audioEncoderFor(tools, params.codec) ?? params.codec;
    const format = FORMATS[params.codec];
    const input = safeInputArgs(source.path, { format: source.info.container });
    const duration = source.info.duration;
    const target: LoudnessTarget | undefined =
      params.normalize === false
        ? undefined
        : params.normalize === true
          ? loudnessSchema.parse({})
          : params.normalize;

    let filter: string | undefined;
    const meta: JsonObject = {};
    if (target !== undefined) {
      // Pass one measures (no output file); pass two applies one gain computed from the measurement.
      const measured = await runFfmpegInStep(ctx, {
        // loudnorm prints its figures at info level; the global options keep ffmpeg to errors.
        args: [
          "-loglevel",
          "info",
          ...input,
          "-map",
          "0:a:0",
          "-af",
          measureFilter(target),
          "-f",
          "null",
          "-",
        ],
        durationSeconds: duration,
        stallMs: params.stallTimeout,
        progressRange: [0, 0.5],
      });
      const measurement = parseMeasurement(measured.stderrTail);
      if (measurement !== undefined) {
        filter = normalizeFilter(target, measurement);
        meta.measuredLoudness = Number(measurement.input_i);
      }
      meta.targetLoudness = target.integrated;
    }

    const out = join(ctx.workDir, `audio.${format.extension}`);
    const args = [...input, "-map", "0:a:0", "-vn", "-sn", "-dn", "-map_metadata", "-1"];
    if (filter !== undefined) args.push("-af", filter);
    args.push("-c:a", encoder, "-b:a", String(params.bitrate ?? DEFAULT_AUDIO_BITRATE[params.codec]));
    if (params.channels !== undefined) args.push("-ac", String(params.channels));
    // loudnorm works at 192 kHz internally and outputs that rate; name a normal one unless asked.
    const sampleRate = params.sampleRate ?? (filter !== undefined ? 48_000 : undefined);
    if (sampleRate !== undefined) args.push("-ar", formatNumber(sampleRate));
    args.push(...format.container, fileUrl(out));
    await runFfmpegInStep(ctx, {
      args,
      durationSeconds: duration,
      stallMs: params.stallTimeout,
      progressRange: target === undefined ? [0, 0.98] : [0.5, 0.98],
    });

    const info = await probeMedia(tools, out, { signal: ctx.signal });
    Object.assign(meta, {
      codec: info.audio?.codec ?? params.codec,
      channels: info.audio?.channels ?? 0,
      sampleRate: info.audio?.sampleRate ?? 0,
    });
    if (info.duration !== undefined) meta.duration = info.duration;
    const output = await ctx.saveOutput(`${params.name}.${format.extension}`, out, {
      move: true,
      contentType: format.contentType,
      meta,
    });
    return { outputs: [output] };
  },
});
