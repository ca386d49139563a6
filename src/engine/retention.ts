import type { Logger } from "pino";
import type { Backend } from "../backend/backend.js";
import { coerceError } from "../errors/errors.js";
import type { BlobStore } from "../storage/blob-store.js";
import type { JobProjection } from "./projection.js";

export interface RetentionSweeperOptions {
  backend: Backend;
  storage: BlobStore;
  log: Logger;
  /** One minute: expiry is promised by the day, so a minute late is nothing, and an idle sweep is one indexed query. */
  intervalMs?: number;
  /** 0..1: the fraction of each interval that is randomised, so processes started together spread out. */
  jitter?: number;
  /** Jobs claimed at once; a sweep claims batch after batch until none is left. */
  batchSize?: number;
  /**
   * Ten minutes: far longer than deleting one batch's files takes, and only how long the jobs of a sweeper
   * that died mid-batch wait before another sweeper takes them over.
   */
  leaseMs?: number;
  clock?: () => number;
  random?: () => number;
}

/**
 * Deletes the files of finished jobs whose retention has ended, then marks them expired. Each job:
 * retained --expiresAt passes--> due --claimed by a sweeper--> held --files deleted, marked--> expired;
 * held --the sweeper dies, the claim runs out--> due again. Deleting is idempotent, so a job taken over
 * halfway is simply deleted again; claims keep two sweepers from working on one job at once.
 *
 * The sweeper itself: idle --start--> running --stop--> stopped; stop waits for a sweep in progress.
 * start and stop are idempotent.
 */
export class RetentionSweeper {
  private readonly backend: Backend;
  private readonly storage: BlobStore;
  private readonly log: Logger;
  private readonly intervalMs: number;
  private readonly jitter: number;
  private readonly batchSize: number;
  private readonly leaseMs: number;
  private readonly clock: () => number;
  private readonly random: () => number;
  private loop: Promise<void> | undefined;
  private stopping = false;
  private wake: (() => void) | undefined;

  constructor(options: RetentionSweeperOptions) {
    this.backend = options.backend;
    this.storage = options.storage;
    this.log = options.log;
    this.intervalMs = options.intervalMs ?? 60_000;
    this.jitter = options.jitter ?? 0.2;
    this.batchSize = options.batchSize ?? 50;
    this.leaseMs = options.leaseMs ?? 10 * 60_000;
    this.clock = options.clock ?? Date.now;
    this.random = options.random ?? Math.random;
  }

  start(): void {
    if (this.loop !== undefined || this.stopping) return;
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.stopping = true;
    this.wake?.();
    await this.loop;
  }

  /** Expires every job that is due now; returns how many this call marked expired. */
  async sweepOnce(): Promise<number> {
    let expired = 0;
    for (;;) {
      const now = this.clock();
      const jobIds = await this.backend.retention.claimExpired({
        now,
        limit: this.batchSize,
        leaseMs: this.leaseMs,
      });
      for (const jobId of jobIds) {
        try {
          if (await this.expire(jobId)) expired++;
        } catch (error) {
          // Left held: another sweep takes it up once the claim runs out.
          this.log.warn({ err: coerceError(error), jobId }, "could not expire a job; will try again");
        }
      }
      if (jobIds.length < this.batchSize || this.stopping) return expired;
    }
  }

  private async expire(jobId: string): Promise<boolean> {
    const state = await this.backend.reads.getJob(jobId);
    const keys = new Set(state === undefined ? [] : keysOfJob(state));
    // Also what no projection records: outputs of attempts that lost their lease, a map step's stray parts.
    for await (const blob of this.storage.list(jobPrefix(jobId))) keys.add(blob.key);
    for (const key of keys) await this.storage.delete(key);
    const marked = await this.backend.retention.markExpired(jobId, this.clock());
    if (marked) this.log.info({ jobId, files: keys.size }, "job expired: its files are deleted");
    return marked;
  }

  private async run(): Promise<void> {
    while (!this.stopping) {
      await this.pause(this.nextDelay());
      if (this.stopping) return;
      try {
        await this.sweepOnce();
      } catch (error) {
        this.log.error({ err: coerceError(error) }, "retention sweep failed; trying again next interval");
      }
    }
  }

  private nextDelay(): number {
    return Math.max(0, this.intervalMs * (1 + this.jitter * (2 * this.random() - 1)));
  }

  private pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.wake = undefined;
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.wake = done;
    });
  }
}

function jobPrefix(jobId: string): string {
  return `jobs/${jobId}/`;
}

/**
 * The files a job's projection records: every step's outputs (a map step's parts included) and its input
 * when the job itself stored it. Only keys under the job's own prefix: a step may pass on a file it did
 * not make (a tenant's upload, another job's output), and that is not this job's to delete.
 */
export function keysOfJob(state: JobProjection): string[] {
  const prefix = jobPrefix(state.job.id);
  const keys: string[] = [];
  const input = state.job.input?.key;
  if (input !== undefined) keys.push(input);
  for (const step of Object.values(state.steps)) {
    for (const output of step.result?.outputs ?? []) keys.push(output.key);
    for (const part of step.parts?.results ?? []) {
      for (const output of part?.outputs ?? []) keys.push(output.key);
    }
  }
  return keys.filter((key) => key.startsWith(prefix));
}
