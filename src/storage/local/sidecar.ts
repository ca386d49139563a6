import type { BigIntStats } from "node:fs";
import { readFile } from "node:fs/promises";
import { z } from "zod";
import { impliedContentType } from "../../util/content-type.js";
import { errnoCode } from "../durable-fs.js";

/**
 * The metadata of one stored version of a blob, kept in a small JSON sidecar under `.mediaflow/sidecars/`
 * (named by the hash of the key: see store-layout.ts).
 *
 * The bytes (`<root>/<key>`) and the sidecar are two files, and no filesystem renames two files at once, so
 * a sidecar entry is tied to the exact file it describes by `id`: the file's device, inode, size and mtime in
 * nanoseconds. rename() keeps all four, so the id computed on the temp file still holds once it is published,
 * and a new version is always a new inode. A reader takes the id from the file descriptor it actually reads
 * (fstat) and uses only the entry with that id: it can never pair bytes with another version's metadata.
 *
 * A put writes the sidecar *before* renaming the bytes into place, with two entries: the new version and
 * the version currently on disk. So between the two renames, and after a crash between them, the old bytes
 * still find their own entry; after the second rename the new bytes find theirs. When no entry matches
 * (two processes writing one key at once, files dropped into the root by hand), the reader hashes the bytes
 * itself and takes the content type the key's extension implies, if any.
 *
 * So a small blob whose content type is the one its key implies needs no sidecar at all: a reader finds
 * the same metadata without one. Such a put writes none (see `needsSidecar`), which spares it two fsyncs,
 * most of what storing a thumbnail costs.
 */
export interface SidecarVersion {
  id: string;
  /** Hex SHA-256 of the bytes. */
  etag: string;
  contentType?: string;
}

// The new version and the one it replaces: no reader can hold a file descriptor of anything older that
// the sidecar could still help with (an older reader falls back to hashing).
const maxVersions = 2;

const sidecarSchema = z.object({
  v: z.literal(1),
  versions: z
    .array(z.object({ id: z.string(), etag: z.string(), contentType: z.string().optional() }))
    .max(maxVersions),
});

/**
 * Up to this size, hashing a blob again on read (about 0.1 ms) costs less than a sidecar costs its put: a
 * file and a directory fsynced, most of a millisecond. Thumbnails, playlists and small images fall below.
 */
export const smallBlobBytes = 128 * 1024;

/** Whether a version's metadata must be written down; see the comment on SidecarVersion. */
export function needsSidecar(key: string, bytes: number, contentType: string | undefined): boolean {
  return bytes > smallBlobBytes || contentType !== impliedContentType(key);
}

/** Identifies one file version: see the comment on SidecarVersion. */
export function versionId(stats: BigIntStats): string {
  return `${stats.dev}:${stats.ino}:${stats.size}:${stats.mtimeNs}`;
}

/** The versions a sidecar lists; none when it is missing or unreadable (the reader then hashes the bytes). */
export async function readSidecar(path: string): Promise<SidecarVersion[]> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (error) {
    const code = errnoCode(error);
    if (code === "ENOENT" || code === "ENOTDIR" || code === "EISDIR") return [];
    throw error;
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return [];
  }
  const result = sidecarSchema.safeParse(parsed);
  return result.success ? result.data.versions : [];
}

/** The sidecar content for a new version, keeping the entry of the version still on disk, if known. */
export function encodeSidecar(next: SidecarVersion, current: SidecarVersion | undefined): Uint8Array {
  const versions = current === undefined || current.id === next.id ? [next] : [next, current];
  return Buffer.from(`${JSON.stringify({ v: 1, versions })}\n`);
}
