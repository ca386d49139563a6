import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { Readable } from "node:stream";
import { after, before, describe, it } from "node:test";
import { setTimeout as delay } from "node:timers/promises";
import { ErrorCodes, MediaflowError } from "../../src/errors/errors.js";
import { openBlobStore } from "../../src/storage/open-blob-store.js";
import { openS3BlobStore, type S3BlobStore } from "../../src/storage/s3/s3-blob-store.js";
import { parseS3Location } from "../../src/storage/s3/s3-location.js";
import { blobStoreConformance } from "../conformance/blob-store.js";
import { type LocalS3Server, startS3Server } from "../support/s3-server.js";

const mib = 1024 * 1024;

let server: LocalS3Server;
let bucketCount = 0;
const failedBuckets: string[] = [];

before(async () => {
  server = await startS3Server();
});

after(async () => {
  const keepDirectory = failedBuckets.length > 0;
  if (keepDirectory) {
    process.stderr.write(
      `s3rver buckets kept for inspection in ${server.directory}: ${failedBuckets.join(", ")}\n`,
    );
  }
  await server.close({ keepDirectory });
});

/** A fresh bucket of the test's own, on the shared local server. */
async function freshBucket(): Promise<string> {
  bucketCount += 1;
  const bucket = `test-${bucketCount}`;
  await server.createBucket(bucket);
  return bucket;
}

async function openStore(
  bucket: string,
  options: { keyPrefix?: string; partBytes?: number } = {},
): Promise<S3BlobStore> {
  return openS3BlobStore(
    {
      bucket,
      keyPrefix: options.keyPrefix ?? "blobs/",
      endpoint: server.endpoint,
      region: server.region,
      forcePathStyle: true,
    },
    options.partBytes === undefined
      ? { credentials: server.credentials }
      : { credentials: server.credentials, partBytes: options.partBytes },
  );
}

blobStoreConformance("s3", async () => {
  const bucket = await freshBucket();
  const store = await openStore(bucket);
  return {
    store,
    async cleanup(keep) {
      await store.close();
      // The server's directory goes when the file's tests end; a failed test's bucket stays with it.
      if (keep) failedBuckets.push(bucket);
    },
  };
});

/** Records the name of every S3 command the store's client sends. */
function recordCommands(store: S3BlobStore): string[] {
  const names: string[] = [];
  store.client.middlewareStack.add(
    (next, context) => async (args) => {
      names.push(context.commandName ?? "unknown");
      return next(args);
    },
    { step: "initialize", name: "recordCommands" },
  );
  return names;
}

/** Deterministic bytes, made chunk by chunk so that big bodies are never held whole. */
function body(bytes: number, seed: number): { sha256: string; stream: () => AsyncGenerator<Buffer> } {
  const chunkBytes = 256 * 1024;
  const chunk = (index: number): Buffer => {
    const size = Math.min(chunkBytes, bytes - index * chunkBytes);
    const buffer = Buffer.alloc(size);
    for (let i = 0; i < size; i += 4096) buffer.writeUInt32LE((seed * 7919 + index * 131 + i) >>> 0, i);
    return buffer;
  };
  const hash = createHash("sha256");
  for (let i = 0; i * chunkBytes < bytes; i += 1) hash.update(chunk(i));
  return {
    sha256: hash.digest("hex"),
    async *stream() {
      for (let i = 0; i * chunkBytes < bytes; i += 1) yield chunk(i);
    },
  };
}

async function sha256Of(stream: AsyncIterable<unknown>): Promise<string> {
  const hash = createHash("sha256");
  for await (const chunk of stream) hash.update(chunk as Buffer);
  return hash.digest("hex");
}

async function rejectsWith(action: () => Promise<unknown>, code: string): Promise<MediaflowError> {
  let caught: unknown;
  await action().catch((error: unknown) => {
    caught = error;
  });
  assert.ok(caught instanceof MediaflowError, `expected a MediaflowError ${code}, got ${String(caught)}`);
  assert.equal(caught.code, code, caught.message);
  return caught;
}

describe("S3 blob store", () => {
  it("[s3] a 12 MiB put goes up in 5 MiB parts and reads back identical", async () => {
    const bucket = await freshBucket();
    const store = await openStore(bucket, { partBytes: 5 * mib });
    try {
      const commands = recordCommands(store);
      const content = body(12 * mib, 1);
      const info = await store.put("video/big.bin", content.stream(), { contentType: "video/mp4" });
      assert.equal(info.bytes, 12 * mib);
      assert.equal(info.contentType, "video/mp4");
      assert.deepEqual(
        commands.filter((name) => name !== "HeadObjectCommand"),
        [
          "CreateMultipartUploadCommand",
          "UploadPartCommand",
          "UploadPartCommand",
          "UploadPartCommand",
          "CompleteMultipartUploadCommand",
        ],
      );
      assert.equal(await sha256Of(await store.get("video/big.bin")), content.sha256);
      assert.deepEqual(await store.stat("video/big.bin"), info);
    } finally {
      await store.close();
    }
  });

  it("[s3] passing maxBytes mid-upload aborts the multipart upload: no object, no parts left", async () => {
    const bucket = await freshBucket();
    const store = await openStore(bucket, { partBytes: 5 * mib });
    try {
      const commands = recordCommands(store);
      await rejectsWith(
        () => store.put("too-big", body(20 * mib, 2).stream(), { maxBytes: 11 * mib }),
        ErrorCodes.inputTooLarge,
      );
      assert.ok(commands.includes("UploadPartCommand"), "parts were sent before the limit was passed");
      assert.ok(commands.includes("AbortMultipartUploadCommand"), commands.join(", "));
      assert.equal(await store.stat("too-big"), undefined);
      assert.deepEqual(await server.pendingUploads(bucket), []);
    } finally {
      await store.close();
    }
  });

  it("[s3] a put cancelled after its first part aborts the multipart upload and rejects with the reason", async () => {
    const bucket = await freshBucket();
    const store = await openStore(bucket, { partBytes: 5 * mib });
    try {
      const controller = new AbortController();
      const reason = new Error("the user cancelled the job");
      const commands = recordCommands(store);
      store.client.middlewareStack.add(
        (next, context) => async (args) => {
          const result = await next(args);
          if (context.commandName === "UploadPartCommand") controller.abort(reason);
          return result;
        },
        { step: "initialize", name: "abortAfterFirstPart" },
      );
      await assert.rejects(
        store.put("cancelled", body(20 * mib, 3).stream(), { signal: controller.signal }),
        (error) => error === reason,
      );
      assert.ok(commands.includes("AbortMultipartUploadCommand"), commands.join(", "));
      assert.equal(await store.stat("cancelled"), undefined);
      assert.deepEqual(await server.pendingUploads(bucket), []);
    } finally {
      await store.close();
    }
  });

  it("[s3] putFile refuses a file larger than maxBytes before sending anything", async () => {
    const bucket = await freshBucket();
    const store = await openStore(bucket);
    try {
      const commands = recordCommands(store);
      const path = new URL(import.meta.url).pathname;
      await rejectsWith(() => store.putFile("self", path, { maxBytes: 10 }), ErrorCodes.inputTooLarge);
      assert.deepEqual(commands, []);
    } finally {
      await store.close();
    }
  });

  it("[s3] a presigned GET serves the bytes to plain fetch until it expires", async () => {
    const bucket = await freshBucket();
    const store = await openStore(bucket);
    try {
      await store.put("share/clip.txt", Readable.from([Buffer.from("shared bytes")]), {
        contentType: "text/plain",
      });
      const url = await store.presignGet("share/clip.txt", {
        expiresInSeconds: 60,
        contentDisposition: 'attachment; filename="clip.txt"',
      });
      const response = await fetch(url);
      assert.equal(response.status, 200);
      assert.equal(await response.text(), "shared bytes");
      assert.equal(response.headers.get("content-disposition"), 'attachment; filename="clip.txt"');

      const shortLived = await store.presignGet("share/clip.txt", { expiresInSeconds: 1 });
      await delay(2000);
      const expired = await fetch(shortLived);
      assert.equal(expired.status, 403);
      await expired.body?.cancel();
      await rejectsWith(
        () => store.presignGet("share/clip.txt", { expiresInSeconds: 0 }),
        ErrorCodes.invalidArgument,
      );
    } finally {
      await store.close();
    }
  });

  it("[s3] a presigned PUT lets a client upload with its content type", async () => {
    const bucket = await freshBucket();
    const store = await openStore(bucket);
    try {
      const url = await store.presignPut("uploads/in.json", {
        expiresInSeconds: 60,
        contentType: "application/json",
      });
      const response = await fetch(url, {
        method: "PUT",
        body: '{"ok":true}',
        headers: { "content-type": "application/json" },
      });
      assert.equal(response.status, 200, await response.text());
      const stat = await store.stat("uploads/in.json");
      assert.equal(stat?.bytes, 11);
      assert.equal(stat?.contentType, "application/json");
    } finally {
      await store.close();
    }
  });

  it("[s3] keys live under the location's prefix, and stores on other prefixes do not see them", async () => {
    const bucket = await freshBucket();
    const first = await openStore(bucket, { keyPrefix: "tenant-a/" });
    const second = await openStore(bucket, { keyPrefix: "tenant-b/" });
    const whole = await openStore(bucket, { keyPrefix: "" });
    try {
      await first.put("k", Readable.from([Buffer.from("a")]));
      await second.put("k", Readable.from([Buffer.from("b")]));
      assert.deepEqual(await collectKeys(first.list("")), ["k"]);
      assert.deepEqual(await collectKeys(whole.list("")), ["tenant-a/k", "tenant-b/k"]);
    } finally {
      await Promise.all([first.close(), second.close(), whole.close()]);
    }
  });
});

describe("S3 locations", () => {
  it("[s3] the full location form is parsed, prefix trimmed to whole segments", () => {
    assert.deepEqual(
      parseS3Location(
        "s3://media-bucket/data/in/?endpoint=http://127.0.0.1:9000/&region=us-east-1&forcePathStyle=true",
      ),
      {
        bucket: "media-bucket",
        keyPrefix: "data/in/",
        endpoint: "http://127.0.0.1:9000",
        region: "us-east-1",
        forcePathStyle: true,
      },
    );
    // The form deploy/docker-compose.yml uses: the endpoint needs no %-escaping.
    assert.deepEqual(
      parseS3Location("s3://mediaflow/data?endpoint=http://minio:9000&forcePathStyle=true&region=us-east-1"),
      {
        bucket: "mediaflow",
        keyPrefix: "data/",
        endpoint: "http://minio:9000",
        region: "us-east-1",
        forcePathStyle: true,
      },
    );
    assert.deepEqual(parseS3Location("s3://media-bucket"), {
      bucket: "media-bucket",
      keyPrefix: "",
      forcePathStyle: false,
    });
  });

  it("[s3] a bad location is refused with invalid_argument naming the problem, never the secrets", async () => {
    const cases: [string, RegExp][] = [
      ["s3://", /names no bucket/],
      ["s3:///prefix", /names no bucket/],
      ["s3://AKIAEXAMPLE:very-secret@bucket/prefix", /must not contain credentials/],
      ["s3://bucket/p?endpoint=ftp://very-secret.example", /http: or https:/],
      ["s3://bucket/p?endpoint=http://user:very-secret@host", /must not contain credentials/],
      ["s3://bucket/p?secretKey=very-secret", /unknown s3:\/\/ location parameter "secretKey"/],
      ["s3://bucket/a//b", /key prefix/],
      ["s3://bucket/p?forcePathStyle=maybe", /true or false/],
      ["s3://x/p", /bucket name "x" is not valid/],
    ];
    for (const [location, problem] of cases) {
      const error = await rejectsWith(() => openBlobStore(location), ErrorCodes.invalidArgument);
      assert.match(error.message, problem);
      assert.doesNotMatch(error.message, /very-secret/);
    }
  });

  it("[s3] openBlobStore opens an s3:// location with credentials from the environment", async () => {
    const bucket = await freshBucket();
    const saved = { id: process.env.AWS_ACCESS_KEY_ID, secret: process.env.AWS_SECRET_ACCESS_KEY };
    process.env.AWS_ACCESS_KEY_ID = server.credentials.accessKeyId;
    process.env.AWS_SECRET_ACCESS_KEY = server.credentials.secretAccessKey;
    try {
      const query = `endpoint=${encodeURIComponent(server.endpoint)}&region=${server.region}&forcePathStyle=true`;
      const store = await openBlobStore(`s3://${bucket}/via-url?${query}`);
      try {
        assert.equal(store.kind, "s3");
        await store.put("hello.txt", Readable.from([Buffer.from("hello")]));
        assert.equal((await store.stat("hello.txt"))?.bytes, 5);
      } finally {
        await store.close();
      }
      const missing = await rejectsWith(
        () => openBlobStore(`s3://no-such-bucket/x?${query}`),
        ErrorCodes.notAvailable,
      );
      assert.match(missing.message, /bucket no-such-bucket does not exist/);
    } finally {
      restoreEnv("AWS_ACCESS_KEY_ID", saved.id);
      restoreEnv("AWS_SECRET_ACCESS_KEY", saved.secret);
    }
  });
});

async function collectKeys(list: AsyncIterable<{ key: string }>): Promise<string[]> {
  const keys: string[] = [];
  for await (const info of list) keys.push(info.key);
  return keys;
}

function restoreEnv(name: string, value: string | undefined): void {
  if (value === undefined) delete process.env[name];
  else process.env[name] = value;
}
