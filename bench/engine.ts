/**
 * `npm run bench:engine`: jobs of one `util.noop` step through mediaflow on SQLite (embedded) and on
 * PostgreSQL, side by side with BullMQ on a local Redis, BullMQ on a Redis started for the run that
 * flushes its append-only file at every write (`BullMQ fsync`, when `redis-server` is on the PATH) and
 * graphile-worker on the same PostgreSQL, measured in the same run by the same harness; then mediaflow on
 * PostgreSQL with 1, 2 and 4 worker processes. See docs/benchmarks.md for what each figure means.
 *
 * `--quick`: 1,000 jobs per measurement and 100 for latency: about 20 seconds on 2 cores.
 * `--rounds R` (default 1): each throughput measurement R times, the systems taking turns, and the
 * fastest of each reported (on a busy machine the fastest run is the one least disturbed), with every
 * round listed.
 * Environment: BENCH_JOBS (default 10000), BENCH_LATENCY_JOBS (default 300),
 * BENCH_REDIS_URL (default redis://127.0.0.1:6379), MEDIAFLOW_BENCH_POSTGRES_URL or
 * MEDIAFLOW_TEST_POSTGRES_URL (default postgres://postgres@127.0.0.1:5432/test).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { parseArgs } from "node:util";
import { createBullmqTarget, durableBullmqTargetName, redisUnavailableReason } from "./bullmq-target.js";
import { type DurableRedis, startDurableRedis } from "./durable-redis.js";
import { type Contender, printEngineReport } from "./engine-report.js";
import { createGraphileTarget } from "./graphile-target.js";
import {
  type LatencyResult,
  machineFacts,
  measureLatency,
  measureThroughput,
  print,
  progress,
  runBench,
  type ThroughputResult,
} from "./harness.js";
import { createMediaflowTarget } from "./mediaflow-target.js";
import { benchPostgresUrl, postgresUnavailableReason } from "./postgres-schemas.js";
import { createPostgresTarget } from "./postgres-target.js";
import { parseRedisUrl } from "./redis-probe.js";
import { measureStatementShare, type StatementShare } from "./sqlite-statement-time.js";
import { measureWorkerProcesses, type WorkerProcessesResult } from "./worker-processes.js";

const concurrencies = [1, 10, 50] as const;

/**
 * Jobs submitted together: 500 concurrent createJob calls fill about two group commits (at most 256
 * transactions each); BullMQ and graphile-worker get the same 500 in one bulk call.
 */
const batchSize = 500;

/** An unreported run per system first, so that none is measured while its code is still being compiled. */
const warmupJobs = 1_000;
const warmupConcurrency = 10;

/** Round trips made before latency is recorded: they pay for first connections and statement caches. */
const latencyWarmup = 10;

/** The extra run with SQLite's statements timed: at the concurrency of the throughput target. */
const statementTimingConcurrency = 10;

/** Worker processes of `mediaflow worker`; each runs 10 tasks at a time, the middle concurrency above. */
const workerProcessCounts = [1, 2, 4] as const;
const concurrencyPerProcess = 10;

async function main(): Promise<void> {
  const started = performance.now();
  const { values } = parseArgs({
    options: { quick: { type: "boolean", default: false }, rounds: { type: "string", default: "1" } },
  });
  const quick = values.quick;
  const rounds = Number(values.rounds);
  if (!Number.isInteger(rounds) || rounds < 1) throw new Error("--rounds must be a positive integer");
  const jobs = positiveInteger("BENCH_JOBS", quick ? 1_000 : 10_000);
  const latencyJobs = positiveInteger("BENCH_LATENCY_JOBS", quick ? 100 : 300);
  const redisUrl = process.env.BENCH_REDIS_URL || "redis://127.0.0.1:6379";
  const postgresUrl = benchPostgresUrl(process.env);

  const workDir = mkdtempSync(join(tmpdir(), "mediaflow-bench-"));
  const removeWorkDir = () => rmSync(workDir, { recursive: true, force: true });
  let fsyncRedis: DurableRedis | undefined;
  const interrupted = (signal: NodeJS.Signals) => {
    void fsyncRedis?.stop();
    removeWorkDir();
    process.stderr.write(
      `\ninterrupted (${signal}); BullMQ keys under mediaflow-bench: and PostgreSQL schemas named *_bench_${process.pid}_* may remain\n`,
    );
    process.exit(130);
  };
  process.once("SIGINT", interrupted);
  process.once("SIGTERM", interrupted);

  try {
    const redis = parseRedisUrl(redisUrl);
    const redisDown = await redisUnavailableReason(redis);
    const postgresDown = await postgresUnavailableReason(postgresUrl);
    const unreachable = (what: string, url: string, reason: string | undefined) =>
      reason === undefined ? undefined : `${what} at ${redactPassword(url)} is not reachable (${reason})`;
    const sqlite: Contender = { target: createMediaflowTarget(workDir), skipped: undefined };
    const bullmq: Contender = {
      target: createBullmqTarget(redis),
      skipped: unreachable("Redis", redisUrl, redisDown),
    };
    const fsyncServer = await startDurableRedis(workDir);
    if ("address" in fsyncServer) fsyncRedis = fsyncServer;
    const bullmqFsync: Contender = {
      target: createBullmqTarget(
        "address" in fsyncServer ? fsyncServer.address : redis,
        durableBullmqTargetName,
      ),
      skipped: "skipped" in fsyncServer ? fsyncServer.skipped : undefined,
    };
    const postgres: Contender = {
      target: createPostgresTarget(postgresUrl, workDir),
      skipped: unreachable("PostgreSQL", postgresUrl, postgresDown),
    };
    const graphile: Contender = {
      target: createGraphileTarget(postgresUrl),
      skipped: unreachable("PostgreSQL", postgresUrl, postgresDown),
    };
    const contenders = [sqlite, bullmq, bullmqFsync, postgres, graphile];

    print("mediaflow engine benchmark: jobs of one util.noop step, producer and worker in one process");
    print("");
    for (const line of machineFacts(new Date())) print(line);
    for (const contender of contenders) {
      await attempt(contender, async () => {
        for (const line of await contender.target.describe()) print(line);
      });
    }
    for (const contender of contenders) {
      if (contender.skipped !== undefined) print(`\nSKIPPED ${contender.target.name}: ${contender.skipped}`);
    }

    for (const contender of contenders) {
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
      for (let round = 0; round < rounds; round++) {
        // Each round starts with the next system, so that none is always the one measured first.
        for (let turn = 0; turn < contenders.length; turn++) {
          const contender = contenders[(round + turn) % contenders.length] as Contender;
          await attempt(contender, async () => {
            progress(
              `${contender.target.name}: ${jobs} jobs, concurrency ${concurrency}, round ${round + 1}`,
            );
            throughput.push(await measureThroughput(contender.target, { jobs, concurrency, batchSize }));
          });
        }
      }
    }

    const latency: LatencyResult[] = [];
    for (const contender of contenders) {
      await attempt(contender, async () => {
        progress(`${contender.target.name}: latency, ${latencyJobs} jobs one at a time`);
        latency.push(await measureLatency(contender.target, { jobs: latencyJobs, warmup: latencyWarmup }));
      });
    }

    let statementShare: StatementShare | undefined;
    await attempt(sqlite, async () => {
      progress(
        `mediaflow: ${jobs} jobs, concurrency ${statementTimingConcurrency}, every SQLite statement timed`,
      );
      statementShare = await measureStatementShare(sqlite.target, {
        jobs,
        concurrency: statementTimingConcurrency,
        batchSize,
      });
    });

    const processes: WorkerProcessesResult[] = [];
    let processesSkipped = postgres.skipped;
    for (const count of workerProcessCounts) {
      if (processesSkipped !== undefined) break;
      try {
        progress(`mediaflow PG: ${jobs} jobs, ${count} worker processes`);
        processes.push(
          await measureWorkerProcesses(postgresUrl, workDir, {
            processes: count,
            concurrencyEach: concurrencyPerProcess,
            jobs,
          }),
        );
      } catch (error) {
        processesSkipped = error instanceof Error ? error.message : String(error);
        progress(`worker processes failed, the remaining ones are skipped: ${processesSkipped}`);
      }
    }

    printEngineReport(print, {
      jobs,
      rounds,
      latencyJobs,
      batchSize,
      latencyWarmup,
      concurrencies,
      throughput,
      latency,
      processes,
      concurrencyPerProcess,
      processesSkipped,
      contenders,
      statementShare,
    });
    print(`\ntotal time: ${((performance.now() - started) / 1000).toFixed(1)} s`);
    if (sqlite.skipped !== undefined) process.exitCode = 1;
  } finally {
    process.off("SIGINT", interrupted);
    process.off("SIGTERM", interrupted);
    await fsyncRedis?.stop();
    removeWorkDir();
  }
}

/** The URL as printed: a password in it stays out of the report. */
function redactPassword(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password !== "") parsed.password = "***";
    return parsed.toString();
  } catch {
    return url;
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

function positiveInteger(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === "") return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 1)
    throw new Error(`${name} must be a positive integer, not ${JSON.stringify(raw)}`);
  return value;
}

runBench("bench:engine", main);
