import { checkImageLimits } from "../input-limits.js";
import { type SourceFile, sourceFile } from "../step-input.js";
import type { StepContext } from "../step-type.js";

/**
 * An image a step reads, as a file on local disk. Its header is not read here: the sharp pipeline that
 * reads the image checks it first (see `openImage`), and `withImageErrors` reads it only to explain a
 * failure.
 */
export interface ImageSource extends SourceFile {
  path: string;
}

export async function openImageSource(
  ctx: StepContext<unknown>,
  from: string | undefined,
): Promise<ImageSource> {
  const source = sourceFile(ctx, from);
  const path = await ctx.localFile(source.key);
  ctx.signal.throwIfAborted();
  checkImageLimits(source, path, ctx.job.limits);
  return { ...source, path };
}
