import type { Dimensions } from "../../media/encode-args.js";
import type { RenditionParams } from "./encoding-params.js";

/**
 * A common 16:9 ladder: bit rates near Apple's HLS authoring guidance for H.264, which players and CDNs
 * are tuned for. Used when a ladder step names no renditions.
 */
export const DEFAULT_LADDER: readonly RenditionParams[] = Object.freeze([
  { height: 1080, bitrate: 5_000_000 },
  { height: 720, bitrate: 2_800_000 },
  { height: 360, bitrate: 800_000 },
]);

/**
 * The rungs worth encoding for a source: those that would not be upscaled, and when every rung is larger
 * than the source, the smallest one alone (it comes out at the source's size). Two rungs that come out
 * the same height keep only the first.
 */
export function rungsFor(
  source: Dimensions,
  rungs: readonly RenditionParams[],
  upscale: boolean,
): RenditionParams[] {
  if (upscale) return [...rungs];
  const fits = rungs.filter((rung) => !exceeds(rung, source));
  if (fits.length === 0) {
    const smallest = [...rungs].sort((a, b) => area(a, source) - area(b, source))[0];
    return smallest === undefined ? [] : [smallest];
  }
  const seen = new Set<string>();
  return fits.filter((rung) => {
    const key = `${rung.width ?? ""}x${rung.height ?? ""}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

function exceeds(rung: RenditionParams, source: Dimensions): boolean {
  return (
    (rung.height !== undefined && rung.height > source.height) ||
    (rung.width !== undefined && rung.width > source.width)
  );
}

function area(rung: RenditionParams, source: Dimensions): number {
  const height = rung.height ?? ((rung.width ?? source.width) * source.height) / source.width;
  const width = rung.width ?? (height * source.width) / source.height;
  return width * height;
}
