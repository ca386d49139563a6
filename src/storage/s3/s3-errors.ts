import { ErrorCodes, MediaflowError, PermanentError } from "../../errors/errors.js";

/**
 * Turns AWS SDK failures into the project's errors. SDK errors carry the S3 error name (`NoSuchKey`,
 * `AccessDenied`...) and the HTTP status in `$metadata`; neither they nor our messages include credentials.
 */

interface SdkErrorShape {
  name: string;
  message: string;
  status: number | undefined;
}

function shapeOf(error: unknown): SdkErrorShape | undefined {
  if (!(error instanceof Error)) return undefined;
  const metadata = "$metadata" in error ? error.$metadata : undefined;
  const status =
    typeof metadata === "object" && metadata !== null && "httpStatusCode" in metadata
      ? metadata.httpStatusCode
      : undefined;
  return {
    name: error.name,
    message: error.message,
    status: typeof status === "number" ? status : undefined,
  };
}

/** The object does not exist (GET answers `NoSuchKey`, HEAD has no body and answers a bare 404). */
export function isMissingObject(error: unknown): boolean {
  const shape = shapeOf(error);
  if (shape === undefined) return false;
  return (
    shape.name === "NoSuchKey" ||
    shape.name === "NotFound" ||
    (shape.status === 404 && shape.name !== "NoSuchBucket")
  );
}

export function isRangeNotSatisfiable(error: unknown): boolean {
  const shape = shapeOf(error);
  return shape !== undefined && (shape.name === "InvalidRange" || shape.status === 416);
}

const refusedNames = new Set([
  "AccessDenied",
  "InvalidAccessKeyId",
  "SignatureDoesNotMatch",
  "ExpiredToken",
  "InvalidToken",
]);

// Names the SDK gives to failures that a later attempt may not meet: the network, timeouts, throttling.
const transientNames = new Set([
  "TimeoutError",
  "RequestTimeout",
  "SlowDown",
  "ThrottlingException",
  "ServiceUnavailable",
  "InternalError",
]);

/**
 * A MediaflowError for a failed S3 call, saying what was being done (`action`, e.g. "read media/a.mp4 from
 * bucket b"). Server and network trouble stays retryable; refusals and bad requests do not.
 */
export function s3Failure(action: string, error: unknown): MediaflowError {
  if (error instanceof MediaflowError) return error;
  const shape = shapeOf(error);
  if (shape === undefined) {
    return new MediaflowError(ErrorCodes.internal, `cannot ${action}: ${String(error)}`, { cause: error });
  }
  const reason = shape.status === undefined ? shape.name : `${shape.name} (HTTP ${shape.status})`;
  if (shape.name === "NoSuchBucket") {
    return new PermanentError(ErrorCodes.notAvailable, `cannot ${action}: the bucket does not exist`, {
      cause: error,
    });
  }
  if (refusedNames.has(shape.name) || shape.status === 403) {
    return new PermanentError(
      ErrorCodes.notAvailable,
      `cannot ${action}: the S3 server refused the request, ${reason}; check the AWS credentials and the bucket's policy`,
      { cause: error },
    );
  }
  if (
    transientNames.has(shape.name) ||
    shape.status === undefined ||
    shape.status >= 500 ||
    shape.status === 429
  ) {
    return new MediaflowError(ErrorCodes.notAvailable, `cannot ${action}: ${reason}: ${shape.message}`, {
      cause: error,
    });
  }
  return new PermanentError(ErrorCodes.internal, `cannot ${action}: ${reason}: ${shape.message}`, {
    cause: error,
  });
}
