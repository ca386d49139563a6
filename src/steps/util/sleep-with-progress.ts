import { setTimeout as sleep } from "node:timers/promises";
import type { StepContext } from "../step-type.js";

/**
 * Waits `ms` in `slices` equal parts, reporting progress after each (which also keeps the lease alive).
 * Rejects with Node's AbortError as soon as `ctx.signal` aborts, even in the middle of a slice; an error
 * named AbortError is what `coerceError` turns into `cancelled`.
 */
export async function sleepWithProgress(
  ctx: Pick<StepContext<unknown>, "signal" | "progress">,
  ms: number,
  slices: number,
): Promise<void> {
  const count = Math.max(1, Math.floor(slices));
  for (let slice = 1; slice <= count; slice++) {
    // Slice ends are computed from the total so that rounding never adds up to more than `ms`.
    const wait = Math.round((ms * slice) / count) - Math.round((ms * (slice - 1)) / count);
    await sleep(wait, undefined, { signal: ctx.signal });
    ctx.progress(slice / count, `${slice} of ${count}`);
  }
}
