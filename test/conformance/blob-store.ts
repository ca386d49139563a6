import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { access, readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { Readable } from "node:stream";
import { describe, it } from "node:test";
import { setTimeout as delay } from "node:timers/promises";
import { coerceError, ErrorCodes, MediaflowError } from "../../src/errors/errors.js";
import type { BlobInfo, BlobStore, BlobStoreKind } from "../../src/storage/blob-store.js";
import { withTempDir } from "../support/namespaces.js";

/**
 * The blob store port's conformance suite. Every adapter runs it (see test/integration/*-blob-store.test.ts)
 * with a fresh, empty store per test. Tests whose outcome legitimately differs between adapters read it
 * from `expectations`, keyed by kind, so a new adapter does not compile until it states its own.
 */
interface BlobStoreExpectations {
  /** Whether `a` and `a/b` can both be blobs. */
  keyCanAlsoBePrefix: boolean;
  /** Whether localPath gives a readable path for a stored blob. */
  hasLocalPath: boolean;
}

const expectations: Record<BlobStoreKind, BlobStoreExpectations> = {
  // On disk `a` cannot be a file and a directory at once; such a put is refused with `conflict`.
  local: { keyCanAlsoBePrefix: false, hasLocalPath: true },
  // S3 keys are flat strings and its objects live elsewhere.
  s3: { keyCanAlsoBePrefix: true, hasLocalPath: false },
};

export interface BlobStoreHarness {
  store: BlobStore;
  /** Removes what the test stored; `keep` when the test failed, so it can be inspected (say where it is). */
  cleanup(keep: boolean): Promise<void>;
}

const mib = 1024 * 1024;
const invalidKeys = ["../x", "/abs", "a//b", "a/./b", "a/../b", "a\\b", "", "a\u0000b", "trailing/"];

export function blobStoreConformance(adapterName: string, open: () => Promise<BlobStoreHarness>): void {
  /** A test with a fresh store, and a scratch directory for putFile and download; both kept if it fails. */
  const test = (title: string, body: (store: BlobStore, scratch: string) => Promise<void>) =>
    it(`[${adapterName}] ${title}`, async () => {
      const harness = await open();
      let passed = false;
      try {
        await withTempDir("blob-scratch", async (scratch) => body(harness.store, scratch));
        passed = true;
      } finally {
        await harness.store.close();
        await harness.cleanup(!passed);
      }
    });

  describe(`blob store conformance: ${adapterName}`, () => {
    test("put then get returns the same bytes for a multi-megabyte streamed body", async (store) => {
      const body = generated(8 * mib, { seed: 1 });
      const info = await store.put("media/big.bin", body.stream());
      assert.equal(info.key, "media/big.bin");
      assert.equal(info.bytes, 8 * mib);
      assert.deepEqual(await digest(await store.get("media/big.bin")), {
        sha256: body.sha256,
        bytes: 8 * mib,
      });
    });

    test("put accepts a Node Readable, and an empty body", async (store) => {
      await store.put("readable.txt", Readable.from([Buffer.from("hello "), Buffer.from("world")]));
      assert.equal(await text(await store.get("readable.txt")), "hello world");
      const empty = await store.put("empty", Readable.from([]));
      assert.equal(empty.bytes, 0);
      assert.equal((await bytesOf(await store.get("empty"))).length, 0);
      assert.equal((await store.stat("empty"))?.bytes, 0);
    });

    test("putFile stores a local file and refuses a missing one with not_found", async (store, scratch) => {
      const path = join(scratch, "input.bin");
      const content = pseudoRandom(3 * mib + 17, 2);
      await writeFile(path, content);
      const info = await store.putFile("in/input.bin", path, { contentType: "application/x-test" });
      assert.equal(info.bytes, content.length);
      assert.equal((await digest(await store.get("in/input.bin"))).sha256, sha256(content));
      assert.equal((await store.stat("in/input.bin"))?.contentType, "application/x-test");
      await rejectsWith(() => store.putFile("in/missing", join(scratch, "missing.bin")), ErrorCodes.notFound);
      assert.equal(await store.stat("in/missing"), undefined);
    });

    test("moveFile stores a local file, removes it, and replaces an existing key whole", async (store, scratch) => {
      const path = join(scratch, "output.bin");
      const first = pseudoRandom(256 * 1024 + 5, 3);
      await writeFile(path, first);
      const info = await store.moveFile("out/output.bin", path, { contentType: "application/x-test" });
      assert.equal(info.bytes, first.length);
      assert.equal(await exists(path), false, "the moved file is gone from where it was");
      assert.equal((await digest(await store.get("out/output.bin"))).sha256, sha256(first));
      const stat = await store.stat("out/output.bin");
      assert.equal(stat?.contentType, "application/x-test");
      assert.equal(stat?.etag, info.etag);

      const second = Buffer.from("a second, shorter version");
      await writeFile(path, second);
      const replaced = await store.moveFile("out/output.bin", path);
      assert.notEqual(replaced.etag, info.etag);
      assert.equal(await text(await store.get("out/output.bin")), second.toString());
      assert.equal((await store.stat("out/output.bin"))?.contentType, undefined);
      await rejectsWith(
        () => store.moveFile("out/missing", join(scratch, "missing.bin")),
        ErrorCodes.notFound,
      );
    });

    test("moveFile refuses a file over maxBytes and leaves it where it was", async (store, scratch) => {
      const path = join(scratch, "big.bin");
      await writeFile(path, pseudoRandom(4096, 4));
      await rejectsWith(
        () => store.moveFile("out/big.bin", path, { maxBytes: 100 }),
        ErrorCodes.inputTooLarge,
      );
      assert.equal(await store.stat("out/big.bin"), undefined);
      assert.equal(await exists(path), true);
    });

    test("put over an existing key replaces its content", async (store) => {
      await store.put("k", Readable.from([Buffer.from("first version, longer")]));
      await store.put("k", Readable.from([Buffer.from("second")]));
      assert.equal(await text(await store.get("k")), "second");
      assert.equal((await store.stat("k"))?.bytes, 6);
    });

    test("stat reports size, content type and an etag that changes with the content", async (store) => {
      const before = Date.now();
      const put = await store.put("s/a.txt", Readable.from([Buffer.from("one")]), {
        contentType: "text/plain",
      });
      const stat = await store.stat("s/a.txt");
      assert.ok(stat !== undefined);
      assert.deepEqual(stat, put);
      assert.equal(stat.bytes, 3);
      assert.equal(stat.contentType, "text/plain");
      assert.ok(stat.etag.length > 0);
      assert.ok(
        stat.modifiedAt >= before - 2000 && stat.modifiedAt <= Date.now() + 2000,
        "modifiedAt is now",
      );
      await store.put("s/a.txt", Readable.from([Buffer.from("two")]), { contentType: "text/plain" });
      const changed = await store.stat("s/a.txt");
      assert.notEqual(changed?.etag, stat.etag, "same size, different bytes, different etag");
      assert.equal(await store.stat("s/missing.txt"), undefined);
    });

    test("the content type belongs to a version: a new put without one does not inherit it", async (store) => {
      await store.put("ct", Readable.from([Buffer.from("typed")]), { contentType: "image/png" });
      await store.put("ct", Readable.from([Buffer.from("untyped")]));
      assert.equal((await store.stat("ct"))?.contentType, undefined);
    });

    test("get with a range returns exactly those bytes, inclusive", async (store) => {
      const content = pseudoRandom(100_000, 3);
      await store.put("r", Readable.from([content]));
      const read = async (start: number, end?: number): Promise<Buffer> =>
        bytesOf(await store.get("r", { range: end === undefined ? { start } : { start, end } }));
      assert.deepEqual(await read(99_000), content.subarray(99_000));
      assert.deepEqual(await read(10, 19), content.subarray(10, 20));
      assert.deepEqual(await read(0, 0), content.subarray(0, 1));
      assert.deepEqual(await read(99_999, 99_999), content.subarray(99_999));
      assert.deepEqual(await read(99_999), content.subarray(99_999));
      // As in HTTP, an end past the last byte is clamped.
      assert.deepEqual(await read(99_990, 200_000), content.subarray(99_990));
    });

    test("a range starting at or past the end is refused with range_not_satisfiable", async (store) => {
      await store.put("r", Readable.from([Buffer.from("0123456789")]));
      for (const range of [{ start: 10 }, { start: 10, end: 20 }, { start: 1_000_000 }]) {
        const error = await rejectsWith(() => store.get("r", { range }), ErrorCodes.rangeNotSatisfiable);
        assert.equal(error.retryable, false);
      }
      await store.put("empty", Readable.from([]));
      await rejectsWith(() => store.get("empty", { range: { start: 0 } }), ErrorCodes.rangeNotSatisfiable);
    });

    test("list returns the keys under a prefix in key order", async (store) => {
      const keys = [
        "list/b",
        "list/a/2",
        "list/a/1",
        "list/a-c",
        "list/ab",
        "listing/x",
        "other/y",
        "list/é",
      ];
      for (const key of keys) await store.put(key, Readable.from([Buffer.from(key)]));
      const listed = async (prefix: string): Promise<string[]> =>
        (await collect(store.list(prefix))).map((i) => i.key);
      // UTF-8 byte order: "-" (0x2D) < "/" (0x2F) < "b" (0x62) < "é" (0xC3 0xA9).
      const underList = ["list/a-c", "list/a/1", "list/a/2", "list/ab", "list/b", "list/é"];
      assert.deepEqual(await listed("list/"), underList);
      assert.deepEqual(await listed("list/a"), ["list/a-c", "list/a/1", "list/a/2", "list/ab"]);
      assert.deepEqual(await listed("list/a/"), ["list/a/1", "list/a/2"]);
      assert.deepEqual(await listed("list/a/1"), ["list/a/1"]);
      assert.deepEqual(await listed("list"), [...underList, "listing/x"]);
      assert.deepEqual(await listed(""), [...underList, "listing/x", "other/y"]);
      assert.deepEqual(await listed("nothing/"), []);
      assert.deepEqual(await listed("list/a/1/"), []);
      for (const info of await collect(store.list("list/a/")))
        assert.deepEqual(info, await store.stat(info.key));
    });

    test("list shows only stored blobs: nothing of failed puts or deleted keys", async (store) => {
      await store.put("kept", Readable.from([Buffer.from("x")]));
      await store.put("gone/deep/blob", Readable.from([Buffer.from("y")]));
      await store.delete("gone/deep/blob");
      await rejectsWith(
        () => store.put("big", generated(mib, { seed: 4 }).stream(), { maxBytes: 1000 }),
        "input_too_large",
      );
      await assert.rejects(store.put("broken", failingAfter(2)));
      assert.deepEqual(
        (await collect(store.list(""))).map((info) => info.key),
        ["kept"],
      );
    });

    test("delete removes a blob, is idempotent, and leaves its neighbours", async (store) => {
      await store.put("d/a", Readable.from([Buffer.from("a")]));
      await store.put("d/b", Readable.from([Buffer.from("b")]));
      await store.delete("d/a");
      assert.equal(await store.stat("d/a"), undefined);
      await rejectsWith(() => store.get("d/a"), ErrorCodes.notFound);
      await store.delete("d/a");
      await store.delete("never/was/here");
      assert.equal(await text(await store.get("d/b")), "b");
      await store.delete("d/b");
      assert.deepEqual(await collect(store.list("")), []);
    });

    test("a key can be written again under a prefix emptied by delete", async (store) => {
      await store.put("p/q/r", Readable.from([Buffer.from("1")]));
      await store.delete("p/q/r");
      await store.put("p/q/s", Readable.from([Buffer.from("2")]));
      await store.put("p/q/r", Readable.from([Buffer.from("3")]));
      assert.deepEqual(
        (await collect(store.list("p/"))).map((info) => info.key),
        ["p/q/r", "p/q/s"],
      );
    });

    test("a missing key: get and download fail with not_found, stat and localPath say nothing", async (store, scratch) => {
      const error = await rejectsWith(() => store.get("no/such/key"), ErrorCodes.notFound);
      assert.equal(error.retryable, false);
      assert.equal(await store.stat("no/such/key"), undefined);
      assert.equal(store.localPath("no/such/key"), undefined);
      await rejectsWith(() => store.download("no/such/key", join(scratch, "out")), ErrorCodes.notFound);
      assert.deepEqual(await readdir(scratch), []);
    });

    test("invalid keys are refused by every method", async (store, scratch) => {
      const file = join(scratch, "f");
      await writeFile(file, "x");
      for (const key of invalidKeys) {
        await rejectsWith(() => store.put(key, Readable.from([Buffer.from("x")])), ErrorCodes.invalidKey);
        await rejectsWith(() => store.putFile(key, file), ErrorCodes.invalidKey);
        await rejectsWith(() => store.moveFile(key, file), ErrorCodes.invalidKey);
        await rejectsWith(() => store.get(key), ErrorCodes.invalidKey);
        await rejectsWith(() => store.stat(key), ErrorCodes.invalidKey);
        await rejectsWith(() => store.delete(key), ErrorCodes.invalidKey);
        await rejectsWith(() => store.download(key, join(scratch, "out")), ErrorCodes.invalidKey);
        await rejectsWith(() => store.localPath(key), ErrorCodes.invalidKey);
      }
      assert.deepEqual(await collect(store.list("")), []);
    });

    test("download copies a blob to a local file, replacing it whole", async (store, scratch) => {
      const content = pseudoRandom(2 * mib + 3, 5);
      await store.put("dl", Readable.from([content]));
      const target = join(scratch, "copy.bin");
      await writeFile(target, "an older file that must be replaced");
      await store.download("dl", target);
      assert.equal(sha256(await readFile(target)), sha256(content));
      assert.deepEqual(await readdir(scratch), ["copy.bin"], "no temp file is left beside it");
    });

    test("localPath gives the stored bytes where the adapter has them on disk", async (store) => {
      await store.put("lp/file.txt", Readable.from([Buffer.from("on disk")]));
      const path = store.localPath("lp/file.txt");
      if (expectations[store.kind].hasLocalPath) {
        assert.ok(path !== undefined);
        assert.equal(await readFile(path, "utf8"), "on disk");
      } else {
        assert.equal(path, undefined);
      }
    });

    test("a key that is also a prefix of other keys is kept or refused with conflict, per adapter", async (store) => {
      await store.put("x/y", Readable.from([Buffer.from("child")]));
      await store.put("z", Readable.from([Buffer.from("parent")]));
      if (expectations[store.kind].keyCanAlsoBePrefix) {
        await store.put("x", Readable.from([Buffer.from("parent")]));
        await store.put("z/w", Readable.from([Buffer.from("child")]));
        assert.deepEqual(
          (await collect(store.list(""))).map((i) => i.key),
          ["x", "x/y", "z", "z/w"],
        );
      } else {
        await rejectsWith(() => store.put("x", Readable.from([Buffer.from("parent")])), ErrorCodes.conflict);
        await rejectsWith(() => store.put("z/w", Readable.from([Buffer.from("child")])), ErrorCodes.conflict);
        assert.deepEqual(
          (await collect(store.list(""))).map((i) => i.key),
          ["x/y", "z"],
        );
        assert.equal(await text(await store.get("z")), "parent");
      }
    });

    test("maxBytes refuses a larger body early with input_too_large and keeps the old version", async (store) => {
      await store.put("limited", Readable.from([Buffer.from("old")]));
      const body = generated(64 * mib, { seed: 6, chunkSize: 64 * 1024 });
      const error = await rejectsWith(
        () => store.put("limited", body.stream(), { maxBytes: 256 * 1024 }),
        ErrorCodes.inputTooLarge,
      );
      assert.equal(error.retryable, false);
      assert.ok(body.sent() < 4 * mib, `stopped reading early (read ${body.sent()} bytes)`);
      assert.equal(await text(await store.get("limited")), "old");
      await rejectsWith(
        () => store.put("fresh", generated(mib, { seed: 7 }).stream(), { maxBytes: 1000 }),
        "input_too_large",
      );
      assert.equal(await store.stat("fresh"), undefined);
      const exact = await store.put("exact", Readable.from([Buffer.alloc(1000)]), { maxBytes: 1000 });
      assert.equal(exact.bytes, 1000);
    });

    test("a put aborted mid-stream leaves nothing and the old version intact", async (store) => {
      const old = await store.put("aborted", Readable.from([Buffer.from("old content")]), {
        contentType: "text/plain",
      });
      for (const key of ["aborted", "never"]) {
        const controller = new AbortController();
        const body = generated(64 * mib, { seed: 8, chunkSize: 64 * 1024, delayMs: 1 });
        body.onChunk((count) => {
          if (count === 4) controller.abort();
        });
        let caught: unknown;
        await store.put(key, body.stream(), { signal: controller.signal }).catch((error: unknown) => {
          caught = error;
        });
        assert.equal(
          coerceError(caught).code,
          ErrorCodes.cancelled,
          `rejected as cancelled: ${String(caught)}`,
        );
        assert.ok(body.sent() < 4 * mib, "stopped reading the body");
      }
      assert.equal(await text(await store.get("aborted")), "old content");
      assert.deepEqual(await store.stat("aborted"), old);
      assert.equal(await store.stat("never"), undefined);
      const controller = new AbortController();
      controller.abort();
      await assert.rejects(
        store.put("pre-aborted", Readable.from([Buffer.from("x")]), { signal: controller.signal }),
      );
      assert.deepEqual(
        (await collect(store.list(""))).map((i) => i.key),
        ["aborted"],
      );
    });

    test("a body that fails mid-stream rejects with its error and keeps the old version", async (store) => {
      const old = await store.put("failing", Readable.from([Buffer.from("old content")]));
      await assert.rejects(store.put("failing", failingAfter(3)), /the source broke/);
      await assert.rejects(store.put("fresh", failingAfter(3)), /the source broke/);
      assert.equal(await text(await store.get("failing")), "old content");
      assert.deepEqual(await store.stat("failing"), old);
      assert.equal(await store.stat("fresh"), undefined);
    });

    test("a reader never sees a partial object while a new version is written", async (store) => {
      const oldContent = pseudoRandom(mib, 9);
      const old = await store.put("live", Readable.from([oldContent]), { contentType: "text/old" });
      const next = generated(2 * mib + 5, { seed: 10, chunkSize: 64 * 1024, delayMs: 3 });
      let writing = true;
      const writer = store.put("live", next.stream(), { contentType: "text/new" }).finally(() => {
        writing = false;
      });
      const contents: string[] = [];
      const stats: (BlobInfo | undefined)[] = [];
      while (writing) {
        const [content, stat] = await Promise.all([digest(await store.get("live")), store.stat("live")]);
        contents.push(content.sha256);
        stats.push(stat);
      }
      const current = await writer;
      assert.ok(contents.length >= 5, `the reader ran while the writer streamed (${contents.length} reads)`);
      assert.equal(contents[0], sha256(oldContent), "the first reads saw the old version");
      const versions = new Set([sha256(oldContent), next.sha256]);
      for (const sha of contents) assert.ok(versions.has(sha), "every read is a whole version");
      for (const stat of stats) {
        const pair = stat?.etag === old.etag ? old : current;
        assert.deepEqual(stat, pair, "every stat describes one whole version, etag, size and type together");
      }
      assert.equal((await digest(await store.get("live"))).sha256, next.sha256);
    });

    test("concurrent puts of one key leave exactly one of them, whole", async (store) => {
      // Same size and pace, so the puts finish, and commit, at about the same moment.
      const bodies = [1, 2, 3, 4, 5, 6, 7, 8].map((seed) =>
        generated(256 * 1024, { seed, chunkSize: 32 * 1024 }),
      );
      const infos = await Promise.all(
        bodies.map((body, index) => store.put("contended", body.stream(), { contentType: `type/${index}` })),
      );
      const stat = await store.stat("contended");
      const winner = infos.findIndex((info) => info.etag === stat?.etag);
      assert.ok(winner >= 0, "the stored version is one of the puts");
      assert.deepEqual(stat, infos[winner]);
      assert.equal((await digest(await store.get("contended"))).sha256, bodies[winner]?.sha256);
    });

    test("a get aborted while reading stops the stream", async (store) => {
      await store.put("reading", generated(4 * mib, { seed: 11 }).stream());
      const controller = new AbortController();
      const stream = await store.get("reading", { signal: controller.signal });
      let read = 0;
      await assert.rejects(async () => {
        for await (const chunk of stream) {
          read += (chunk as Buffer).length;
          controller.abort();
        }
      });
      assert.ok(read < 4 * mib);
    });
  });
}

/** Deterministic pseudo-random bytes (xorshift32): big bodies are generated, not kept as fixtures. */
function pseudoRandom(size: number, seed: number): Buffer {
  const words = new Uint32Array(Math.ceil(size / 4));
  let x = seed * 2654435761 || 1;
  for (let i = 0; i < words.length; i += 1) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    words[i] = x >>> 0;
  }
  return Buffer.from(words.buffer, 0, size);
}

interface GeneratedBody {
  sha256: string;
  /** A fresh stream of the body, made lazily chunk by chunk. */
  stream(): AsyncIterable<Uint8Array>;
  /** How many bytes the stream has handed out so far. */
  sent(): number;
  onChunk(listener: (count: number) => void): void;
}

function generated(
  size: number,
  options: { seed: number; chunkSize?: number; delayMs?: number },
): GeneratedBody {
  const chunkSize = options.chunkSize ?? mib;
  const chunk = (index: number): Buffer =>
    pseudoRandom(Math.min(chunkSize, size - index * chunkSize), options.seed * 7919 + index);
  const hash = createHash("sha256");
  // Hashing a 64 MiB body up front would cost more than the test; bodies that big are never read back whole.
  if (size <= 16 * mib) for (let i = 0; i * chunkSize < size; i += 1) hash.update(chunk(i));
  let sent = 0;
  let listener = (_count: number): void => {};
  return {
    sha256: hash.digest("hex"),
    sent: () => sent,
    onChunk: (next) => {
      listener = next;
    },
    async *stream() {
      for (let i = 0; i * chunkSize < size; i += 1) {
        if (options.delayMs !== undefined) await delay(options.delayMs);
        const next = chunk(i);
        sent += next.length;
        yield next;
        listener(i + 1);
      }
    },
  };
}

async function* failingAfter(chunks: number): AsyncGenerator<Uint8Array> {
  for (let i = 0; i < chunks; i += 1) yield pseudoRandom(64 * 1024, i + 100);
  await delay(1);
  throw new Error("the source broke");
}

async function digest(stream: AsyncIterable<unknown>): Promise<{ sha256: string; bytes: number }> {
  const hash = createHash("sha256");
  let bytes = 0;
  for await (const chunk of stream) {
    const buffer = chunk as Buffer;
    hash.update(buffer);
    bytes += buffer.length;
  }
  return { sha256: hash.digest("hex"), bytes };
}

async function bytesOf(stream: AsyncIterable<unknown>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

async function text(stream: AsyncIterable<unknown>): Promise<string> {
  return (await bytesOf(stream)).toString("utf8");
}

async function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}

async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const result: T[] = [];
  for await (const item of items) result.push(item);
  return result;
}

function sha256(content: Uint8Array): string {
  return createHash("sha256").update(content).digest("hex");
}

/** Runs `action` (sync or async) and checks it failed with a MediaflowError of `code`. */
async function rejectsWith(action: () => unknown, code: string): Promise<MediaflowError> {
  let caught: unknown;
  try {
    await action();
  } catch (error) {
    caught = error;
  }
  assert.ok(caught instanceof MediaflowError, `expected a MediaflowError "${code}", got ${String(caught)}`);
  assert.equal(caught.code, code, caught.message);
  return caught;
}
