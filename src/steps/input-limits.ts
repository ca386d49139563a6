import { statSync } from "node:fs";
import { ErrorCodes, PermanentError } from "../errors/errors.js";
import type { MediaInfo } from "../media/probe.js";
import type { InputLimits } from "../pipeline/types.js";
import type { SourceFile } from "./step-input.js";

/**
 * Refuses a job's media beyond its pipeline's `limits`, with what was found and what is allowed, as
 * `input_too_large` (permanent: another attempt would find the same file). Files that earlier steps made
 * are not checked: a concatenation may rightly be longer than each of its inputs.
 */
export function checkMediaLimits(source: SourceFile, info: MediaInfo, limits: InputLimits | undefined): void {
  if (limits === undefined || source.madeByStep === true) return;
  check(source.filename, info, limits);
}

/**
 * `checkMediaLimits` for a picture at `path`: only its size is checked, since the image steps bound its
 * dimensions with their own `maxPixels`, read from its header.
 */
export function checkImageLimits(source: SourceFile, path: string, limits: InputLimits | undefined): void {
  if (limits?.maxBytes === undefined || source.madeByStep === true) return;
  check(source.filename, { bytes: statSync(path).size }, { maxBytes: limits.maxBytes });
}

function check(
  filename: string,
  found: Pick<MediaInfo, "bytes"> & Partial<Pick<MediaInfo, "duration" | "video">>,
  limits: InputLimits,
): void {
  const beyond = (what: string) =>
    new PermanentError(ErrorCodes.inputTooLarge, `${filename} is ${what}`, {
      details: { limits: { ...limits } },
    });
  if (limits.maxBytes !== undefined && found.bytes > limits.maxBytes) {
    throw beyond(`${bytes(found.bytes)}, above the pipeline's limit of ${bytes(limits.maxBytes)}`);
  }
  const durationMs = found.duration === undefined ? undefined : found.duration * 1000;
  if (limits.maxDurationMs !== undefined && durationMs !== undefined && durationMs > limits.maxDurationMs) {
    throw beyond(
      `${seconds(durationMs)} long, above the pipeline's limit of ${seconds(limits.maxDurationMs)}`,
    );
  }
  const video = found.video;
  if (video === undefined) return;
  const tooWide = limits.maxWidth !== undefined && video.width > limits.maxWidth;
  const tooTall = limits.maxHeight !== undefined && video.height > limits.maxHeight;
  if (tooWide || tooTall) {
    const allowed =
      limits.maxWidth !== undefined && limits.maxHeight !== undefined
        ? `${limits.maxWidth}x${limits.maxHeight}`
        : limits.maxWidth !== undefined
          ? `${limits.maxWidth} pixels wide`
          : `${limits.maxHeight} pixels high`;
    throw beyond(`${video.width}x${video.height}, above the pipeline's limit of ${allowed}`);
  }
}

/** `1,048,576 bytes`: exact, so that a file a byte over the limit does not read as equal to it. */
function bytes(count: number): string {
  return `${count.toLocaleString("en-US")} bytes`;
}

/** `2.5 s`, `7,200 s`. */
function seconds(ms: number): string {
  return `${(ms / 1000).toLocaleString("en-US", { maximumFractionDigits: 3 })} s`;
}
