import { createHash, randomUUID } from "node:crypto";
import { lstatSync, mkdirSync, realpathSync, type Stats } from "node:fs";
import { link, lstat, mkdir, readdir, realpath, rm, rmdir, stat } from "node:fs/promises";
import { dirname, join, resolve, sep } from "node:path";
import { ErrorCodes, PermanentError } from "../../errors/errors.js";
import { DirectorySyncs, errnoCode } from "../durable-fs.js";
import { assertValidKey } from "../keys.js";

/**
 * Where things live under a local store's root:
 *
 *   <root>/<key>                    the bytes of each blob, so tools can read `localPath(key)` directly
 *   <root>/.mediaflow/tmp/<uuid>    bodies being written, renamed into place when complete
 *   <root>/.mediaflow/sidecars/<ab>/<abcd...>
 *                                   a blob's sidecar (see sidecar.ts), named by the SHA-256 of its key:
 *                                   a put adds no folder here (256 of them, made once), only a file;
 *                                   small blobs typed as their extension says have none
 *
 * One reserved name rather than several (`.tmp`, `.meta`): keys whose first segment is `.mediaflow` (in any
 * letter case, for case-insensitive filesystems) are refused, and every other key, `.tmp/x` included, is an
 * ordinary key that cannot collide with the store's own files. MinIO's single `.minio.sys` does the same.
 */
export const internalDirName = ".mediaflow";

/** Where sidecars mirrored the key tree, before they were named by hash; moved on open. */
const legacyMetaDirName = "meta";

export class StoreLayout {
  /** Directories this process made whose entry in their parent may not be on disk yet. */
  private readonly notYetDurable = new Set<string>();

  private constructor(
    /** The real path of the root (symlinks in the configured path resolved once, at open). */
    readonly root: string,
    readonly tmpDir: string,
    readonly sidecarDir: string,
    /** The filesystem the store is on: a file elsewhere cannot be renamed into it. */
    readonly device: bigint,
  ) {}

  static async open(rootDir: string): Promise<StoreLayout> {
    const configured = resolve(rootDir);
    try {
      await mkdir(configured, { recursive: true });
      const root = await realpath(configured);
      const layout = new StoreLayout(
        root,
        join(root, internalDirName, "tmp"),
        join(root, internalDirName, "sidecars"),
        (await stat(root, { bigint: true })).dev,
      );
      await mkdir(layout.tmpDir, { recursive: true });
      await mkdir(layout.sidecarDir, { recursive: true });
      await layout.moveLegacySidecars();
      return layout;
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      throw new PermanentError(
        ErrorCodes.invalidArgument,
        `cannot use ${configured} as a blob store: ${message}`,
        {
          cause: error,
        },
      );
    }
  }

  /** assertValidKey, plus the reserved first segment. */
  assertKey(key: string): void {
    assertValidKey(key);
    if (this.isReserved(key.split("/", 1)[0] ?? "")) {
      throw new PermanentError(
        ErrorCodes.invalidKey,
        `invalid storage key ${JSON.stringify(key)}: keys under ${internalDirName}/ are reserved for the local store's own files`,
      );
    }
  }

  isReserved(firstSegment: string): boolean {
    return firstSegment.toLowerCase() === internalDirName;
  }

  tempPath(): string {
    return join(this.tmpDir, randomUUID());
  }

  sidecarPath(key: string): string {
    const name = createHash("sha256").update(key).digest("hex");
    return join(this.sidecarDir, name.slice(0, 2), name);
  }

  /**
   * Moves the sidecars of a store written before they were named by hash (`.mediaflow/meta/<key>`).
   * Linked first, so a crash or a second process doing the same leaves each sidecar in one place or both;
   * one already at the new place is newer and kept. The old tree goes once the new names are durable.
   */
  private async moveLegacySidecars(): Promise<void> {
    const legacy = join(this.root, internalDirName, legacyMetaDirName);
    const names = await readdir(legacy, { recursive: true }).catch(ignoreMissing);
    if (names === undefined) return;
    const syncs = new DirectorySyncs();
    for (const name of names) {
      const path = join(legacy, name);
      // Missing: another process opening the store has moved it and removed the old tree.
      if (!(await lstat(path).catch(ignoreMissing))?.isFile()) continue;
      const target = this.sidecarPath(name.split(sep).join("/"));
      await mkdir(dirname(target), { recursive: true });
      syncs.add(this.sidecarDir);
      syncs.add(dirname(target));
      await link(path, target).catch((error: unknown) => {
        const code = errnoCode(error);
        if (code !== "EEXIST" && code !== "ENOENT") throw error;
      });
    }
    await syncs.flush();
    await rm(legacy, { recursive: true, force: true });
  }

  /**
   * The path of `key`'s bytes with its parent directory resolved through any symlinks, or undefined when the
   * parent does not exist. Throws when the parent resolves outside the root: someone planted a symlink.
   * The last component is not resolved: callers open it with O_NOFOLLOW.
   */
  async resolveExisting(key: string): Promise<string | undefined> {
    const parent = dirname(join(this.root, key));
    let realParent: string;
    try {
      realParent = await realpath(parent);
    } catch (error) {
      if (isMissing(error)) return undefined;
      throw error;
    }
    this.assertInside(realParent, this.root, key);
    return join(realParent, lastSegment(key));
  }

  /** resolveExisting for the synchronous `localPath`. */
  resolveExistingSync(key: string): string | undefined {
    let realParent: string;
    try {
      // The native realpath: one call into libc instead of a JavaScript walk with an lstat per segment.
      realParent = realpathSync.native(dirname(join(this.root, key)));
    } catch (error) {
      if (isMissing(error)) return undefined;
      throw error;
    }
    this.assertInside(realParent, this.root, key);
    const path = join(realParent, lastSegment(key));
    try {
      const stats = lstatSync(path);
      if (stats.isSymbolicLink()) throw symlinkRefused(key);
      return stats.isFile() ? path : undefined;
    } catch (error) {
      if (isMissing(error)) return undefined;
      throw error;
    }
  }

  /**
   * Creates the directories above `key` one segment at a time, so that nothing is ever created through a
   * symlink pointing outside the root, and returns the real path of the parent. A file where a directory
   * is needed is a conflict (`a` exists and `a/b` is written). The lstat and mkdir calls are made directly,
   * not through the thread pool: see fsyncDirectory.
   *
   * Nothing is fsynced here: the parent of every directory made is added to `syncs`, and so is the parent
   * of one found that another put of this process made and has not yet made durable, so that when the
   * caller flushes `syncs`, the whole path to the new parent is on disk whoever made it.
   */
  async ensureParent(key: string, syncs: DirectorySyncs): Promise<string> {
    const segments = key.split("/").slice(0, -1);
    let current = this.root;
    let index = 0;
    // Below a directory this call just made, only a concurrent writer can have made anything: mkdir first
    // there and look only when it fails, one operation per new level instead of two.
    let madeCurrent = false;
    while (index < segments.length) {
      const next = join(current, segments[index] ?? "");
      const stats = madeCurrent ? undefined : lstatIfExists(next);
      if (stats === undefined) {
        try {
          mkdirSync(next);
        } catch (error) {
          // Another writer made it first: look again.
          if (errnoCode(error) !== "EEXIST") throw error;
          madeCurrent = false;
          continue;
        }
        this.awaitDurable(next, current, syncs);
        madeCurrent = true;
        current = next;
        index += 1;
      } else if (stats.isDirectory()) {
        if (this.notYetDurable.has(next)) this.awaitDurable(next, current, syncs);
        current = next;
        index += 1;
      } else if (stats.isSymbolicLink()) {
        const real = await realpath(next);
        this.assertInside(real, this.root, key);
        if (!(await stat(real)).isDirectory()) throw conflict(key, segments.slice(0, index + 1).join("/"));
        current = real;
        index += 1;
      } else {
        throw conflict(key, segments.slice(0, index + 1).join("/"));
      }
    }
    return current;
  }

  /** `dir` (in `parent`) is durable once `syncs` is flushed; until then other puts passing it help. */
  private awaitDurable(dir: string, parent: string, syncs: DirectorySyncs): void {
    this.notYetDurable.add(dir);
    syncs.add(parent);
    syncs.afterFlush(() => this.notYetDurable.delete(dir));
  }

  /** Removes the now-empty directories from `realParent` up to (not including) the root. Best effort. */
  async pruneEmptyParents(realParent: string): Promise<void> {
    let dir = realParent;
    while (dir !== this.root && dir.startsWith(this.root + sep)) {
      try {
        await rmdir(dir);
      } catch (error) {
        // ENOTEMPTY/EEXIST: still in use, which also means every ancestor is. ENOENT: already gone.
        if (errnoCode(error) !== "ENOENT") return;
      }
      dir = dirname(dir);
    }
  }

  /** Removes temp files nobody has written to for `olderThanMs`: leftovers of a crashed process. */
  async sweepTemps(olderThanMs: number, now = Date.now()): Promise<void> {
    for (const name of await readdir(this.tmpDir)) {
      const path = join(this.tmpDir, name);
      try {
        if ((await lstat(path)).mtimeMs < now - olderThanMs) await rm(path, { force: true, recursive: true });
      } catch (error) {
        if (errnoCode(error) !== "ENOENT") throw error;
      }
    }
  }

  assertInside(realPath: string, base: string, key: string): void {
    if (realPath === base || realPath.startsWith(base + sep)) return;
    throw new PermanentError(
      ErrorCodes.invalidKey,
      `storage key ${JSON.stringify(key)} resolves outside the store root through a symbolic link; refusing it`,
    );
  }
}

export function symlinkRefused(key: string): PermanentError {
  return new PermanentError(
    ErrorCodes.invalidKey,
    `storage key ${JSON.stringify(key)} is a symbolic link; the local store only serves regular files`,
  );
}

export function conflict(key: string, blocking: string): PermanentError {
  return new PermanentError(
    ErrorCodes.conflict,
    `cannot store ${JSON.stringify(key)}: on local disk ${JSON.stringify(blocking)} cannot be both a blob and a prefix of other keys`,
  );
}

function lastSegment(key: string): string {
  return key.slice(key.lastIndexOf("/") + 1);
}

function lstatIfExists(path: string): Stats | undefined {
  try {
    return lstatSync(path);
  } catch (error) {
    return ignoreMissing(error);
  }
}

function ignoreMissing(error: unknown): undefined {
  if (errnoCode(error) === "ENOENT") return undefined;
  throw error;
}

function isMissing(error: unknown): boolean {
  const code = errnoCode(error);
  return code === "ENOENT" || code === "ENOTDIR";
}
