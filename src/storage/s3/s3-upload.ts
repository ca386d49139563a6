import { Readable } from "node:stream";
import type { S3Client } from "@aws-sdk/client-s3";
import { Upload } from "@aws-sdk/lib-storage";
import { ErrorCodes, PermanentError } from "../../errors/errors.js";
import { s3Failure } from "./s3-errors.js";

const mib = 1024 * 1024;

/** S3's own limits on a multipart upload: every part but the last at least 5 MiB, at most 10,000 parts. */
export const minPartBytes = 5 * mib;
const maxParts = 10_000;

/**
 * The part size when the body's length is unknown (a stream). 8 MiB allows objects up to 80 GB, far above
 * any media file we expect, while an upload holds at most (queueSize + 1) parts in memory: 24 MiB.
 */
export const defaultPartBytes = 8 * mib;

/**
 * Parts sent at once. Two keep the connection busy while the next part is being filled, and bound the
 * memory per upload; more only helps on links faster than one TCP stream, which workers rarely have.
 */
const queueSize = 2;

/**
 * The part size for a body: the configured one, raised for a known size so that it fits in 10,000 parts,
 * rounded up to a whole MiB.
 */
export function partSizeFor(knownBytes: number | undefined, configured = defaultPartBytes): number {
  const atLeast = Math.max(configured, minPartBytes);
  if (knownBytes === undefined) return atLeast;
  const needed = Math.ceil(knownBytes / maxParts);
  return Math.max(atLeast, Math.ceil(needed / mib) * mib);
}

export interface UploadRequest {
  client: S3Client;
  bucket: string;
  objectKey: string;
  /** The key as the caller knows it, for messages. */
  key: string;
  body: Readable | AsyncIterable<Uint8Array>;
  contentType: string | undefined;
  metadata: Record<string, string>;
  partBytes: number;
  maxBytes: number | undefined;
  signal: AbortSignal | undefined;
}

export interface UploadResult {
  etag: string | undefined;
  bytes: number;
}

/**
 * Streams a body to one S3 object. Small bodies go as one PUT, larger ones as a multipart upload; either way
 * S3 makes the object visible only once complete, so a reader sees the old object or the new one whole.
 *
 * Every failure ends the upload the same way, by failing the stream the Upload reads: passing maxBytes, the
 * body's own error, and the caller's signal. The Upload then stops reading, waits for the parts in flight,
 * and aborts the multipart upload (`leavePartsOnError: false`) before `done()` rejects, so when this
 * function rejects nothing is stored and no parts are left behind. `Upload.abort()` is deliberately not used:
 * its `done()` rejects at once and the multipart upload is aborted later, in the background, so "leaves
 * nothing" would only be eventually true. The price is that a cancel waits for the parts in flight.
 */
export async function uploadObject(request: UploadRequest): Promise<UploadResult> {
  const { signal, maxBytes, key } = request;
  signal?.throwIfAborted();
  let bytes = 0;
  let bodyFailure: unknown;
  const metered = async function* (): AsyncGenerator<Buffer> {
    try {
      for await (const chunk of request.body) {
        const buffer = toBuffer(chunk);
        bytes += buffer.length;
        // Refuse as soon as the limit is passed, before the chunk that passed it is sent.
        if (maxBytes !== undefined && bytes > maxBytes) throw tooLarge(key, maxBytes);
        yield buffer;
      }
    } catch (error) {
      bodyFailure = error;
      throw error;
    }
  };
  const source = Readable.from(metered(), { objectMode: false });
  const onAbort = (): void => {
    source.destroy(signal?.reason instanceof Error ? signal.reason : new Error("aborted"));
  };
  signal?.addEventListener("abort", onAbort, { once: true });
  const upload = new Upload({
    client: request.client,
    params: {
      Bucket: request.bucket,
      Key: request.objectKey,
      Body: source,
      ContentType: request.contentType,
      Metadata: request.metadata,
    },
    partSize: request.partBytes,
    queueSize,
    leavePartsOnError: false,
  });
  try {
    const result = await upload.done();
    return { etag: result.ETag, bytes };
  } catch (error) {
    // The caller's reason (user cancel or shutdown) and the body's own error win over what the Upload
    // reports for them; anything else is the server's or the network's doing.
    signal?.throwIfAborted();
    if (bodyFailure !== undefined) throw bodyFailure;
    throw s3Failure(`store ${key} in bucket ${request.bucket}`, error);
  } finally {
    signal?.removeEventListener("abort", onAbort);
    source.destroy();
  }
}

function toBuffer(chunk: unknown): Buffer {
  if (Buffer.isBuffer(chunk)) return chunk;
  if (chunk instanceof Uint8Array) return Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
  if (typeof chunk === "string") return Buffer.from(chunk);
  throw new PermanentError(ErrorCodes.invalidArgument, `a blob body must yield bytes, not ${typeof chunk}`);
}

export function tooLarge(key: string, maxBytes: number): PermanentError {
  return new PermanentError(
    ErrorCodes.inputTooLarge,
    `refusing to store ${key}: the body is larger than the limit of ${maxBytes} bytes`,
    { details: { maxBytes } },
  );
}
