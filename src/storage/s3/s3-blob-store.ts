import { type FileHandle, open, unlink } from "node:fs/promises";
import { addAbortSignal, Readable } from "node:stream";
import {
  DeleteObjectCommand,
  GetObjectCommand,
  type GetObjectCommandOutput,
  HeadBucketCommand,
  HeadObjectCommand,
  type HeadObjectCommandOutput,
  ListObjectsV2Command,
  type ListObjectsV2CommandOutput,
  PutObjectCommand,
  S3Client,
  type S3ClientConfig,
} from "@aws-sdk/client-s3";
import { getSignedUrl } from "@aws-sdk/s3-request-presigner";
import { ErrorCodes, MediaflowError, NotFoundError, PermanentError } from "../../errors/errors.js";
import type {
  BlobInfo,
  BlobStore,
  ByteRange,
  DirectUrlRequest,
  GetOptions,
  PutOptions,
} from "../blob-store.js";
import { assertValidRange } from "../byte-range.js";
import { errnoCode, writeStreamAtomically } from "../durable-fs.js";
import { assertValidKey } from "../keys.js";
import { StoreLifecycle } from "../store-lifecycle.js";
import { isMissingObject, isRangeNotSatisfiable, s3Failure } from "./s3-errors.js";
import { parseS3Location, type S3Location } from "./s3-location.js";
import { partSizeFor, tooLarge, uploadObject } from "./s3-upload.js";

/**
 * S3 has no "no content type": an object stored without one gets a default (`application/octet-stream` or
 * `binary/octet-stream`, per server). The port promises that a put without a type reports none, so such
 * objects carry this user-metadata marker and read back untyped.
 */
const untypedMarker = "mediaflow-untyped";

/**
 * HEADs sent at once while listing, to fill in content types (ListObjectsV2 does not return them). Enough
 * to hide the latency of a round trip per object, few enough to stay far from any server's request rate.
 */
const listHeadConcurrency = 8;

// SigV4 presigned URLs are valid for at most seven days.
const maxPresignSeconds = 7 * 24 * 60 * 60;

export interface S3BlobStoreOptions {
  /** Explicit credentials; by default the AWS SDK's chain (environment, shared files, instance roles). */
  credentials?: S3ClientConfig["credentials"];
  /** The multipart part size for bodies of unknown length (at least 5 MiB); see s3-upload.ts. */
  partBytes?: number;
}

export interface PresignGetOptions {
  expiresInSeconds: number;
  /** Sent back as the response's Content-Disposition, e.g. `attachment; filename="clip.mp4"`. */
  contentDisposition?: string;
}

export interface PresignPutOptions {
  expiresInSeconds: number;
  /** The Content-Type the uploader must send (it is part of the signature). */
  contentType?: string;
  /** The exact Content-Length the uploader must send (signed too, so S3 refuses any other size). */
  contentLength?: number;
}

/**
 * Opens the blob store an `s3://` location names (see s3-location.ts), and checks the bucket answers, so a
 * wrong bucket, endpoint or credential is reported at start rather than at the first upload.
 */
export async function openS3BlobStore(
  location: string | S3Location,
  options: S3BlobStoreOptions = {},
): Promise<S3BlobStore> {
  const parsed = typeof location === "string" ? parseS3Location(location) : location;
  const store = new S3BlobStore(parsed, options);
  try {
    await store.client.send(new HeadBucketCommand({ Bucket: parsed.bucket }));
  } catch (error) {
    await store.close();
    // HEAD has no body, so a missing bucket is a bare 404 rather than NoSuchBucket.
    if (isMissingObject(error)) {
      throw new PermanentError(
        ErrorCodes.notAvailable,
        `the S3 bucket ${parsed.bucket} does not exist${parsed.endpoint === undefined ? "" : ` at ${parsed.endpoint}`}`,
        { cause: error },
      );
    }
    throw s3Failure(`open the S3 bucket ${parsed.bucket}`, error);
  }
  return store;
}

/**
 * The blob store on an S3 bucket (AWS or any S3-compatible server), every key stored under the location's
 * prefix. Puts stream through lib-storage's Upload (see s3-upload.ts); S3 publishes an object only when it
 * is complete, which is what makes puts atomic. The put's BlobInfo comes from a HEAD of what was stored, so
 * it matches later stats exactly (S3 assigns the modification time).
 */
export class S3BlobStore implements BlobStore {
  readonly kind = "s3" as const;
  readonly client: S3Client;
  private readonly bucket: string;
  private readonly keyPrefix: string;
  private readonly lifecycle: StoreLifecycle;
  private readonly partBytes: number | undefined;
  /** Puts, deletes and downloads under way, which close() lets finish. */

  constructor(location: S3Location, options: S3BlobStoreOptions = {}) {
    this.bucket = location.bucket;
    this.lifecycle = new StoreLifecycle(`the S3 blob store on bucket ${location.bucket}`);
    this.keyPrefix = location.keyPrefix;
    this.partBytes = options.partBytes;
    const config: S3ClientConfig = {
      forcePathStyle: location.forcePathStyle,
      // Checksums only where S3 demands them: S3-compatible servers (MinIO, R2, s3rver) do not all
      // understand the flexible checksum headers the SDK sends by default since early 2025.
      requestChecksumCalculation: "WHEN_REQUIRED",
      responseChecksumValidation: "WHEN_REQUIRED",
    };
    if (location.endpoint !== undefined) config.endpoint = location.endpoint;
    if (location.region !== undefined) config.region = location.region;
    if (options.credentials !== undefined) config.credentials = options.credentials;
    this.client = new S3Client(config);
  }

  put(key: string, body: Readable | AsyncIterable<Uint8Array>, options: PutOptions = {}): Promise<BlobInfo> {
    return this.lifecycle.track(() => this.store(key, body, undefined, options));
  }

  async putFile(key: string, path: string, options: PutOptions = {}): Promise<BlobInfo> {
    this.lifecycle.assertOpen();
    assertValidKey(key);
    let handle: FileHandle;
    try {
      handle = await open(path, "r");
    } catch (error) {
      if (errnoCode(error) === "ENOENT") throw new NotFoundError("file", path);
      throw error;
    }
    // autoClose (the default): the stream closes the handle when it ends or is destroyed.
    const stream = handle.createReadStream();
    try {
      const { size } = await handle.stat();
      // The size is known: refuse before sending a byte.
      const { maxBytes } = options;
      if (maxBytes !== undefined && maxBytes >= 0 && size > maxBytes) throw tooLarge(key, maxBytes);
      return await this.lifecycle.track(() => this.store(key, stream, size, options));
    } finally {
      stream.destroy();
    }
  }

  /** S3 has no rename from local disk: an upload, then the file is removed. */
  async moveFile(key: string, path: string, options: PutOptions = {}): Promise<BlobInfo> {
    const info = await this.putFile(key, path, options);
    await unlink(path).catch((error: unknown) => {
      if (errnoCode(error) !== "ENOENT") throw error;
    });
    return info;
  }

  private async store(
    key: string,
    body: Readable | AsyncIterable<Uint8Array>,
    knownBytes: number | undefined,
    options: PutOptions,
  ): Promise<BlobInfo> {
    assertValidKey(key);
    const { maxBytes, signal, contentType } = options;
    if (maxBytes !== undefined && !(maxBytes >= 0)) {
      throw new PermanentError(
        ErrorCodes.invalidArgument,
        `maxBytes must be a non-negative number, not ${maxBytes}`,
      );
    }
    const uploaded = await uploadObject({
      client: this.client,
      bucket: this.bucket,
      objectKey: this.objectKey(key),
      key,
      body,
      contentType,
      metadata: contentType === undefined ? { [untypedMarker]: "true" } : {},
      partBytes: partSizeFor(knownBytes, this.partBytes),
      maxBytes,
      signal,
    });
    const etag = uploaded.etag === undefined ? undefined : unquote(uploaded.etag);
    const head = await this.head(key);
    // Another put of the same key may have landed since ours: then ours is already history, and its
    // description comes from what we know of it rather than from the newer object.
    if (head !== undefined && (etag === undefined || head.etag === etag)) return head;
    const info: BlobInfo = { key, bytes: uploaded.bytes, etag: etag ?? "", modifiedAt: Date.now() };
    if (contentType !== undefined) info.contentType = contentType;
    return info;
  }

  async get(key: string, options: GetOptions = {}): Promise<Readable> {
    this.lifecycle.assertOpen();
    assertValidKey(key);
    const { signal, range } = options;
    signal?.throwIfAborted();
    const rangeHeader = range === undefined ? undefined : httpRange(range);
    let response: GetObjectCommandOutput;
    try {
      response = await this.client.send(
        new GetObjectCommand({ Bucket: this.bucket, Key: this.objectKey(key), Range: rangeHeader }),
        { abortSignal: signal },
      );
    } catch (error) {
      if (isMissingObject(error)) throw new NotFoundError("blob", key);
      if (isRangeNotSatisfiable(error) && range !== undefined) throw await this.unsatisfiable(key, range);
      signal?.throwIfAborted();
      throw s3Failure(`read ${key} from bucket ${this.bucket}`, error);
    }
    const body = response.Body;
    if (!(body instanceof Readable)) {
      throw new MediaflowError(ErrorCodes.internal, `the S3 client returned no readable stream for ${key}`);
    }
    // Some servers answer a range of an empty object with an empty 200 rather than S3's 416.
    if (range !== undefined && response.ContentRange === undefined && response.ContentLength === 0) {
      body.destroy();
      throw await this.unsatisfiable(key, range);
    }
    if (signal !== undefined) addAbortSignal(signal, body);
    return body;
  }

  download(key: string, path: string, options: { signal?: AbortSignal } = {}): Promise<void> {
    return this.lifecycle.track(() => this.copyTo(key, path, options));
  }

  private async copyTo(key: string, path: string, options: { signal?: AbortSignal }): Promise<void> {
    assertValidKey(key);
    const { signal } = options;
    const source = await this.get(key, options);
    try {
      await writeStreamAtomically(path, source, signal);
    } finally {
      source.destroy();
    }
  }

  async stat(key: string): Promise<BlobInfo | undefined> {
    this.lifecycle.assertOpen();
    assertValidKey(key);
    return this.head(key);
  }

  async *list(prefix: string): AsyncIterable<BlobInfo> {
    this.lifecycle.assertOpen();
    let continuationToken: string | undefined;
    do {
      let page: ListObjectsV2CommandOutput;
      try {
        page = await this.client.send(
          new ListObjectsV2Command({
            Bucket: this.bucket,
            Prefix: this.keyPrefix + prefix,
            ContinuationToken: continuationToken,
          }),
        );
      } catch (error) {
        throw s3Failure(`list ${JSON.stringify(prefix)} in bucket ${this.bucket}`, error);
      }
      const keys = (page.Contents ?? [])
        .map((object) => object.Key?.slice(this.keyPrefix.length))
        .filter((key): key is string => key !== undefined && isAddressable(key));
      for (let start = 0; start < keys.length; start += listHeadConcurrency) {
        const batch = keys.slice(start, start + listHeadConcurrency);
        // A key deleted between the listing and its HEAD is simply gone.
        for (const info of await Promise.all(batch.map((key) => this.head(key)))) {
          if (info !== undefined) yield info;
        }
      }
      continuationToken = page.IsTruncated === true ? page.NextContinuationToken : undefined;
    } while (continuationToken !== undefined);
  }

  delete(key: string): Promise<void> {
    return this.lifecycle.track(async () => {
      assertValidKey(key);
      try {
        // S3 answers 204 for a missing key too: deleting is idempotent by nature.
        await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: this.objectKey(key) }));
      } catch (error) {
        if (isMissingObject(error)) return;
        throw s3Failure(`delete ${key} from bucket ${this.bucket}`, error);
      }
    });
  }

  localPath(key: string): string | undefined {
    this.lifecycle.assertOpen();
    assertValidKey(key);
    return undefined;
  }

  /** A URL that lets anyone holding it download `key` until it expires, without credentials. */
  async presignGet(key: string, options: PresignGetOptions): Promise<string> {
    this.lifecycle.assertOpen();
    assertValidKey(key);
    const command = new GetObjectCommand({
      Bucket: this.bucket,
      Key: this.objectKey(key),
      ResponseContentDisposition: options.contentDisposition,
    });
    return getSignedUrl(this.client, command, { expiresIn: presignSeconds(options.expiresInSeconds) });
  }

  /** A URL that lets anyone holding it upload `key` with a plain HTTP PUT until it expires. */
  async presignPut(key: string, options: PresignPutOptions): Promise<string> {
    this.lifecycle.assertOpen();
    assertValidKey(key);
    const command = new PutObjectCommand({
      Bucket: this.bucket,
      Key: this.objectKey(key),
      ContentType: options.contentType,
      ContentLength: options.contentLength,
    });
    return getSignedUrl(this.client, command, {
      expiresIn: presignSeconds(options.expiresInSeconds),
      ...(options.contentLength === undefined ? {} : { signableHeaders: new Set(["content-length"]) }),
    });
  }

  /** Presigned links: clients download from and upload to the bucket directly. */
  directUrl(key: string, request: DirectUrlRequest): Promise<string> {
    const expiresInSeconds = Math.max(1, Math.round((request.expiresAt - Date.now()) / 1000));
    if (request.method === "GET") return this.presignGet(key, { expiresInSeconds });
    return this.presignPut(key, {
      expiresInSeconds,
      ...(request.contentType === undefined ? {} : { contentType: request.contentType }),
      ...(request.bytes === undefined ? {} : { contentLength: request.bytes }),
    });
  }

  /** Refuses new operations, waits for those under way, then closes the client's connections. */
  async close(): Promise<void> {
    if (await this.lifecycle.close()) this.client.destroy();
  }

  private objectKey(key: string): string {
    return this.keyPrefix + key;
  }

  private async head(key: string): Promise<BlobInfo | undefined> {
    let response: HeadObjectCommandOutput;
    try {
      response = await this.client.send(
        new HeadObjectCommand({ Bucket: this.bucket, Key: this.objectKey(key) }),
      );
    } catch (error) {
      if (isMissingObject(error)) return undefined;
      throw s3Failure(`look up ${key} in bucket ${this.bucket}`, error);
    }
    return describe(key, response);
  }

  /** The range_not_satisfiable error, with the blob's size the port promises in details.bytes. */
  private async unsatisfiable(key: string, range: ByteRange): Promise<MediaflowError> {
    const info = await this.head(key);
    if (info === undefined) return new NotFoundError("blob", key);
    return new PermanentError(
      ErrorCodes.rangeNotSatisfiable,
      `byte range ${range.start}-${range.end ?? ""} starts past the end of ${key} (${info.bytes} bytes)`,
      { details: { bytes: info.bytes } },
    );
  }
}

function describe(key: string, head: HeadObjectCommandOutput): BlobInfo {
  const info: BlobInfo = {
    key,
    bytes: head.ContentLength ?? 0,
    etag: unquote(head.ETag ?? ""),
    modifiedAt: head.LastModified?.getTime() ?? 0,
  };
  if (head.Metadata?.[untypedMarker] !== "true" && head.ContentType !== undefined) {
    info.contentType = head.ContentType;
  }
  return info;
}

/** The HTTP Range header for a port range; S3 itself clamps an end past the last byte. */
function httpRange(range: ByteRange): string {
  const { start, end } = range;
  assertValidRange(range);
  return `bytes=${start}-${end ?? ""}`;
}

function presignSeconds(seconds: number): number {
  if (!Number.isInteger(seconds) || seconds < 1 || seconds > maxPresignSeconds) {
    throw new PermanentError(
      ErrorCodes.invalidArgument,
      `a presigned URL must expire in 1 to ${maxPresignSeconds} whole seconds, not ${seconds}`,
    );
  }
  return seconds;
}

/** ETags come quoted the HTTP way; the port leaves quoting to its callers. */
function unquote(etag: string): string {
  return etag.replace(/^"(.*)"$/, "$1");
}

/** Objects put by other tools may have keys the port refuses (`a//b`); get() could not read them anyway. */
function isAddressable(key: string): boolean {
  try {
    assertValidKey(key);
    return true;
  } catch {
    return false;
  }
}
