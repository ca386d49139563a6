import type { Hash } from "node:crypto";
import { read } from "node:fs";
import type { FileHandle } from "node:fs/promises";
import { Writable } from "node:stream";
import { promisify } from "node:util";

// Big enough that a multi-GB copy is not dominated by per-call overhead, small enough to stay a rounding
// error in memory per concurrent reader (fs.ReadStream uses 64 KiB for the same reasons).
const readChunkBytes = 64 * 1024;

/**
 * Streams over a FileHandle that the caller keeps and closes. FileHandle.createReadStream/createWriteStream
 * with `autoClose: false` keep a reference on the handle that is never released, so the caller's
 * `handle.close()` would wait forever; FileHandle.read/write hold theirs only while a call is in flight, so
 * a close after an abort waits for that one call and no longer.
 */

const readDescriptor = promisify(read);

/**
 * Reads `file` (a FileHandle, or a file descriptor the caller closes) from `start` to `end` (inclusive,
 * default: to the end of the file) in chunks.
 */
export async function* readChunks(
  file: FileHandle | number,
  start = 0,
  end = Number.POSITIVE_INFINITY,
): AsyncGenerator<Buffer> {
  let position = start;
  while (position <= end) {
    const length = Math.min(readChunkBytes, end - position + 1);
    const buffer = Buffer.allocUnsafe(length);
    const bytesRead = await readAt(file, buffer, length, position);
    if (bytesRead === 0) return;
    position += bytesRead;
    yield buffer.subarray(0, bytesRead);
  }
}

/**
 * What one read feeds a hash: large, since each read is a round trip through libuv's thread pool, and one
 * buffer reused for the whole file, since fresh buffers of a large file's size in all make the garbage
 * collector run while a tool (ffmpeg) needs the CPU.
 */
const digestChunkBytes = 1024 * 1024;

/**
 * Feeds `file` to `hash` from `start` to `end` (inclusive, default: to the end of the file). Safe with one
 * buffer because `update` is done with its input when it returns.
 */
export async function digestFile(
  file: FileHandle | number,
  hash: Hash,
  start = 0,
  end = Number.POSITIVE_INFINITY,
): Promise<void> {
  const buffer = Buffer.allocUnsafe(Math.min(digestChunkBytes, Math.max(1, end - start + 1)));
  let position = start;
  while (position <= end) {
    const bytesRead = await readAt(file, buffer, Math.min(buffer.length, end - position + 1), position);
    if (bytesRead === 0) return;
    hash.update(buffer.subarray(0, bytesRead));
    position += bytesRead;
  }
}

/** Reads up to `length` bytes at `position` into the start of `buffer`; resolves to how many it read. */
async function readAt(
  file: FileHandle | number,
  buffer: Buffer,
  length: number,
  position: number,
): Promise<number> {
  const { bytesRead } =
    typeof file === "number"
      ? await readDescriptor(file, buffer, 0, length, position)
      : await file.read(buffer, 0, length, position);
  return bytesRead;
}

/** A Writable appending to `handle`, which fsyncs the file before it reports 'finish'. */
export function fileWriter(handle: FileHandle): Writable {
  return new Writable({
    write(chunk: Buffer, _encoding, callback) {
      writeAll(handle, chunk).then(() => callback(), callback);
    },
    final(callback) {
      handle.sync().then(() => callback(), callback);
    },
  });
}

async function writeAll(handle: FileHandle, chunk: Buffer): Promise<void> {
  // write() may write less than asked (POSIX allows it), so loop until the whole chunk is down.
  let offset = 0;
  while (offset < chunk.length) {
    const { bytesWritten } = await handle.write(chunk, offset, chunk.length - offset);
    offset += bytesWritten;
  }
}
