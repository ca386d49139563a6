import { mkdtemp, rm } from "node:fs/promises";
import { join } from "node:path";
import { loadConfig } from "../src/config/config.js";
import { createLogger } from "../src/runtime/logger.js";
import { openRuntime, type Runtime } from "../src/runtime/open-runtime.js";
import { builtinCatalog } from "../src/steps/builtin-steps.js";
import type { BenchTarget, LatencySession, ThroughputSession } from "./harness.js";
import { CompletionWatch, noopJob } from "./mediaflow-target.js";
import { describePostgres, dropSchema, freshSchemaName, urlWithSchema } from "./postgres-schemas.js";

export const postgresTargetName = "mediaflow PG";

/**
 * mediaflow on PostgreSQL: a fresh schema per measurement (dropped afterwards), the producer and the
 * worker in this process, so that the figures compare with the SQLite ones; other processes' workers are
 * measured by worker-processes.ts.
 */
export function createPostgresTarget(serverUrl: string, parentDir: string): BenchTarget {
  const catalog = builtinCatalog();
  // Flags only, not the environment: a MEDIAFLOW_* variable must not change what is measured.
  const configFor = (dir: string, databaseUrl: string, concurrency: number) =>
    loadConfig({}, { dataDir: dir, tmpDir: dir, databaseUrl, logLevel: "silent", concurrency });
  const log = createLogger("silent");

  /**
   * A fresh schema with `runtimes` runtimes on it, each with its own connection pool and listener, as
   * separate processes would have; closed and dropped together.
   */
  async function openRuntimes(runtimes: number, concurrency: number) {
    const dir = await mkdtemp(join(parentDir, "pg-run-"));
    const schema = freshSchemaName("mediaflow_bench");
    const databaseUrl = urlWithSchema(serverUrl, schema);
    const opened: Runtime[] = [];
    const close = async () => {
      try {
        await Promise.all(opened.map((runtime) => runtime.close()));
      } finally {
        try {
          await dropSchema(serverUrl, schema);
        } finally {
          await rm(dir, { recursive: true, force: true });
        }
      }
    };
    try {
      // One after the other: the first creates the schema and its tables.
      for (let index = 0; index < runtimes; index++) {
        opened.push(await openRuntime(configFor(dir, databaseUrl, concurrency), catalog, log));
      }
    } catch (error) {
      await close();
      throw error;
    }
    return { runtimes: opened, close };
  }

  return {
    name: postgresTargetName,
    async describe() {
      return [
        `mediaflow PG: ${await describePostgres(serverUrl)}: a job is acknowledged after its commit`,
        "           worker in the producer's process, woken by LISTEN/NOTIFY; a schema per run, dropped after",
      ];
    },

    async openThroughput(concurrency): Promise<ThroughputSession> {
      const { runtimes, close } = await openRuntimes(1, concurrency);
      const [runtime] = runtimes as [Runtime];
      const worker = runtime.createWorker();
      const watch = new CompletionWatch(runtime.engine);
      return {
        async enqueueBatch(count) {
          // Concurrent calls: they run on the pool's connections side by side, as an API server's would.
          await Promise.all(Array.from({ length: count }, () => runtime.engine.createJob(noopJob)));
        },
        async runUntilCompleted(total) {
          const done = watch.untilSucceeded(total);
          worker.start();
          await done;
        },
        async close() {
          watch.dispose();
          await close();
        },
      };
    },

    /**
     * The producer and the worker on separate runtimes (pools and listeners), so that the worker learns
     * of each job through NOTIFY as a worker process would, not through its own process's wake-up.
     */
    async openLatency(): Promise<LatencySession> {
      const { runtimes, close } = await openRuntimes(2, 1);
      const [producer, consumer] = runtimes as [Runtime, Runtime];
      const watch = new CompletionWatch(consumer.engine);
      consumer.createWorker().start();
      return {
        async submitAndWait() {
          const done = watch.untilSucceeded(watch.succeeded + 1);
          await producer.engine.createJob(noopJob);
          await done;
        },
        async close() {
          watch.dispose();
          await close();
        },
      };
    },
  };
}
