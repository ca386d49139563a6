import { mkdtemp, rm } from "node:fs/promises";
import { join } from "node:path";
import Database from "better-sqlite3";
import { loadConfig } from "../src/config/config.js";
import type { CreateJobRequest, Engine } from "../src/engine/engine.js";
import type { JobEvent } from "../src/engine/events.js";
import { type PipelineSpec, retryDefaults } from "../src/pipeline/types.js";
import { createLogger } from "../src/runtime/logger.js";
import { openRuntime, type Runtime } from "../src/runtime/open-runtime.js";
import { builtinCatalog } from "../src/steps/builtin-steps.js";
import type { Worker } from "../src/worker/worker.js";
import type { BenchTarget, LatencySession, ThroughputSession } from "./harness.js";

/** One step that does nothing: what is measured is the engine, the queue and the database. */
const noopPipeline: PipelineSpec = {
  name: "bench-noop",
  params: {},
  steps: {
    // One attempt, as BullMQ's default; a no-op never fails, so this only keeps the two jobs alike.
    noop: {
      use: "util.noop",
      needs: [],
      with: {},
      retry: { ...retryDefaults, attempts: 1 },
      priority: 0,
      join: "all-succeeded",
    },
  },
};

export const noopJob: CreateJobRequest = { pipeline: noopPipeline, input: null };

/**
 * mediaflow embedded: one SQLite file per measurement (created fresh in a directory of its own under
 * `parentDir`, with the adapter's own settings: WAL, commits acknowledged once the log is flushed), the
 * producer and the worker in this process, as `mediaflow run` does.
 */
export function createMediaflowTarget(parentDir: string): BenchTarget {
  const catalog = builtinCatalog();
  // Configuration from flags only, not the environment: a MEDIAFLOW_* variable must not point the
  // benchmark at a real database or change the defaults being measured.
  const configFor = (dir: string, concurrency: number) =>
    loadConfig({}, { dataDir: dir, tmpDir: dir, logLevel: "silent", concurrency });
  const log = createLogger(configFor(parentDir, 1).logLevel);

  async function openEnvironment(concurrency: number): Promise<Environment> {
    const dir = await mkdtemp(join(parentDir, "run-"));
    let runtime: Runtime;
    try {
      runtime = await openRuntime(configFor(dir, concurrency), catalog, log);
    } catch (error) {
      await rm(dir, { recursive: true, force: true });
      throw error;
    }
    const watch = new CompletionWatch(runtime.engine);
    return {
      engine: runtime.engine,
      worker: runtime.createWorker(),
      watch,
      async close() {
        watch.dispose();
        try {
          await runtime.close();
        } finally {
          await rm(dir, { recursive: true, force: true });
        }
      },
    };
  }

  return {
    name: "mediaflow",
    async describe() {
      const db = new Database(":memory:");
      try {
        const { version } = db.prepare("SELECT sqlite_version() AS version").get() as { version: string };
        return [
          `mediaflow: SQLite ${version} (better-sqlite3), WAL: a job is acknowledged once the log holding its commit is flushed (fdatasync)`,
          `           worker in the producer's process; database files under ${parentDir}`,
        ];
      } finally {
        db.close();
      }
    },

    async openThroughput(concurrency): Promise<ThroughputSession> {
      const { engine, worker, watch, close } = await openEnvironment(concurrency);
      return {
        async enqueueBatch(count) {
          // Concurrent calls, so that the writer can commit many of them together (group commit).
          await Promise.all(Array.from({ length: count }, () => engine.createJob(noopJob)));
        },
        async runUntilCompleted(total) {
          const done = watch.untilSucceeded(total);
          worker.start();
          await done;
        },
        close,
      };
    },

    async openLatency(): Promise<LatencySession> {
      const { engine, worker, watch, close } = await openEnvironment(1);
      worker.start();
      return {
        async submitAndWait() {
          // One job in flight: the next job.succeeded is this job's. Waiting starts before the submit, so
          // that no notification can be missed.
          const done = watch.untilSucceeded(watch.succeeded + 1);
          await engine.createJob(noopJob);
          await done;
        },
        close,
      };
    },
  };
}

interface Environment {
  engine: Engine;
  worker: Worker;
  watch: CompletionWatch;
  close(): Promise<void>;
}

/**
 * Counts the job.succeeded events the engine announces after each commit, as a client of the embedded
 * engine would learn of them. A job.failed stops the measurement: it would never reach its count.
 */
export class CompletionWatch {
  succeeded = 0;
  private failure: Error | undefined;
  private waiter: { total: number; resolve: () => void; reject: (error: Error) => void } | undefined;
  private readonly listener = (events: JobEvent[]) => this.observe(events);

  constructor(private readonly engine: Engine) {
    engine.notifications.on("events", this.listener);
  }

  /** Resolves once `total` jobs have succeeded since this watch began. */
  untilSucceeded(total: number): Promise<void> {
    if (this.failure !== undefined) return Promise.reject(this.failure);
    if (this.succeeded >= total) return Promise.resolve();
    return new Promise((resolve, reject) => {
      this.waiter = { total, resolve, reject };
    });
  }

  dispose(): void {
    this.engine.notifications.off("events", this.listener);
  }

  private observe(events: readonly JobEvent[]): void {
    for (const event of events) {
      if (event.type === "job.succeeded") this.succeeded++;
      else if (event.type === "job.failed") {
        this.failure ??= new Error(`job ${event.jobId} failed: ${event.data.error.message}`);
      }
    }
    const waiter = this.waiter;
    if (waiter === undefined) return;
    if (this.failure !== undefined) {
      this.waiter = undefined;
      waiter.reject(this.failure);
    } else if (this.succeeded >= waiter.total) {
      this.waiter = undefined;
      waiter.resolve();
    }
  }
}
