import { access, mkdir, rename, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import type { Logger } from "pino";
import type { Engine } from "../engine/engine.js";
import { coerceError } from "../errors/errors.js";
import type { PipelineSpec } from "../pipeline/types.js";
import type { BlobStore } from "../storage/blob-store.js";
import { safeKeySegment } from "../storage/keys.js";
import { contentTypeFor } from "../util/content-type.js";
import { type InboxEntry, scanInbox } from "./inbox-scan.js";
import { startTriggerJob, type TriggeredJob } from "./start-trigger-job.js";
import { matchRule, type TriggerRule } from "./trigger-rules.js";

export interface InboxWatcherOptions {
  dir: string;
  rules: readonly TriggerRule[];
  pipelines: ReadonlyMap<string, PipelineSpec>;
  engine: Engine;
  storage: BlobStore;
  log: Logger;
  /**
   * 1 s: a dropped file starts within about 2 s (it must look the same on two polls), and a scan of a
   * few hundred files a second costs next to nothing.
   */
  pollMs?: number;
}

/** What one poll did, by relative path. */
export interface InboxPollResult {
  started: (TriggeredJob & { path: string })[];
  unmatched: string[];
  failed: string[];
}

/** Where taken files go, inside the inbox; dot-folders are never scanned. */
export const processedFolder = ".processed";
export const failedFolder = ".failed";

/**
 * Watches a local inbox folder and starts a pipeline for each file a rule takes.
 *
 * Polling with stat, not fs.watch: fs.watch misses events on network and container-mounted filesystems,
 * reports renames differently per platform and says nothing about whether the writer has finished. A
 * file is taken once its size and mtime are the same on two consecutive polls. Then, in this order:
 *   1. it is copied into the store under `tenants/<tenant>/inbox/<mtimeMs>-<bytes>/<path>` (atomic put):
 *      a later file at the same path is stored beside it, never over the input of an earlier job;
 *   2. the job is created with idempotency key `inbox:<path>:<bytes>:<mtimeMs>`;
 *   3. it is moved to `.processed/<path>` (or `.failed/<path>` next to a `.error.txt` when the job
 *      cannot be made, e.g. the rule's parameters do not fit the pipeline).
 * A crash between 2 and 3 leaves the file in place; on restart steps 1-2 repeat and find the same job, so
 * the file is processed once. Files that no rule takes are logged once and left where they are.
 */
export class InboxWatcher {
  private readonly options: InboxWatcherOptions;
  private readonly pollMs: number;
  private previous = new Map<string, string>();
  private readonly reportedUnmatched = new Set<string>();
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<unknown> | undefined;
  private stopped = true;

  constructor(options: InboxWatcherOptions) {
    this.options = options;
    this.pollMs = options.pollMs ?? 1000;
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.schedule(0);
  }

  /** Stops polling and waits for a poll under way to finish; idempotent. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    await this.running;
  }

  private schedule(delayMs: number): void {
    this.timer = setTimeout(() => {
      this.running = this.pollOnce()
        .catch((error: unknown) => this.options.log.error({ err: error }, "inbox poll failed"))
        .finally(() => {
          if (!this.stopped) this.schedule(this.pollMs);
        });
    }, delayMs);
    this.timer.unref();
  }

  /** One scan: files unchanged since the previous scan are taken. Exposed so tests can step it. */
  async pollOnce(): Promise<InboxPollResult> {
    const result: InboxPollResult = { started: [], unmatched: [], failed: [] };
    const entries = await scanInbox(this.options.dir);
    const current = new Map(entries.map((entry) => [entry.relativePath, fingerprint(entry)]));
    for (const entry of entries) {
      if (this.previous.get(entry.relativePath) !== fingerprint(entry)) continue;
      await this.take(entry, result);
    }
    for (const path of this.reportedUnmatched) if (!current.has(path)) this.reportedUnmatched.delete(path);
    this.previous = current;
    return result;
  }

  private async take(entry: InboxEntry, result: InboxPollResult): Promise<void> {
    const { log } = this.options;
    const path = entry.relativePath;
    const contentType = contentTypeFor(path);
    const rule = matchRule(this.options.rules, { key: path, contentType });
    if (rule === undefined) {
      if (!this.reportedUnmatched.has(path))
        log.info({ path }, "inbox file matches no trigger rule; left alone");
      this.reportedUnmatched.add(path);
      result.unmatched.push(path);
      return;
    }
    try {
      const segments = path.split("/").map(safeKeySegment).join("/");
      const key = `tenants/${rule.tenant}/inbox/${entry.mtimeMs}-${entry.bytes}/${segments}`;
      const stored = await this.options.storage.putFile(key, entry.absolutePath, { contentType });
      // Written to since the last poll after all: take it once it settles.
      if (stored.bytes !== entry.bytes) return;
      const filename = path.split("/").at(-1) ?? path;
      const job = await startTriggerJob(
        this.options.engine,
        this.options.pipelines,
        rule,
        { key, filename, contentType, bytes: stored.bytes },
        `inbox:${path}:${entry.bytes}:${entry.mtimeMs}`,
      );
      await moveInto(this.options.dir, processedFolder, entry);
      log.info({ path, rule: rule.name, jobId: job.jobId, created: job.created }, "inbox file started a job");
      result.started.push({ path, ...job });
    } catch (thrown) {
      const error = coerceError(thrown);
      if (error.retryable) {
        // The store or the database may be back on the next poll; the file stays and is tried again.
        log.warn({ path, err: error }, "inbox file could not be taken yet; will retry");
        return;
      }
      const moved = await moveInto(this.options.dir, failedFolder, entry);
      await writeFile(`${moved}.error.txt`, `${error.code}: ${error.message}\n`);
      log.warn({ path, rule: rule.name, err: error }, "inbox file refused; moved to .failed");
      result.failed.push(path);
    }
  }
}

function fingerprint(entry: InboxEntry): string {
  return `${entry.bytes}:${entry.mtimeMs}`;
}

/** Moves a file under `<inbox>/<folder>/<path>`, never over an earlier file of the same name. */
async function moveInto(inbox: string, folder: string, entry: InboxEntry): Promise<string> {
  let target = join(inbox, folder, entry.relativePath);
  if (await exists(target)) target = `${target}.${entry.mtimeMs}`;
  await mkdir(dirname(target), { recursive: true });
  await rename(entry.absolutePath, target);
  return target;
}

async function exists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}
