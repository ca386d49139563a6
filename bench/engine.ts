/**
 * `npm run bench:engine`: jobs of one `util.noop` step through mediaflow embedded (SQLite, worker in this
 * process) side by side with BullMQ on a local Redis, measured in the same run by the same harness.
 * See docs/benchmarks.md for what each figure means.
 *
 * Environment: BENCH_JOBS (default 10000), BENCH_LATENCY_JOBS (default 300),
 * BENCH_REDIS_URL (default redis://127.0.0.1:6379).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { createBullmqTarget, redisUnavailableReason } from "./bullmq-target.js";
import {
  type BenchTarget,
  type Column,
  type LatencyResult,
  machineFacts,
  measureLatency,
  measureThroughput,
  percentile,
  renderTable,
  type ThroughputResult,
} from "./harness.js";
import { createMediaflowTarget } from "./mediaflow-target.js";
import { parseRedisUrl } from "./redis-probe.js";

const concurrencies = [1, 10, 50] as const;

/**
 * Jobs submitted together: 500 concurrent createJob calls fill about two group commits (at most 256
 * transactions each); BullMQ gets the same 500 in one addBulk.
 */
const batchSize = 500;

/** An unreported run per system first, so that neither is measured while its code is still being compiled. */
const warmupJobs = 1_000;
const warmupConcurrency = 10;

/** Round trips made before latency is recorded: they pay for first connections and statement caches. */
const latencyWarmup = 10;

interface Contender {
  target: BenchTarget;
  /** Why this system's figures are missing, when they are. */
  skipped: string | undefined;
}

async function main(): Promise<void> {
  const started = performance.now();
  const jobs = positiveInteger("BENCH_JOBS", 10_000);
  const latencyJobs = positiveInteger("BENCH_LATENCY_JOBS", 300);
  const redisUrl = process.env.BENCH_REDIS_URL || "redis://127.0.0.1:6379";

  const workDir = mkdtempSync(join(tmpdir(), "mediaflow-bench-"));
  const removeWorkDir = () => rmSync(workDir, { recursive: true, force: true });
  const interrupted = (signal: NodeJS.Signals) => {
    removeWorkDir();
    process.stderr.write(
      `\ninterrupted (${signal}); BullMQ keys of the current run may remain under mediaflow-bench:\n`,
    );
    process.exit(130);
  };
  process.once("SIGINT", interrupted);
  process.once("SIGTERM", interrupted);

  try {
    const mediaflow: Contender = { target: createMediaflowTarget(workDir), skipped: undefined };
    const redis = parseRedisUrl(redisUrl);
    const unavailable = await redisUnavailableReason(redis);
    const bullmq: Contender = { target: createBullmqTarget(redis), skipped: undefined };
    if (unavailable !== undefined) bullmq.skipped = `Redis at ${redisUrl} is not reachable (${unavailable})`;

    print("mediaflow engine benchmark: jobs of one util.noop step, producer and worker in one process");
    print("");
    for (const line of machineFacts(new Date())) print(line);
    for (const contender of [mediaflow, bullmq]) {
      if (contender.skipped !== undefined) continue;
      await attempt(contender, async () => {
        for (const line of await contender.target.describe()) print(line);
      });
    }
    if (bullmq.skipped !== undefined) print(`\nBullMQ figures skipped: ${bullmq.skipped}`);

    for (const contender of [mediaflow, bullmq]) {
      await attempt(contender, async () => {
        progress(`${contender.target.name}: warm-up, ${Math.min(warmupJobs, jobs)} jobs (not reported)`);
        await measureThroughput(contender.target, {
          jobs: Math.min(warmupJobs, jobs),
          concurrency: warmupConcurrency,
          batchSize,
        });
      });
    }

    const throughput: ThroughputResult[] = [];
    for (const concurrency of concurrencies) {
      for (const contender of [mediaflow, bullmq]) {
        await attempt(contender, async () => {
          progress(`${contender.target.name}: ${jobs} jobs, concurrency ${concurrency}`);
          throughput.push(await measureThroughput(contender.target, { jobs, concurrency, batchSize }));
        });
      }
    }

    const latency: LatencyResult[] = [];
    for (const contender of [mediaflow, bullmq]) {
      await attempt(contender, async () => {
        progress(`${contender.target.name}: latency, ${latencyJobs} jobs one at a time`);
        latency.push(await measureLatency(contender.target, { jobs: latencyJobs, warmup: latencyWarmup }));
      });
    }

    print("");
    print(`Enqueue: ${jobs} jobs in batches of ${batchSize}, no worker running (mediaflow: concurrent`);
    print("createJob calls, group-committed; BullMQ: one addBulk per batch). Concurrency names the run.");
    print(throughputTable(throughput, concurrencies, (result) => result.enqueueSeconds));
    print("");
    print(`Processing: from worker start until all ${jobs} enqueued jobs have completed.`);
    print(throughputTable(throughput, concurrencies, (result) => result.processSeconds));
    print("");
    print(`Latency: ${latencyJobs} jobs one at a time (submit, wait for completion, next), worker`);
    print(
      `concurrency 1, ${latencyWarmup} unrecorded round trips first; milliseconds, nearest-rank percentiles.`,
    );
    print(latencyTable(latency));
    print("");
    print("mediaflow / BullMQ: above 1 means mediaflow has more jobs/s, or more milliseconds of latency.");
    for (const contender of [mediaflow, bullmq]) {
      if (contender.skipped !== undefined)
        print(`${contender.target.name} figures skipped: ${contender.skipped}`);
    }
    print(`\ntotal time: ${((performance.now() - started) / 1000).toFixed(1)} s`);
    if (mediaflow.skipped !== undefined) process.exitCode = 1;
  } finally {
    process.off("SIGINT", interrupted);
    process.off("SIGTERM", interrupted);
    removeWorkDir();
  }
}

/**
 * Runs one measurement of a system unless it was skipped. A failure skips the system's remaining
 * measurements with the reason, so that one system failing (Redis going away) still leaves the other's.
 */
async function attempt(contender: Contender, measure: () => Promise<void>): Promise<void> {
  if (contender.skipped !== undefined) return;
  try {
    await measure();
  } catch (error) {
    contender.skipped = error instanceof Error ? error.message : String(error);
    progress(`${contender.target.name} failed, its remaining measurements are skipped: ${contender.skipped}`);
  }
}

const throughputColumns: Column[] = [
  { title: "system", align: "left" },
  { title: "concurrency", align: "right" },
  { title: "jobs", align: "right" },
  { title: "seconds", align: "right" },
  { title: "jobs/s", align: "right" },
  { title: "mediaflow / BullMQ", align: "right" },
];

function throughputTable(
  results: readonly ThroughputResult[],
  levels: readonly number[],
  seconds: (result: ThroughputResult) => number,
): string {
  const rows: string[][] = [];
  for (const concurrency of levels) {
    const mediaflow = results.find(
      (result) => result.system === "mediaflow" && result.concurrency === concurrency,
    );
    const bullmq = results.find((result) => result.system === "BullMQ" && result.concurrency === concurrency);
    const rate = (result: ThroughputResult) => result.jobs / seconds(result);
    for (const result of [mediaflow, bullmq]) {
      if (result === undefined) continue;
      const ratio =
        result !== mediaflow ? "" : bullmq === undefined ? "n/a" : (rate(result) / rate(bullmq)).toFixed(2);
      rows.push([
        result.system,
        String(result.concurrency),
        String(result.jobs),
        seconds(result).toFixed(2),
        Math.round(rate(result)).toString(),
        ratio,
      ]);
    }
  }
  return renderTable(throughputColumns, rows);
}

const quantiles = [50, 95, 99] as const;

function latencyTable(results: readonly LatencyResult[]): string {
  const columns: Column[] = [
    { title: "system", align: "left" },
    { title: "concurrency", align: "right" },
    { title: "jobs", align: "right" },
    ...quantiles.map((q): Column => ({ title: `p${q} ms`, align: "right" })),
  ];
  const rows = results.map((result) => [
    result.system,
    "1",
    String(result.jobs),
    ...quantiles.map((q) => percentile(result.samplesMs, q).toFixed(2)),
  ]);
  const mediaflow = results.find((result) => result.system === "mediaflow");
  const bullmq = results.find((result) => result.system === "BullMQ");
  rows.push([
    "mediaflow / BullMQ",
    "",
    "",
    ...quantiles.map((q) =>
      mediaflow === undefined || bullmq === undefined
        ? "n/a"
        : (percentile(mediaflow.samplesMs, q) / percentile(bullmq.samplesMs, q)).toFixed(2),
    ),
  ]);
  return renderTable(columns, rows);
}

function positiveInteger(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === "") return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 1)
    throw new Error(`${name} must be a positive integer, not ${JSON.stringify(raw)}`);
  return value;
}

function print(line: string): void {
  process.stdout.write(`${line}\n`);
}

/** Progress goes to standard error, so that standard output is the report alone. */
function progress(line: string): void {
  process.stderr.write(`… ${line}\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(
    `bench:engine failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
  );
  process.exitCode = 1;
});
