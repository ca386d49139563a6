import { createRequire } from "node:module";
import { type ConnectionOptions, Queue, QueueEvents, Worker } from "bullmq";
import type { BenchTarget, LatencySession, ThroughputSession } from "./harness.js";
import { type RedisAddress, RedisErrorReply, type RedisReply, redisCommands } from "./redis-probe.js";

/** Every key the benchmark writes is under this prefix, apart from any other user of the same Redis. */
const prefix = "mediaflow-bench";

export const bullmqTargetName = "BullMQ";
/** BullMQ on a Redis of the benchmark's own that flushes its append-only file before it answers. */
export const durableBullmqTargetName = "BullMQ fsync";

/** A local Redis answers in well under a millisecond; a second means it is not there. */
const probeTimeoutMs = 1_000;

/** Resolves to undefined when Redis answers PING, or to the reason it did not. */
export async function redisUnavailableReason(address: RedisAddress): Promise<string | undefined> {
  try {
    const [reply] = await redisCommands(address, [["PING"]], probeTimeoutMs);
    if (reply === "PONG") return undefined;
    return `unexpected answer to PING: ${describeReply(reply)}`;
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  }
}

/**
 * BullMQ on Redis, measured by the same harness as mediaflow: a fresh queue per measurement (obliterated
 * afterwards), a Worker with a no-op processor in this process, jobs kept after completion (BullMQ's
 * default, as mediaflow keeps its event log).
 */
export function createBullmqTarget(address: RedisAddress, name = bullmqTargetName): BenchTarget {
  const connection: ConnectionOptions = {
    host: address.host,
    port: address.port,
    username: address.username,
    password: address.password,
    db: address.db,
  };
  let queues = 0;
  const nextQueueName = () => `noop-${process.pid}-${Date.now().toString(36)}-${++queues}`;

  return {
    name,
    async describe() {
      const bullmq = createRequire(import.meta.url)("bullmq/package.json") as { version: string };
      const [info, appendonly, appendfsync, save] = await redisCommands(
        address,
        [
          ["INFO", "server"],
          ["CONFIG", "GET", "appendonly"],
          ["CONFIG", "GET", "appendfsync"],
          ["CONFIG", "GET", "save"],
        ],
        probeTimeoutMs,
      );
      const version = typeof info === "string" ? /redis_version:(\S+)/.exec(info)?.[1] : undefined;
      const aof = configValue(appendonly);
      const durability =
        aof === "yes"
          ? `AOF on, appendfsync ${configValue(appendfsync) ?? "?"}`
          : `AOF ${aof === "no" ? "off" : "unknown"}, RDB save "${configValue(save) ?? "?"}": a job is acknowledged once it is in memory`;
      return [
        `${`${name}:`.padEnd(10)} ${bullmq.version} on Redis ${version ?? "?"} at ${address.host}:${address.port}, ${durability}`,
        `           worker in the producer's process; queue keys under "${prefix}:", removed after each run`,
      ];
    },

    async openThroughput(concurrency): Promise<ThroughputSession> {
      const queueName = nextQueueName();
      const queue = new Queue(queueName, { connection, prefix });
      const worker = new Worker(queueName, async () => undefined, {
        connection,
        prefix,
        concurrency,
        autorun: false,
      });
      const watch = new CompletionWatch(worker, queue);
      const close = () =>
        closeInOrder([() => worker.close(), () => queue.obliterate({ force: true }), () => queue.close()]);
      try {
        await Promise.all([queue.waitUntilReady(), worker.waitUntilReady()]);
      } catch (error) {
        await close();
        throw error;
      }
      return {
        async enqueueBatch(count) {
          await queue.addBulk(Array.from({ length: count }, () => ({ name: "noop", data: {} })));
        },
        async runUntilCompleted(total) {
          const done = watch.untilCompleted(total);
          worker.run().catch((error: unknown) => watch.fail(error));
          await done;
        },
        close,
      };
    },

    async openLatency(): Promise<LatencySession> {
      const queueName = nextQueueName();
      const queue = new Queue(queueName, { connection, prefix });
      const events = new QueueEvents(queueName, { connection, prefix });
      const worker = new Worker(queueName, async () => undefined, { connection, prefix, concurrency: 1 });
      const watch = new CompletionWatch(worker, queue, events);
      const close = () =>
        closeInOrder([
          () => worker.close(),
          () => events.close(),
          () => queue.obliterate({ force: true }),
          () => queue.close(),
        ]);
      try {
        await Promise.all([queue.waitUntilReady(), events.waitUntilReady(), worker.waitUntilReady()]);
      } catch (error) {
        await close();
        throw error;
      }
      return {
        async submitAndWait() {
          const job = await queue.add("noop", {});
          // Through QueueEvents, as a producer in another process would learn of it.
          await Promise.race([job.waitUntilFinished(events), watch.failed]);
        },
        close,
      };
    },
  };
}

/**
 * Counts the worker's "completed" events (emitted in this process, as mediaflow's notifications are). A
 * failed job or a connection error stops the measurement instead of leaving it to time out.
 */
class CompletionWatch {
  /** Rejects on the first failure; never resolves. */
  readonly failed: Promise<never>;
  private completed = 0;
  private failure: Error | undefined;
  private rejectFailed: (error: Error) => void = () => {};
  private waiters: { total: number; resolve: () => void; reject: (error: Error) => void }[] = [];

  constructor(worker: Worker, queue: Queue, events?: QueueEvents) {
    this.failed = new Promise<never>((_, reject) => {
      this.rejectFailed = reject;
    });
    // Whoever waits on `failed` sees the rejection; a run that never waits on it must not crash on it.
    this.failed.catch(() => {});
    worker.on("completed", () => {
      this.completed++;
      this.settle();
    });
    worker.on("failed", (job, error) =>
      this.fail(new Error(`job ${job?.id ?? "?"} failed: ${error.message}`)),
    );
    worker.on("error", (error) => this.fail(error));
    queue.on("error", (error) => this.fail(error));
    events?.on("error", (error) => this.fail(error));
  }

  untilCompleted(total: number): Promise<void> {
    return new Promise((resolve, reject) => {
      this.waiters.push({ total, resolve, reject });
      this.settle();
    });
  }

  fail(error: unknown): void {
    if (this.failure !== undefined) return;
    this.failure = error instanceof Error ? error : new Error(String(error));
    this.rejectFailed(this.failure);
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

/** Runs every step even if one fails, in order; throws all failures together. */
async function closeInOrder(steps: (() => Promise<unknown>)[]): Promise<void> {
  const failures: unknown[] = [];
  for (const step of steps) {
    try {
      await step();
    } catch (error) {
      failures.push(error);
    }
  }
  if (failures.length > 0) throw new AggregateError(failures, "BullMQ did not close cleanly");
}

function configValue(reply: RedisReply | undefined): string | undefined {
  return Array.isArray(reply) && typeof reply[1] === "string" ? reply[1] : undefined;
}

function describeReply(reply: RedisReply | undefined): string {
  return reply instanceof RedisErrorReply ? reply.message : JSON.stringify(reply);
}
