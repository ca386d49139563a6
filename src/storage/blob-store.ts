import type { Readable } from "node:stream";

/**
 * The blob storage port: where inputs and outputs live. Keys are made by the server (never taken from a
 * client as they are) and checked by `assertValidKey`: every method refuses an invalid key with a
 * PermanentError `invalid_key`. Every adapter must pass test/conformance/blob-store.ts.
 */

export interface BlobInfo {
  key: string;
  bytes: number;
  /** Changes whenever the content changes; quoted the HTTP way is the caller's business. */
  etag: string;
  modifiedAt: number;
  contentType?: string;
}

export interface PutOptions {
  contentType?: string;
  signal?: AbortSignal;
  /** Refuse (and store nothing) once the body passes this many bytes: PermanentError `input_too_large`. */
  maxBytes?: number;
}

/**
 * Inclusive byte range, as HTTP `Range: bytes=start-end` means it. `end` omitted: to the end. As in HTTP,
 * an `end` past the last byte is clamped to it, and a `start` at or past the end of the blob is refused
 * with a PermanentError `range_not_satisfiable` (details.bytes: the blob's size).
 */
export interface ByteRange {
  start: number;
  end?: number;
}

export interface GetOptions {
  range?: ByteRange;
  signal?: AbortSignal;
}

export interface BlobStore {
  readonly kind: BlobStoreKind;
  /**
   * Stores a stream under `key`, atomically: readers see the old content or the whole new content, never a
   * part of it, and a failed or aborted put leaves nothing behind (the old content stays). An aborted put
   * rejects with the signal's reason; a failing body rejects with the body's error.
   */
  put(key: string, body: Readable | AsyncIterable<Uint8Array>, options?: PutOptions): Promise<BlobInfo>;
  /** Stores a local file (streamed, never read whole into memory). A missing file: NotFoundError. */
  putFile(key: string, path: string, options?: PutOptions): Promise<BlobInfo>;
  /**
   * Stores a local file the caller is done with, as putFile does, and removes it: the local store renames
   * it into place when it can (no copy); other adapters upload it, then delete it. On failure the file is
   * left where it was. A missing file: NotFoundError.
   */
  moveFile(key: string, path: string, options?: PutOptions): Promise<BlobInfo>;
  /** Throws NotFoundError when the key does not exist. */
  get(key: string, options?: GetOptions): Promise<Readable>;
  /**
   * Copies a blob to a local file (streamed), e.g. for a tool that needs to seek. Atomic: `path` appears
   * complete or not at all. Its directory must exist.
   */
  download(key: string, path: string, options?: { signal?: AbortSignal }): Promise<void>;
  stat(key: string): Promise<BlobInfo | undefined>;
  /**
   * Every blob whose key starts with `prefix` (any string, not only up to a `/`), in key order: the byte
   * order of the UTF-8 keys, as S3 lists them.
   */
  list(prefix: string): AsyncIterable<BlobInfo>;
  /** Deleting a missing key is not an error. */
  delete(key: string): Promise<void>;
  /**
   * A path on this machine where the blob can be read directly, when the adapter has one (local disk), so
   * tools read it without a copy. Undefined otherwise.
   */
  localPath(key: string): string | undefined;
  /**
   * A URL clients can use to reach the blob without going through mediaflow (a presigned S3 URL), when
   * the adapter has such URLs; the local store has none and leaves this out. For a PUT, `bytes` is the
   * exact size the upload must have (part of the signature where the service supports it).
   */
  directUrl?(key: string, request: DirectUrlRequest): Promise<string>;
  close(): Promise<void>;
}

export interface DirectUrlRequest {
  method: "GET" | "PUT";
  /** Epoch ms. */
  expiresAt: number;
  contentType?: string;
  bytes?: number;
}

export type BlobStoreKind = "local" | "s3";
