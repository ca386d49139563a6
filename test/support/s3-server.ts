import { randomUUID } from "node:crypto";
import { createReadStream } from "node:fs";
import { mkdir, mkdtemp, readdir, rename, rm } from "node:fs/promises";
import { createRequire } from "node:module";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import type { Readable } from "node:stream";

/**
 * A local S3 server for tests: s3rver, in this process, on a free port, storing in a temp directory of its
 * own. It accepts the fixed credentials below (s3rver's built-in account) and checks SigV4 signatures,
 * presigned URLs and their expiry like S3 does.
 *
 * Four s3rver 3.7 gaps are filled here, on the server, so that the adapter is tested against S3's real
 * behaviour rather than bent to the stand-in (see fixRanges, sortListings, abortMultipartUploads and
 * atomicPuts).
 * s3rver does not implement ListMultipartUploads either: tests look for leftover parts with
 * `pendingUploads()`, which reads its storage directory.
 */
export interface LocalS3Server {
  endpoint: string;
  region: string;
  credentials: { accessKeyId: string; secretAccessKey: string };
  /** s3rver's storage directory (multipart parts live under `<bucket>/.../uploads` until completed). */
  directory: string;
  createBucket(name: string): Promise<void>;
  /** The multipart uploads started in `bucket` and neither completed nor aborted. */
  pendingUploads(bucket: string): Promise<string[]>;
  /** Stops the server; its directory is removed unless `keepDirectory` (a test failed). */
  close(options?: { keepDirectory?: boolean }): Promise<void>;
}

interface S3rverObject {
  content: Readable | null;
  range?: { start: number; end: number };
  size: number;
}

/** The S3Object s3rver hands its store to write; only where it goes is changed here. */
interface S3rverNewObject {
  bucket: string;
  key: string;
}

interface S3rverStore {
  putObject(object: S3rverNewObject): Promise<unknown>;
  getObject(
    bucket: string,
    key: string,
    options?: { start?: number; end?: number },
  ): Promise<S3rverObject | null>;
  getResourcePath(bucket: string, key: string | undefined, resource: string): string;
  putBucket(bucket: string): Promise<void>;
  listObjects(bucket: string, options: Record<string, unknown>): Promise<{ objects: { key: string }[] }>;
}

interface KoaContext {
  method: string;
  path: string;
  query: Record<string, unknown>;
  status: number;
}

type KoaMiddleware = (ctx: KoaContext, next: () => Promise<void>) => Promise<void>;

interface S3rverInstance {
  store: S3rverStore;
  /** Koa's middleware list, composed when the server starts listening. */
  middleware: KoaMiddleware[];
  run(): Promise<AddressInfo>;
  close(): Promise<void>;
}

type S3rverConstructor = new (options: Record<string, unknown>) => S3rverInstance;

// s3rver ships no types and is CommonJS.
const S3rver = createRequire(import.meta.url)("s3rver") as S3rverConstructor;

export async function startS3Server(): Promise<LocalS3Server> {
  const directory = await mkdtemp(join(tmpdir(), "mediaflow-s3rver-"));
  const server = new S3rver({ address: "127.0.0.1", port: 0, silent: true, directory });
  fixRanges(server.store);
  sortListings(server.store);
  atomicPuts(server.store);
  abortMultipartUploads(server);
  const address = await server.run();
  return {
    endpoint: `http://127.0.0.1:${address.port}`,
    region: "us-east-1",
    credentials: { accessKeyId: "S3RVER", secretAccessKey: "S3RVER" },
    directory,
    createBucket: (name) => server.store.putBucket(name),
    async pendingUploads(bucket) {
      return readdir(uploadsDirectory(server.store, bucket)).catch((error: unknown) => {
        if (error instanceof Error && "code" in error && error.code === "ENOENT") return [];
        throw error;
      });
    },
    async close(options = {}) {
      await server.close();
      if (options.keepDirectory !== true) await rm(directory, { recursive: true, force: true });
    },
  };
}

/**
 * s3rver reads `Range: bytes=0-0` as "from 0 to the end" (it tests `end || Infinity`), and serves a range
 * of an empty object where S3 answers 416 InvalidRange. A null content with a range is how s3rver's own
 * controller spells "416".
 */
function fixRanges(store: S3rverStore): void {
  const getObject = store.getObject.bind(store);
  store.getObject = async (bucket, key, options) => {
    const object = await getObject(bucket, key, options);
    if (object === null || object.range === undefined || object.content === null) return object;
    if (object.size === 0) {
      object.content.destroy();
      object.content = null;
    } else if (options?.end === 0) {
      object.content.destroy();
      object.range = { start: 0, end: 0 };
      object.content = createReadStream(store.getResourcePath(bucket, key, "object"), { start: 0, end: 0 });
    }
    return object;
  };
}

/**
 * s3rver lists in the order it walks its directories, where `a/1` comes before `a-c`; S3 lists in the
 * byte order of the UTF-8 keys. Fine for the small listings of tests: it sorts one page at a time.
 */
function sortListings(store: S3rverStore): void {
  const listObjects = store.listObjects.bind(store);
  store.listObjects = async (bucket, options) => {
    const listing = await listObjects(bucket, options);
    listing.objects.sort((a, b) => Buffer.compare(Buffer.from(a.key), Buffer.from(b.key)));
    return listing;
  };
}

/**
 * s3rver answers AbortMultipartUpload (`DELETE /bucket/key?uploadId=...`) with MethodNotAllowed and keeps
 * the parts; S3 discards them. This does what S3 does, ahead of s3rver's router.
 */
function abortMultipartUploads(server: S3rverInstance): void {
  server.middleware.unshift(async (ctx, next) => {
    const uploadId = ctx.query.uploadId;
    if (ctx.method !== "DELETE" || typeof uploadId !== "string") return next();
    const bucket = decodeURIComponent(ctx.path.split("/")[1] ?? "");
    if (!/^[0-9a-f]+$/.test(uploadId) || !/^[a-z0-9.-]+$/.test(bucket)) {
      ctx.status = 400;
      return;
    }
    await rm(join(uploadsDirectory(server.store, bucket), uploadId), { recursive: true, force: true });
    ctx.status = 204;
  });
}

function uploadsDirectory(store: S3rverStore, bucket: string): string {
  return store.getResourcePath(bucket, undefined, "uploads");
}

// Where atomicPuts writes bodies before publishing them: a directory s3rver sees as one more bucket.
const stagingBucket = "mediaflow-staging";

/**
 * s3rver writes a new version over the old file in place, and its size, md5 and metadata in three files, so
 * a concurrent GET or HEAD can see half a body or mix two versions; S3 publishes a version whole. Here a
 * put is written under a staging name first, then its three files are renamed into place under a lock
 * that GET and HEAD (both getObject) also take while they read the metadata and open the body. A reader
 * keeps the file it opened, so it reads one whole version even if a newer one is renamed over it.
 */
function atomicPuts(store: S3rverStore): void {
  let tail: Promise<unknown> = Promise.resolve();
  const locked = <T>(section: () => Promise<T>): Promise<T> => {
    const result = tail.then(section);
    tail = result.catch(() => undefined);
    return result;
  };
  const putObject = store.putObject.bind(store);
  const getObject = store.getObject.bind(store);
  store.putObject = async (object) => {
    const staged = Object.assign(
      Object.create(Object.getPrototypeOf(object) as object) as S3rverNewObject,
      object,
      {
        bucket: stagingBucket,
        key: randomUUID(),
      },
    );
    const result = await putObject(staged);
    await locked(async () => {
      for (const resource of ["object", "object.md5", "metadata.json"]) {
        const target = store.getResourcePath(object.bucket, object.key, resource);
        await mkdir(dirname(target), { recursive: true });
        await rename(store.getResourcePath(stagingBucket, staged.key, resource), target);
      }
    });
    return result;
  };
  store.getObject = (bucket, key, options) => locked(() => getObject(bucket, key, options));
}
