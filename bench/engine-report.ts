import { bullmqTargetName, durableBullmqTargetName } from "./bullmq-target.js";
import { graphileTargetName } from "./graphile-target.js";
import {
  type BenchTarget,
  type Column,
  type LatencyResult,
  percentile,
  renderTable,
  type ThroughputResult,
} from "./harness.js";
import { postgresTargetName } from "./postgres-target.js";
import { type StatementShare, statementShareLines } from "./sqlite-statement-time.js";
import type { WorkerProcessesResult } from "./worker-processes.js";

export interface Contender {
  target: BenchTarget;
  /** Why this system's figures are missing, when they are. */
  skipped: string | undefined;
}

export interface EngineFigures {
  jobs: number;
  /** How many times each throughput was measured; the fastest is reported. */
  rounds: number;
  latencyJobs: number;
  batchSize: number;
  latencyWarmup: number;
  concurrencies: readonly number[];
  throughput: readonly ThroughputResult[];
  latency: readonly LatencyResult[];
  processes: readonly WorkerProcessesResult[];
  concurrencyPerProcess: number;
  processesSkipped: string | undefined;
  contenders: readonly Contender[];
  /** The extra run with SQLite's statements timed; undefined when mediaflow's figures are missing. */
  statementShare: StatementShare | undefined;
}

/**
 * Each mediaflow backend beside its references: SQLite beside BullMQ on the configured Redis and on one
 * that flushes before it answers, as mediaflow does; PostgreSQL beside graphile-worker on the same server.
 */
const comparisons = [
  { system: "mediaflow", references: [bullmqTargetName, durableBullmqTargetName] },
  { system: postgresTargetName, references: [graphileTargetName] },
] as const;

/** The aims each backend was built to meet, printed beside the figures that show them. */
const targetConcurrency = 10;
const targets = [
  { system: "mediaflow", reference: bullmqTargetName, p50Ms: 5, note: "" },
  { system: postgresTargetName, reference: graphileTargetName, p50Ms: 10, note: " with LISTEN/NOTIFY" },
] as const;

export function printEngineReport(print: (line: string) => void, figures: EngineFigures): void {
  const { jobs, batchSize, latencyJobs, latencyWarmup, concurrencies, throughput } = figures;
  print("");
  print(`Enqueue: ${jobs} jobs in batches of ${batchSize}, no worker running (mediaflow: concurrent`);
  print("createJob calls; BullMQ and graphile-worker: one bulk add per batch). Concurrency names the run.");
  print(throughputTable(throughput, concurrencies, (result) => result.enqueueSeconds));
  print("");
  print(`Processing: from worker start until all ${jobs} enqueued jobs have completed.`);
  if (figures.rounds > 1)
    print(`The fastest of ${figures.rounds} rounds, every round listed below the table.`);
  print(throughputTable(throughput, concurrencies, (result) => result.processSeconds));
  if (figures.rounds > 1) for (const line of roundLines(throughput, concurrencies)) print(line);
  print("");
  print(`Latency: ${latencyJobs} jobs one at a time (submit, wait for completion, next), worker`);
  print(
    `concurrency 1, ${latencyWarmup} unrecorded round trips first; milliseconds, nearest-rank percentiles.`,
  );
  print("mediaflow PG: producer and worker on separate pools, the worker woken by LISTEN/NOTIFY.");
  print(latencyTable(figures.latency));
  print("");
  print("Ratio, on each reference's row: the mediaflow system above it / that reference (mediaflow on");
  print("SQLite / BullMQ and BullMQ fsync, mediaflow PG / graphile-worker). Above 1 means mediaflow has");
  print("more jobs/s, or more milliseconds of latency. BullMQ fsync: BullMQ on a Redis started for this run");
  print("with appendfsync always, which answers once a write is flushed, as mediaflow does.");
  print("");
  print(
    `mediaflow PG with worker processes (\`mediaflow worker --concurrency ${figures.concurrencyPerProcess}\` each),`,
  );
  print(`${jobs} jobs created by this process while the workers run: first submit until all succeeded.`);
  if (figures.processes.length > 0) print(processesTable(figures.processes));
  if (figures.processesSkipped !== undefined) print(`SKIPPED worker processes: ${figures.processesSkipped}`);
  if (figures.statementShare !== undefined) {
    const share = figures.statementShare;
    const reference = fastest(throughput, bullmqTargetName, share.concurrency, (r) => r.processSeconds);
    print("");
    const lines = statementShareLines(
      share,
      reference && { name: bullmqTargetName, jobsPerSecond: reference.jobs / reference.processSeconds },
    );
    for (const line of lines) print(line);
  }
  print("");
  for (const line of targetLines(figures)) print(line);
  for (const contender of figures.contenders) {
    if (contender.skipped !== undefined) print(`SKIPPED ${contender.target.name}: ${contender.skipped}`);
  }
}

function targetLines(figures: EngineFigures): string[] {
  const rate = (system: string) => {
    const result = fastest(figures.throughput, system, targetConcurrency, (r) => r.processSeconds);
    return result === undefined ? undefined : result.jobs / result.processSeconds;
  };
  const lines = ["Targets:"];
  for (const { system, reference, p50Ms, note } of targets) {
    const ours = rate(system);
    const theirs = rate(reference);
    const throughputLine =
      ours === undefined || theirs === undefined
        ? "not measured (see SKIPPED)"
        : `${Math.round(ours)} vs ${Math.round(theirs)} jobs/s: ${ours >= theirs ? "MET" : "NOT MET"}`;
    const latency = figures.latency.find((result) => result.system === system);
    const p50 = latency === undefined ? undefined : percentile(latency.samplesMs, 50);
    const latencyLine =
      p50 === undefined
        ? "not measured (see SKIPPED)"
        : `${p50.toFixed(2)} ms: ${p50 < p50Ms ? "MET" : "NOT MET"}`;
    lines.push(
      `  ${system} processing at concurrency ${targetConcurrency} >= ${reference}'s: ${throughputLine}`,
      `  ${system} latency p50 < ${p50Ms} ms${note}: ${latencyLine}`,
    );
  }
  const ours = rate("mediaflow");
  const durable = rate(durableBullmqTargetName);
  if (ours !== undefined && durable !== undefined) {
    lines.push(
      `Beside the same durability (not a target): mediaflow at concurrency ${targetConcurrency} ${Math.round(ours)} vs ` +
        `${durableBullmqTargetName} ${Math.round(durable)} jobs/s, ratio ${(ours / durable).toFixed(2)}`,
    );
  }
  return lines;
}

/** The run of `system` at `concurrency` that took the least time, over every round. */
function fastest(
  results: readonly ThroughputResult[],
  system: string,
  concurrency: number,
  seconds: (result: ThroughputResult) => number,
): ThroughputResult | undefined {
  let best: ThroughputResult | undefined;
  for (const result of results) {
    if (result.system !== system || result.concurrency !== concurrency) continue;
    if (best === undefined || seconds(result) < seconds(best)) best = result;
  }
  return best;
}

/** Every round's processing rate, one line per system and concurrency. */
function roundLines(results: readonly ThroughputResult[], levels: readonly number[]): string[] {
  const lines = ["processing, every round, jobs/s:"];
  for (const concurrency of levels) {
    for (const { system, references } of comparisons) {
      for (const name of [system, ...references]) {
        const rates = results
          .filter((result) => result.system === name && result.concurrency === concurrency)
          .map((result) => Math.round(result.jobs / result.processSeconds));
        if (rates.length > 0) lines.push(`  ${name}, concurrency ${concurrency}: ${rates.join(" / ")}`);
      }
    }
  }
  return lines;
}

const throughputColumns: Column[] = [
  { title: "system", align: "left" },
  { title: "concurrency", align: "right" },
  { title: "jobs", align: "right" },
  { title: "seconds", align: "right" },
  { title: "jobs/s", align: "right" },
  { title: "ratio", align: "right" },
];

function throughputTable(
  results: readonly ThroughputResult[],
  levels: readonly number[],
  seconds: (result: ThroughputResult) => number,
): string {
  const rate = (result: ThroughputResult) => result.jobs / seconds(result);
  const rows: string[][] = [];
  for (const concurrency of levels) {
    const at = (system: string) => fastest(results, system, concurrency, seconds);
    for (const { system, references } of comparisons) {
      const ours = at(system);
      for (const result of [ours, ...references.map(at)]) {
        if (result === undefined) continue;
        const ratio =
          result === ours ? "" : ours === undefined ? "n/a" : (rate(ours) / rate(result)).toFixed(2);
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
  }
  return renderTable(throughputColumns, rows);
}

const quantiles = [50, 95, 99] as const;

function latencyTable(results: readonly LatencyResult[]): string {
  const columns: Column[] = [
    { title: "system", align: "left" },
    { title: "jobs", align: "right" },
    ...quantiles.map((q): Column => ({ title: `p${q} ms`, align: "right" })),
  ];
  const rows: string[][] = [];
  const find = (system: string) => results.find((result) => result.system === system);
  for (const { system, references } of comparisons) {
    const ours = find(system);
    const theirs = references.map(find);
    for (const result of [ours, ...theirs]) {
      if (result === undefined) continue;
      rows.push([
        result.system,
        String(result.jobs),
        ...quantiles.map((q) => percentile(result.samplesMs, q).toFixed(2)),
      ]);
    }
    references.forEach((reference, index) => {
      const their = theirs[index];
      if (ours === undefined && their === undefined) return;
      rows.push([
        `ratio ${system} / ${reference}`,
        "",
        ...quantiles.map((q) =>
          ours === undefined || their === undefined
            ? "n/a"
            : (percentile(ours.samplesMs, q) / percentile(their.samplesMs, q)).toFixed(2),
        ),
      ]);
    });
  }
  return renderTable(columns, rows);
}

function processesTable(results: readonly WorkerProcessesResult[]): string {
  const columns: Column[] = [
    { title: "processes", align: "right" },
    { title: "tasks each", align: "right" },
    { title: "jobs", align: "right" },
    { title: "seconds", align: "right" },
    { title: "jobs/s", align: "right" },
    { title: "vs 1 process", align: "right" },
  ];
  const single = results.find((result) => result.processes === 1);
  const rate = (result: WorkerProcessesResult) => result.jobs / result.seconds;
  const rows = results.map((result) => [
    String(result.processes),
    String(result.concurrencyEach),
    String(result.jobs),
    result.seconds.toFixed(2),
    Math.round(rate(result)).toString(),
    single === undefined ? "n/a" : (rate(result) / rate(single)).toFixed(2),
  ]);
  return renderTable(columns, rows);
}
