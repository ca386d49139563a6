import { lstat, mkdir, readdir, rm, utimes } from "node:fs/promises";
import { join } from "node:path";
import { errnoCode } from "../storage/durable-fs.js";
import { safeKeySegment } from "../storage/keys.js";

/** A live worker touches its folder this often... */
const touchEveryMs = 60_000;
/** ...so one untouched for this long belongs to a worker that was killed (or paused far past its leases). */
const staleAfterMs = 15 * 60_000;

const prefix = "worker-";

/**
 * A worker's scratch folder, `<tmpDir>/worker-<id>/`, which holds the directories of its tasks. A task
 * removes its own directory, but a killed worker leaves its tasks' files behind, and under the data
 * directory nothing else cleans them up. So each worker touches its folder while it runs, and removes
 * the folders of other workers that nobody has touched for a quarter of an hour when it starts.
 */
export class ScratchFolder {
  readonly path: string;
  private touchedAt = 0;

  constructor(
    private readonly tmpDir: string,
    workerId: string,
  ) {
    this.path = join(tmpDir, `${prefix}${safeKeySegment(workerId)}`);
  }

  /** Makes the folder (touching it), then removes stale ones; returns the names removed. */
  async open(now = Date.now()): Promise<string[]> {
    await mkdir(this.path, { recursive: true });
    await this.touch(now);
    return this.sweepStale(now);
  }

  /** Marks the folder alive, at most once a minute; call it as often as convenient. */
  async touch(now = Date.now()): Promise<void> {
    if (now - this.touchedAt < touchEveryMs) return;
    this.touchedAt = now;
    const seconds = now / 1000;
    await utimes(this.path, seconds, seconds).catch((error: unknown) => {
      // Gone (removed on stop, or by another worker after a long pause): the next task makes it again.
      if (errnoCode(error) !== "ENOENT") throw error;
    });
  }

  async remove(): Promise<void> {
    await rm(this.path, { recursive: true, force: true });
  }

  private async sweepStale(now: number): Promise<string[]> {
    const removed: string[] = [];
    for (const name of await readdir(this.tmpDir)) {
      const path = join(this.tmpDir, name);
      if (!name.startsWith(prefix) || path === this.path) continue;
      // Missing: another worker starting at the same time removed it first.
      const stats = await lstat(path).catch((error: unknown) => {
        if (errnoCode(error) !== "ENOENT") throw error;
      });
      if (stats === undefined || !stats.isDirectory() || stats.mtimeMs > now - staleAfterMs) continue;
      await rm(path, { recursive: true, force: true });
      removed.push(name);
    }
    return removed;
  }
}
