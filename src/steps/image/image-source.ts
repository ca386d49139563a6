import { type ImageHeader, readImageHeader } from "../../media/image/sharp-image.js";
import { type SourceFile, sourceFile } from "../step-input.js";
import type { StepContext } from "../step-type.js";

/** An image a step reads: on local disk, its header checked against the pixel limit. */
export interface ImageSource extends SourceFile {
  path: string;
  header: ImageHeader;
}

export async function openImageSource(
  ctx: StepContext<unknown>,
  from: string | undefined,
  maxPixels: number,
): Promise<ImageSource> {
  const source = sourceFile(ctx, from);
  const path = await ctx.localFile(source.key);
  ctx.signal.throwIfAborted();
  const header = await readImageHeader(path, { maxPixels, filename: source.filename });
  return { ...source, path, header };
}
