import { ErrorCodes } from "./errors.js";

/**
 * The HTTP status of each error code: the one table the API's error handler reads. A code that is not
 * here is a 500 when it is the engine's own, or a 422 when a step produced it (a job-level failure is not
 * an HTTP failure, so that case only arises for codes thrown while handling a request).
 */
export const httpStatusByCode: Readonly<Record<string, number>> = Object.freeze({
  [ErrorCodes.invalidPipeline]: 422,
  [ErrorCodes.invalidParams]: 422,
  [ErrorCodes.invalidArgument]: 400,
  [ErrorCodes.notFound]: 404,
  [ErrorCodes.conflict]: 409,
  [ErrorCodes.invalidKey]: 400,
  [ErrorCodes.inputTooLarge]: 413,
  [ErrorCodes.rangeNotSatisfiable]: 416,
  [ErrorCodes.unsupportedMedia]: 415,
  // A URL to import that cannot be used: the client's to fix, so not a 5xx.
  [ErrorCodes.privateAddress]: 422,
  [ErrorCodes.notAvailable]: 422,
  [ErrorCodes.timeout]: 504,
  unauthorized: 401,
  forbidden: 403,
  gone: 410,
  rate_limited: 429,
  validation_failed: 422,
  payload_too_large: 413,
  not_acceptable: 406,
  unsupported_media_type: 415,
  method_not_allowed: 405,
});

export function httpStatusFor(code: string): number {
  return httpStatusByCode[code] ?? 500;
}
