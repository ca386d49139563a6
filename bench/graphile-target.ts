import { EventEmitter } from "node:events";
import { createRequire } from "node:module";
import {
  Logger,
  makeWorkerUtils,
  type Runner,
  run,
  type WorkerEvents,
  type WorkerUtils,
} from "graphile-worker";
import pg from "pg";
import type { BenchTarget, LatencySession, ThroughputSession } from "./harness.js";
import { describePostgres, dropSchema, freshSchemaName } from "./postgres-schemas.js";

export const graphileTargetName = "graphile-worker";

const taskList = { noop: async () => undefined };

/** graphile-worker logs through its own logger; silenced, as mediaflow's is, so neither pays for output. */
const silentLogger = new Logger(() => () => {});

/**
 * graphile-worker on the same PostgreSQL server as mediaflow, in a schema of its own per measurement
 * (dropped afterwards): jobs added with WorkerUtils, run by a worker pool in this process. One attempt
 * per job, as mediaflow's bench pipeline has.
 */
export function createGraphileTarget(serverUrl: string): BenchTarget {
  async function openEnvironment(concurrency: number) {
    const schema = freshSchemaName("graphile_bench");
    // pg's default pool size (10), the size mediaflow's backend uses too.
    const pool = new pg.Pool({ connectionString: serverUrl, max: 10 });
    const events = new EventEmitter() as WorkerEvents;
    const watch = new CompletionWatch(events);
    // An idle client's error (the server going away) stops the measurement instead of crashing the run.
    pool.on("error", (error) => watch.fail(error));
    pool.on("connect", (client) => client.on("error", (error) => watch.fail(error)));
    let utils: WorkerUtils | undefined;
    let runner: Runner | undefined;
    const close = async () => {
      const failures: unknown[] = [];
      for (const step of [
        () => runner?.stop(),
        () => utils?.release(),
        () => pool.end(),
        () => dropSchema(serverUrl, schema),
      ]) {
        try {
          await step();
        } catch (error) {
          failures.push(error);
        }
      }
      if (failures.length > 0) throw new AggregateError(failures, "graphile-worker did not close cleanly");
    };
    const options = { pgPool: pool, schema, logger: silentLogger, events };
    try {
      utils = await makeWorkerUtils(options);
      await utils.migrate();
    } catch (error) {
      await close();
      throw error;
    }
    const adder = utils;
    return {
      utils: adder,
      watch,
      async start() {
        runner = await run({ ...options, taskList, concurrency, noHandleSignals: true });
        runner.promise.catch((error: unknown) => watch.fail(error));
      },
      close,
    };
  }

  return {
    name: graphileTargetName,
    async describe() {
      const { version } = createRequire(import.meta.url)("graphile-worker/package.json") as {
        version: string;
      };
      return [
        `graphile-worker: ${version} on ${await describePostgres(serverUrl)}`,
        "           worker pool in the producer's process, woken by LISTEN/NOTIFY; a schema per run, dropped after",
      ];
    },

    async openThroughput(concurrency): Promise<ThroughputSession> {
      const environment = await openEnvironment(concurrency);
      return {
        async enqueueBatch(count) {
          await environment.utils.addJobs(
            Array.from({ length: count }, () => ({ identifier: "noop", payload: {}, maxAttempts: 1 })),
          );
        },
        async runUntilCompleted(total) {
          const done = environment.watch.untilCompleted(total);
          await environment.start();
          await done;
        },
        close: environment.close,
      };
    },

    async openLatency(): Promise<LatencySession> {
      const environment = await openEnvironment(1);
      try {
        await environment.start();
      } catch (error) {
        await environment.close();
        throw error;
      }
      return {
        async submitAndWait() {
          // One job in flight: the next completion is this job's. Waiting starts before the add.
          const done = environment.watch.untilCompleted(environment.watch.completed + 1);
          await environment.utils.addJob("noop", {}, { maxAttempts: 1 });
          await done;
        },
        close: environment.close,
      };
    },
  };
}

/**
 * Counts `job:complete` events: graphile-worker emits them once a job's result is written back, as
 * mediaflow announces job.succeeded after its commit. A failed job stops the measurement.
 */
class CompletionWatch {
  completed = 0;
  private failure: Error | undefined;
  private waiters: { total: number; resolve: () => void; reject: (error: Error) => void }[] = [];

  constructor(events: WorkerEvents) {
    events.on("job:complete", ({ job, error }) => {
      if (error !== null && error !== undefined)
        this.fail(new Error(`job ${job.id} failed: ${String(error)}`));
      else this.completed++;
      this.settle();
    });
  }

  untilCompleted(total: number): Promise<void> {
    return new Promise((resolve, reject) => {
      this.waiters.push({ total, resolve, reject });
      this.settle();
    });
  }

  fail(error: unknown): void {
    this.failure ??= error instanceof Error ? error : new Error(String(error));
    this.settle();
  }

  private settle(): void {
    const failure = this.failure;
    this.waiters = this.waiters.filter((waiter) => {
      if (failure !== undefined) waiter.reject(failure);
      else if (this.completed >= waiter.total) waiter.resolve();
      else return true;
      return false;
    });
  }
}
