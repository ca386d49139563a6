import { ErrorCodes, PermanentError } from "../errors/errors.js";
import type { ByteRange } from "./blob-store.js";

/** Refuses a range no adapter can serve: a negative or fractional start, or an end before the start. */
export function assertValidRange(range: ByteRange): void {
  const { start, end } = range;
  if (
    !Number.isSafeInteger(start) ||
    start < 0 ||
    (end !== undefined && (!Number.isSafeInteger(end) || end < start))
  ) {
    throw new PermanentError(ErrorCodes.invalidArgument, `invalid byte range ${JSON.stringify(range)}`);
  }
}
