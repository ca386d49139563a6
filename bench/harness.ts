import { arch, availableParallelism, cpus, platform, release, totalmem } from "node:os";
import { performance } from "node:perf_hooks";

/**
 * One system under test. The measuring functions below drive every target through these calls, so the
 * figures of both sides of a comparison come from the same code and the same clock.
 */
export interface BenchTarget {
  readonly name: string;
  /** Facts to print beside the figures: versions, and what an acknowledged job means (durability). */
  describe(): Promise<string[]>;
  /** A fresh queue or database with a worker of this concurrency, created but not started. */
  openThroughput(concurrency: number): Promise<ThroughputSession>;
  /** A fresh queue or database with a worker of concurrency 1, already started. */
  openLatency(): Promise<LatencySession>;
}

export interface ThroughputSession {
  /** Submits `count` jobs together (one bulk call, or concurrent calls); resolves once all are acknowledged. */
  enqueueBatch(count: number): Promise<void>;
  /** Starts the worker; resolves once `total` jobs have completed. */
  runUntilCompleted(total: number): Promise<void>;
  close(): Promise<void>;
}

export interface LatencySession {
  /** Submits one job and resolves when the submitter has seen it complete. */
  submitAndWait(): Promise<void>;
  close(): Promise<void>;
}

export interface ThroughputResult {
  system: string;
  concurrency: number;
  jobs: number;
  enqueueSeconds: number;
  processSeconds: number;
}

export interface LatencyResult {
  system: string;
  jobs: number;
  /** Milliseconds from submit to completion, one per job, in submission order. */
  samplesMs: number[];
}

/**
 * Enqueues all `jobs` first, in batches of `batchSize`, with no worker running; then starts the worker and
 * times until every job has completed. The two phases are timed separately.
 */
export async function measureThroughput(
  target: BenchTarget,
  options: { jobs: number; concurrency: number; batchSize: number },
): Promise<ThroughputResult> {
  const { jobs, concurrency, batchSize } = options;
  const what = `${target.name}, ${jobs} jobs, concurrency ${concurrency}`;
  const session = await target.openThroughput(concurrency);
  try {
    const enqueueStart = performance.now();
    await withDeadline(enqueueAll(session, jobs, batchSize), deadlineMs(jobs), `enqueueing (${what})`);
    const enqueueMs = performance.now() - enqueueStart;
    const processStart = performance.now();
    await withDeadline(session.runUntilCompleted(jobs), deadlineMs(jobs), `processing (${what})`);
    const processMs = performance.now() - processStart;
    return {
      system: target.name,
      concurrency,
      jobs,
      enqueueSeconds: enqueueMs / 1000,
      processSeconds: processMs / 1000,
    };
  } finally {
    await session.close();
  }
}

/** Submits `jobs` jobs in batches of `batchSize`, each batch acknowledged before the next. */
export async function enqueueAll(session: ThroughputSession, jobs: number, batchSize: number): Promise<void> {
  for (let submitted = 0; submitted < jobs; submitted += batchSize) {
    await session.enqueueBatch(Math.min(batchSize, jobs - submitted));
  }
}

/**
 * Submits `jobs` jobs one at a time (submit, wait for completion, next) and records each round trip.
 * The first `warmup` round trips are made but not recorded: they pay for first connections and queries.
 */
export async function measureLatency(
  target: BenchTarget,
  options: { jobs: number; warmup: number },
): Promise<LatencyResult> {
  const session = await target.openLatency();
  try {
    const samplesMs: number[] = [];
    const roundTrips = async () => {
      for (let index = 0; index < options.warmup + options.jobs; index++) {
        const start = performance.now();
        await session.submitAndWait();
        if (index >= options.warmup) samplesMs.push(performance.now() - start);
      }
    };
    await withDeadline(roundTrips(), deadlineMs(options.jobs * 10), `latency (${target.name})`);
    return { system: target.name, jobs: options.jobs, samplesMs };
  } finally {
    await session.close();
  }
}

/**
 * A stuck measurement fails instead of hanging the run: a minute, or 10 ms a job for large runs — either
 * is many times what a healthy run takes.
 */
export function deadlineMs(jobs: number): number {
  return Math.max(60_000, jobs * 10);
}

export async function withDeadline<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not finish within ${ms / 1000} s`)), ms);
  });
  try {
    return await Promise.race([work, expired]);
  } finally {
    clearTimeout(timer);
  }
}

/** Nearest-rank percentile (`p` in 0..100) of unsorted samples. */
export function percentile(samples: readonly number[], p: number): number {
  if (samples.length === 0) return Number.NaN;
  const sorted = [...samples].sort((a, b) => a - b);
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[Math.min(rank, sorted.length) - 1] ?? Number.NaN;
}

export interface Column {
  title: string;
  align: "left" | "right";
}

/** A plain-text table: a header, a rule, and the rows, each column as wide as its widest cell. */
export function renderTable(columns: readonly Column[], rows: readonly (readonly string[])[]): string {
  const widths = columns.map((column, index) =>
    Math.max(column.title.length, ...rows.map((row) => (row[index] ?? "").length)),
  );
  const line = (cells: readonly string[]) =>
    columns
      .map((column, index) => {
        const cell = cells[index] ?? "";
        const width = widths[index] ?? 0;
        return column.align === "left" ? cell.padEnd(width) : cell.padStart(width);
      })
      .join("  ")
      .trimEnd();
  const rule = widths.map((width) => "-".repeat(width)).join("  ");
  return [line(columns.map((column) => column.title)), rule, ...rows.map(line)].join("\n");
}

export function machineFacts(now: Date): string[] {
  const cpu = cpus()[0]?.model.trim() ?? "unknown";
  return [
    `date:    ${now.toISOString()}`,
    `node:    ${process.version} (${platform()} ${release()} ${arch()})`,
    `cpus:    ${availableParallelism()} × ${cpu}`,
    `memory:  ${(totalmem() / 2 ** 30).toFixed(1)} GiB`,
  ];
}

export function print(line: string): void {
  process.stdout.write(`${line}\n`);
}

/** Progress goes to standard error, so that standard output is the report alone. */
export function progress(line: string): void {
  process.stderr.write(`… ${line}\n`);
}

/** Runs a benchmark's main: a failure is reported on standard error and the exit code is 1. */
export function runBench(name: string, main: () => Promise<void>): void {
  main().catch((error: unknown) => {
    process.stderr.write(
      `${name} failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
    process.exitCode = 1;
  });
}
