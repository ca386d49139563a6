import { randomUUID } from "node:crypto";
import { closeSync, fsync, openSync } from "node:fs";
import { open, rename, rm } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import type { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { promisify } from "node:util";
import { fileWriter } from "./file-streams.js";

/** The `code` of a Node.js system error (`ENOENT`, `EISDIR`...), or undefined for anything else. */
export function errnoCode(error: unknown): string | undefined {
  if (typeof error !== "object" || error === null || !("code" in error)) return undefined;
  return typeof error.code === "string" ? error.code : undefined;
}

/** fsync(2) on a file descriptor, through libuv's thread pool. */
export const fsyncDescriptor = promisify(fsync);

/**
 * Flushes a directory's entries to disk, so a rename or a new file in it survives a power cut: fsyncing the
 * file makes its bytes durable, only fsyncing its directory makes its name durable.
 *
 * Only the fsync, which waits for the disk, goes through libuv's thread pool. Opening and closing the
 * directory take microseconds on a local disk, less than a round trip through the pool with its two thread
 * switches, so they are made directly (as the embedded database makes all of its I/O).
 */
export async function fsyncDirectory(path: string): Promise<void> {
  let fd: number;
  try {
    fd = openSync(path, "r");
  } catch (error) {
    // Some platforms (Windows) cannot open a directory at all; there is nothing more we can do there.
    if (errnoCode(error) === "EISDIR" || errnoCode(error) === "EPERM") return;
    throw error;
  }
  try {
    await fsyncDescriptor(fd);
  } catch (error) {
    // A few filesystems refuse fsync on directories (EINVAL); their renames are as durable as they get.
    if (errnoCode(error) !== "EINVAL") throw error;
  } finally {
    closeSync(fd);
  }
}

/**
 * Directories whose entries changed (a file renamed in, a directory made in them), fsynced together by
 * `flush`. Each fsync costs the same whether or not an earlier one already committed the journal (a
 * cache flush at least), and a put used to pay about ten of them one after another: collecting them lets a
 * commit fsync each directory once, all at the same time, at the point where its durability is needed.
 */
export class DirectorySyncs {
  private readonly dirs = new Set<string>();
  private readonly flushed: (() => void)[] = [];

  add(path: string): void {
    this.dirs.add(path);
  }

  /** Runs `callback` once a flush has succeeded. */
  afterFlush(callback: () => void): void {
    this.flushed.push(callback);
  }

  /** Fsyncs every directory added since the last flush; when it resolves, all their entries are durable. */
  async flush(): Promise<void> {
    const dirs = [...this.dirs];
    const callbacks = this.flushed.splice(0);
    this.dirs.clear();
    await Promise.all(dirs.map(fsyncDirectory));
    for (const callback of callbacks) callback();
  }
}

/** Writes a small file and fsyncs it, creating it exclusively (the path is a fresh temp name). */
export async function writeFileDurably(path: string, data: Uint8Array): Promise<void> {
  const handle = await open(path, "wx", 0o644);
  try {
    await handle.writeFile(data);
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * Streams `source` into a new file at `path` atomically: into a temp file beside it (so the rename stays
 * on one filesystem), fsynced, renamed over `path`, and the directory fsynced. `path` appears complete or
 * not at all; a failure or an abort leaves nothing behind and rejects with the signal's reason.
 */
export async function writeStreamAtomically(
  path: string,
  source: Readable | AsyncIterable<Uint8Array>,
  signal?: AbortSignal,
): Promise<void> {
  const tmp = join(dirname(path), `.${basename(path)}.${randomUUID()}.part`);
  let renamed = false;
  try {
    const out = await open(tmp, "wx", 0o644);
    try {
      const file = fileWriter(out);
      await (signal === undefined ? pipeline(source, file) : pipeline(source, file, { signal }));
    } finally {
      await out.close();
    }
    await rename(tmp, path);
    renamed = true;
    await fsyncDirectory(dirname(path));
  } catch (error) {
    signal?.throwIfAborted();
    throw error;
  } finally {
    if (!renamed) await rm(tmp, { force: true }).catch(() => undefined);
  }
}
