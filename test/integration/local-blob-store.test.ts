import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import {
  link,
  lstat,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  realpath,
  rename,
  rm,
  symlink,
  utimes,
  writeFile,
} from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { describe, it } from "node:test";
import { setTimeout as delay } from "node:timers/promises";
import { pathToFileURL } from "node:url";
import { ErrorCodes, MediaflowError } from "../../src/errors/errors.js";
import type { BlobStore } from "../../src/storage/blob-store.js";
import { createLocalBlobStore } from "../../src/storage/local/local-blob-store.js";
import { encodeSidecar, smallBlobBytes } from "../../src/storage/local/sidecar.js";
import { openBlobStore } from "../../src/storage/open-blob-store.js";
import { blobStoreConformance } from "../conformance/blob-store.js";
import { withTempDir } from "../support/namespaces.js";

blobStoreConformance("local", async () => {
  const root = await mkdtemp(join(tmpdir(), "mediaflow-blobs-"));
  const store = await createLocalBlobStore(root);
  return {
    store,
    async cleanup(keep) {
      await store.close();
      if (keep) process.stderr.write(`blobs kept for inspection: ${root}\n`);
      else await rm(root, { recursive: true, force: true });
    },
  };
});

/** A fresh directory of the test's own (its real path), kept when the test fails. */
async function withDir(body: (dir: string) => Promise<void>): Promise<void> {
  await withTempDir("local-blobs", async (dir) => body(await realpath(dir)));
}

/** withDir with a store on `<dir>/root` and an `<dir>/outside` directory next to it. */
async function withStore(
  body: (store: BlobStore, root: string, outside: string) => Promise<void>,
): Promise<void> {
  await withDir(async (dir) => {
    const root = join(dir, "root");
    const outside = join(dir, "outside");
    await mkdir(outside);
    const store = await createLocalBlobStore(root);
    try {
      await body(store, root, outside);
    } finally {
      await store.close();
    }
  });
}

const bytes = (value: string): Readable => Readable.from([Buffer.from(value)]);

async function text(stream: AsyncIterable<unknown>): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}

async function keys(store: BlobStore, prefix = ""): Promise<string[]> {
  const result: string[] = [];
  for await (const info of store.list(prefix)) result.push(info.key);
  return result;
}

async function rejectsWith(action: () => unknown, code: string, message?: RegExp): Promise<void> {
  await assert.rejects(
    async () => action(),
    (error: unknown) => {
      assert.ok(error instanceof MediaflowError, `expected a MediaflowError "${code}", got ${String(error)}`);
      assert.equal(error.code, code, error.message);
      if (message !== undefined) assert.match(error.message, message);
      return true;
    },
  );
}

/** Where the store keeps `key`'s sidecar: named by the SHA-256 of the key, in a folder of its first byte. */
function sidecarOf(root: string, key: string): string {
  const name = createHash("sha256").update(key).digest("hex");
  return join(root, ".mediaflow", "sidecars", name.slice(0, 2), name);
}

async function exists(path: string): Promise<boolean> {
  return lstat(path).then(
    () => true,
    () => false,
  );
}

describe("local blob store", () => {
  it("[local] a symlinked directory planted in the root cannot be used to leave it", async () => {
    await withStore(async (store, root, outside) => {
      await writeFile(join(outside, "secret"), "outside the root");
      await symlink(outside, join(root, "evil"));
      const refused = /outside the store root/;
      await rejectsWith(() => store.get("evil/secret"), ErrorCodes.invalidKey, refused);
      await rejectsWith(() => store.stat("evil/secret"), ErrorCodes.invalidKey, refused);
      await rejectsWith(() => store.localPath("evil/secret"), ErrorCodes.invalidKey, refused);
      await rejectsWith(() => store.download("evil/secret", join(outside, "copy")), ErrorCodes.invalidKey);
      await rejectsWith(() => store.delete("evil/secret"), ErrorCodes.invalidKey);
      await rejectsWith(() => store.put("evil/planted", bytes("x")), ErrorCodes.invalidKey);
      await rejectsWith(() => store.put("evil/sub/planted", bytes("x")), ErrorCodes.invalidKey);
      assert.deepEqual(await readdir(outside), ["secret"], "nothing written or deleted outside");
      assert.equal(await readFile(join(outside, "secret"), "utf8"), "outside the root");
      assert.deepEqual(await keys(store), [], "list does not follow the link");
    });
  });

  it("[local] a symlink in place of a blob is refused, and put replaces the link, not its target", async () => {
    await withStore(async (store, root, outside) => {
      await writeFile(join(outside, "secret"), "outside the root");
      await symlink(join(outside, "secret"), join(root, "link"));
      await rejectsWith(() => store.get("link"), ErrorCodes.invalidKey, /symbolic link/);
      await rejectsWith(() => store.stat("link"), ErrorCodes.invalidKey, /symbolic link/);
      await rejectsWith(() => store.localPath("link"), ErrorCodes.invalidKey, /symbolic link/);
      assert.deepEqual(await keys(store), []);
      await store.put("link", bytes("mine"));
      assert.equal(await readFile(join(outside, "secret"), "utf8"), "outside the root");
      assert.ok((await lstat(join(root, "link"))).isFile());
      assert.equal(await text(await store.get("link")), "mine");
    });
  });

  it("[local] failed and aborted writes leave no temp file behind", async () => {
    await withStore(async (store, root) => {
      const tmp = join(root, ".mediaflow", "tmp");
      await store.put("ok", bytes("fine"));
      await assert.rejects(store.put("big", Readable.from([Buffer.alloc(4096)]), { maxBytes: 10 }));
      const controller = new AbortController();
      const slow = async function* (): AsyncGenerator<Uint8Array> {
        yield Buffer.alloc(1024);
        controller.abort();
        yield Buffer.alloc(1024);
      };
      await assert.rejects(store.put("aborted", slow(), { signal: controller.signal }));
      const failing = async function* (): AsyncGenerator<Uint8Array> {
        yield Buffer.alloc(1024);
        throw new Error("the source broke");
      };
      await assert.rejects(store.put("failing", failing()));
      await store.put("dir/child", bytes("x"));
      await rejectsWith(() => store.put("dir", bytes("x")), ErrorCodes.conflict);
      assert.deepEqual(await readdir(tmp), []);
      assert.deepEqual((await readdir(root)).sort(), [".mediaflow", "dir", "ok"]);
    });
  });

  it("[local] .mediaflow/ is reserved; .tmp/ and .meta/ are ordinary keys", async () => {
    await withStore(async (store, root) => {
      for (const key of [".mediaflow", ".mediaflow/tmp/x", ".mediaflow/meta/ok", ".MediaFlow/x"]) {
        await rejectsWith(() => store.put(key, bytes("x")), ErrorCodes.invalidKey, /reserved/);
        await rejectsWith(() => store.get(key), ErrorCodes.invalidKey, /reserved/);
      }
      await store.put(".tmp/x", bytes("tmp"), { contentType: "text/tmp" });
      await store.put(".meta/ok", bytes("meta"));
      await store.put("ok", bytes("plain"));
      assert.deepEqual(await keys(store), [".meta/ok", ".tmp/x", "ok"]);
      assert.equal(await text(await store.get(".tmp/x")), "tmp");
      assert.equal((await store.stat(".tmp/x"))?.contentType, "text/tmp");
      assert.equal((await store.stat("ok"))?.contentType, undefined);
      assert.equal(store.localPath(".tmp/x"), join(root, ".tmp", "x"));
    });
  });

  it("[local] blobs are plain files at <root>/<key>; delete prunes them, their sidecars and empty folders", async () => {
    await withStore(async (store, root) => {
      await store.put("a/b/c.txt", bytes("content"), { contentType: "text/markdown" });
      assert.equal(store.localPath("a/b/c.txt"), join(root, "a", "b", "c.txt"));
      assert.equal(await readFile(join(root, "a", "b", "c.txt"), "utf8"), "content");
      assert.ok(await exists(sidecarOf(root, "a/b/c.txt")));
      await store.put("a/keep", bytes("k"), { contentType: "text/keep" });
      await store.delete("a/b/c.txt");
      assert.deepEqual((await readdir(root)).sort(), [".mediaflow", "a"]);
      assert.deepEqual(await readdir(join(root, "a")), ["keep"]);
      assert.equal(await exists(sidecarOf(root, "a/b/c.txt")), false);
      assert.ok(await exists(sidecarOf(root, "a/keep")));
      await store.delete("a/keep");
      assert.deepEqual(await readdir(root), [".mediaflow"]);
      assert.equal(await exists(sidecarOf(root, "a/keep")), false);
    });
  });

  it("[local] a small blob typed as its extension says has no sidecar, and is described all the same", async () => {
    await withStore(async (store, root) => {
      const thumb = await store.put("t/thumb.jpg", bytes("jpeg bytes"), { contentType: "image/jpeg" });
      assert.equal(await exists(sidecarOf(root, "t/thumb.jpg")), false);
      assert.deepEqual(await store.stat("t/thumb.jpg"), thumb);
      assert.equal(thumb.etag, createHash("sha256").update("jpeg bytes").digest("hex"));

      // Any other type, no type at all for a name that implies one, or a large body: written down.
      const typed = await store.put("t/other.jpg", bytes("png bytes"), { contentType: "image/png" });
      const untyped = await store.put("t/untyped.jpg", bytes("bytes"));
      const large = await store.put("t/large.jpg", bytes("x".repeat(smallBlobBytes + 1)), {
        contentType: "image/jpeg",
      });
      for (const info of [typed, untyped, large]) {
        assert.ok(await exists(sidecarOf(root, info.key)), info.key);
        assert.deepEqual(await store.stat(info.key), info);
      }
      assert.equal((await store.stat("t/untyped.jpg"))?.contentType, undefined);

      // Replacing a typed version by one that needs no sidecar: the old entry cannot describe the new bytes.
      const replaced = await store.put("t/other.jpg", bytes("now a jpeg"), { contentType: "image/jpeg" });
      assert.deepEqual(await store.stat("t/other.jpg"), replaced);
    });
  });

  it("[local] sidecars of a store from before they were named by hash are moved on open", async () => {
    await withDir(async (dir) => {
      const root = join(dir, "blobs");
      const before = await createLocalBlobStore(root);
      const nested = await before.put("a/b/c.txt", bytes("nested"), { contentType: "text/nested" });
      const top = await before.put("top", bytes("top"), { contentType: "text/top" });
      await before.close();
      // The old layout: each sidecar at .mediaflow/meta/<key>.
      const legacy = join(root, ".mediaflow", "meta");
      await mkdir(join(legacy, "a", "b"), { recursive: true });
      await rename(sidecarOf(root, "a/b/c.txt"), join(legacy, "a", "b", "c.txt"));
      await rename(sidecarOf(root, "top"), join(legacy, "top"));
      const after = await createLocalBlobStore(root);
      try {
        assert.deepEqual(await after.stat("a/b/c.txt"), nested);
        assert.deepEqual(await after.stat("top"), top);
        assert.equal(await exists(legacy), false);
      } finally {
        await after.close();
      }
    });
  });

  it("[local] moveFile renames a file of the store's filesystem into place, and copies one with another link", async () => {
    await withStore(async (store, root, outside) => {
      const renamed = join(outside, "renamed.jpg");
      await writeFile(renamed, "thumbnail bytes");
      const inode = (await lstat(renamed)).ino;
      await store.moveFile("jobs/j1/thumb/t1/thumb.jpg", renamed, { contentType: "image/jpeg" });
      assert.equal((await lstat(join(root, "jobs", "j1", "thumb", "t1", "thumb.jpg"))).ino, inode);
      assert.equal((await store.stat("jobs/j1/thumb/t1/thumb.jpg"))?.contentType, "image/jpeg");

      // A second name would let whoever holds it change the stored bytes: such a file is copied.
      const linked = join(outside, "linked.txt");
      const other = join(outside, "other-name.txt");
      await writeFile(linked, "linked bytes");
      await link(linked, other);
      await store.moveFile("linked.txt", linked);
      assert.equal(await exists(linked), false);
      await writeFile(other, "changed through the other name");
      assert.equal(await readFile(join(root, "linked.txt"), "utf8"), "linked bytes");
    });
  });

  it("[local] stat never reports the metadata of a version that is not the one on disk", async () => {
    await withStore(async (store, root, outside) => {
      const first = await store.put("v", bytes("version one"), { contentType: "text/one" });
      // Keep the first version's inode (a hard link), put a second, then move the first back: the disk is
      // now as a crash between a put's two renames leaves it, the sidecar written and the bytes not.
      await link(join(root, "v"), join(outside, "v1"));
      const second = await store.put("v", bytes("version two"), { contentType: "text/two" });
      assert.deepEqual(await store.stat("v"), second);
      await rename(join(outside, "v1"), join(root, "v"));
      assert.deepEqual(await store.stat("v"), first);
      assert.equal(await text(await store.get("v")), "version one");
      // The same crash without an entry for the bytes on disk: the etag is computed, the type unknown.
      const metaPath = sidecarOf(root, "v");
      const unborn = { id: "0:0:0:0", etag: "not-these-bytes", contentType: "text/unborn" };
      const { contentType: _type, ...withoutType } = first;
      await writeFile(metaPath, encodeSidecar(unborn, undefined));
      assert.deepEqual(await store.stat("v"), withoutType);
      assert.equal(first.etag, createHash("sha256").update("version one").digest("hex"));
      for (const broken of ["{not json", JSON.stringify({ v: 9 })]) {
        await writeFile(metaPath, broken);
        assert.deepEqual(await store.stat("v"), withoutType);
      }
      await rm(metaPath);
      assert.deepEqual(await store.stat("v"), withoutType);
      const third = await store.put("v", bytes("version three"), { contentType: "text/three" });
      assert.deepEqual(await store.stat("v"), third);
    });
  });

  it("[local] files dropped into the root by hand are listed with a computed etag", async () => {
    await withStore(async (store, root) => {
      await mkdir(join(root, "inbox"));
      await writeFile(join(root, "inbox", "clip.mp4"), "not really a video");
      await writeFile(join(root, "inbox", "back\\slash"), "not addressable");
      const listed = [];
      for await (const info of store.list("")) listed.push(info);
      assert.deepEqual(
        listed.map((info) => [info.key, info.bytes, info.etag]),
        [["inbox/clip.mp4", 18, createHash("sha256").update("not really a video").digest("hex")]],
      );
    });
  });

  it("[local] a file of several read buffers gets the SHA-256 of all its bytes, moved in or dropped in by hand", async () => {
    await withStore(async (store, root) => {
      // Past 1 MiB twice over and not a multiple of it: the hash reads it in several calls, the last short.
      const content = Buffer.alloc(2.5 * 1024 * 1024 + 7);
      for (let i = 0; i < content.length; i++) content[i] = (i * 31 + (i >> 12)) & 0xff;
      const expected = createHash("sha256").update(content).digest("hex");
      const scratch = join(root, ".mediaflow", "tmp", "moved.bin");
      await writeFile(scratch, content);
      const moved = await store.moveFile("m/moved.bin", scratch);
      assert.equal(moved.etag, expected);
      await mkdir(join(root, "byhand"));
      await writeFile(join(root, "byhand", "dropped.bin"), content);
      const dropped = await store.stat("byhand/dropped.bin");
      assert.equal(dropped?.etag, expected);
      assert.equal(dropped?.bytes, content.length);
    });
  });

  it("[local] opening a store sweeps temp files abandoned by a crashed process", async () => {
    await withStore(async (_store, root) => {
      const tmp = join(root, ".mediaflow", "tmp");
      await writeFile(join(tmp, "abandoned"), "x");
      const twoHoursAgo = new Date(Date.now() - 2 * 60 * 60 * 1000);
      await utimes(join(tmp, "abandoned"), twoHoursAgo, twoHoursAgo);
      await writeFile(join(tmp, "in-progress"), "y");
      const reopened = await createLocalBlobStore(root);
      await reopened.close();
      assert.deepEqual(await readdir(tmp), ["in-progress"]);
    });
  });

  it("[local] close lets the writes under way finish, then refuses new operations", async () => {
    await withStore(async (store, root) => {
      const slow = async function* (): AsyncGenerator<Uint8Array> {
        for (let i = 0; i < 5; i += 1) {
          await delay(5);
          yield Buffer.from(`part ${i};`);
        }
      };
      const put = store.put("slow", slow());
      await delay(1);
      await store.close();
      assert.equal(await readFile(join(root, "slow"), "utf8"), "part 0;part 1;part 2;part 3;part 4;");
      await put;
      await store.close();
      await rejectsWith(() => store.stat("slow"), ErrorCodes.notAvailable, /closed/);
      await rejectsWith(() => store.put("x", bytes("x")), ErrorCodes.notAvailable, /closed/);
    });
  });

  it("[local] openBlobStore takes a directory path or a file: URL and creates the directory", async () => {
    await withDir(async (dir) => {
      const byPath = await openBlobStore(join(dir, "by-path"));
      assert.equal(byPath.kind, "local");
      await byPath.put("k", bytes("path"));
      assert.equal(byPath.localPath("k"), join(dir, "by-path", "k"));
      await byPath.close();
      const byUrl = await openBlobStore(pathToFileURL(join(dir, "by url", "nested")).href);
      await byUrl.put("k", bytes("url"));
      assert.equal(await readFile(join(dir, "by url", "nested", "k"), "utf8"), "url");
      await byUrl.close();
    });
  });

  it("[local] openBlobStore refuses credentials in an s3:// location and unknown schemes, naming the accepted forms", async () => {
    await rejectsWith(
      () => openBlobStore("s3://AKIAEXAMPLE:very-secret@bucket/prefix"),
      ErrorCodes.invalidArgument,
      /must not contain credentials/,
    );
    await assert.rejects(openBlobStore("s3://AKIAEXAMPLE:very-secret@bucket/prefix"), (error: Error) => {
      assert.doesNotMatch(error.message, /very-secret/);
      return true;
    });
    await rejectsWith(
      () => openBlobStore("ftp://host/blobs"),
      ErrorCodes.invalidArgument,
      /"ftp:".*directory path.*file: URL/,
    );
    await rejectsWith(() => openBlobStore("  "), ErrorCodes.invalidArgument, /empty/);
    await rejectsWith(
      () => openBlobStore("file://remote-host/blobs"),
      ErrorCodes.invalidArgument,
      /file: URL/,
    );
  });
});
