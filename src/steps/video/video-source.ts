import { ErrorCodes, PermanentError } from "../../errors/errors.js";
import { sniffImageFormat } from "../../media/sniff.js";
import { type ProbedSource, probeSource } from "../media-step-kit.js";
import { sourceFile } from "../step-input.js";
import type { StepContext } from "../step-type.js";

/** The file a video step reads, probed, refused with a clear reason when it has no moving picture. */
export async function videoSource(
  ctx: StepContext<unknown>,
  from: string | undefined,
): Promise<ProbedSource> {
  const file = sourceFile(ctx, from);
  if ((await sniffImageFormat(await ctx.localFile(file.key))) !== undefined) {
    throw notVideo(ctx, file.filename, "an image");
  }
  const source = await probeSource(ctx, file);
  if (source.info.kind !== "video" || source.info.video === undefined) {
    throw notVideo(ctx, source.filename, source.info.kind === "image" ? "an image" : "audio only");
  }
  return source;
}

function notVideo(ctx: StepContext<unknown>, filename: string, what: string): PermanentError {
  return new PermanentError(
    ErrorCodes.unsupportedMedia,
    `${ctx.step.type} needs a video, and ${filename} is ${what}`,
  );
}
