import { type ChildProcess, spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { loadConfig } from "../src/config/config.js";
import { createLogger } from "../src/runtime/logger.js";
import { openRuntime } from "../src/runtime/open-runtime.js";
import { builtinCatalog } from "../src/steps/builtin-steps.js";
import { withDeadline } from "./harness.js";
import { noopJob } from "./mediaflow-target.js";
import { dropSchema, freshSchemaName, urlWithSchema } from "./postgres-schemas.js";

/** The CLI built beside this file (dist/bench → dist/src/cli). */
const cliPath = fileURLToPath(new URL("../src/cli/main.js", import.meta.url));

/** Concurrent createJob calls per batch, as in the in-process measurements. */
const batchSize = 500;

/** How often the producer counts finished jobs: small beside runs of several seconds. */
const countEveryMs = 50;

/** Starting a worker process takes well under a few seconds, even on a busy 2-core machine. */
const startDeadlineMs = 30_000;

export interface WorkerProcessesResult {
  processes: number;
  concurrencyEach: number;
  jobs: number;
  /** From the first submit until every job has succeeded; the workers run while jobs are submitted. */
  seconds: number;
}

/**
 * mediaflow on PostgreSQL with `processes` worker processes (`mediaflow worker`) on a fresh schema. The
 * processes are started and ready before the first job; this process then creates the jobs in batches
 * and counts finished jobs in the database until all have succeeded.
 */
export async function measureWorkerProcesses(
  serverUrl: string,
  parentDir: string,
  options: { processes: number; concurrencyEach: number; jobs: number },
): Promise<WorkerProcessesResult> {
  const dir = await mkdtemp(join(parentDir, "processes-"));
  const schema = freshSchemaName("mediaflow_bench");
  const databaseUrl = urlWithSchema(serverUrl, schema);
  const config = loadConfig({}, { dataDir: dir, tmpDir: dir, databaseUrl, logLevel: "silent" });
  const children: ChildProcess[] = [];
  try {
    const runtime = await openRuntime(config, builtinCatalog(), createLogger("silent"));
    try {
      for (let index = 0; index < options.processes; index++) {
        children.push(startWorker(databaseUrl, dir, options.concurrencyEach));
      }
      await withDeadline(Promise.all(children.map(untilStarted)), startDeadlineMs, "starting workers");
      const started = performance.now();
      const finished = untilAllSucceeded(() => runtime.backend.reads.jobCounts(), options.jobs);
      // Awaited below; a failure while jobs are still being submitted must not count as unhandled.
      finished.catch(() => {});
      for (let submitted = 0; submitted < options.jobs; submitted += batchSize) {
        const count = Math.min(batchSize, options.jobs - submitted);
        await Promise.all(Array.from({ length: count }, () => runtime.engine.createJob(noopJob)));
      }
      await withDeadline(finished, Math.max(60_000, options.jobs * 10), "worker processes");
      return { ...options, seconds: (performance.now() - started) / 1000 };
    } finally {
      await Promise.all(children.map(stopWorker));
      await runtime.close();
    }
  } finally {
    try {
      await dropSchema(serverUrl, schema);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }
}

function startWorker(databaseUrl: string, dataDir: string, concurrency: number): ChildProcess {
  // An explicit environment: only what the worker needs, so that the caller's MEDIAFLOW_* cannot leak in.
  const env = {
    PATH: process.env.PATH ?? "",
    MEDIAFLOW_DATABASE_URL: databaseUrl,
    MEDIAFLOW_DATA_DIR: dataDir,
    MEDIAFLOW_TMP_DIR: dataDir,
    // "info" for the one line that says the worker is claiming; nothing else is logged per job.
    MEDIAFLOW_LOG_LEVEL: "info",
  };
  return spawn(process.execPath, [cliPath, "worker", "--concurrency", String(concurrency)], {
    env,
    // The log goes to standard error (pino's destination in the CLI); it is read for the start line.
    stdio: ["ignore", "ignore", "pipe"],
  });
}

/**
 * Resolves on the worker's "worker started" log line; rejects if the process exits first, with the last
 * lines it logged, which say why.
 */
function untilStarted(child: ChildProcess): Promise<void> {
  return new Promise((resolve, reject) => {
    const log = child.stderr;
    if (log === null) return reject(new Error("worker process has no standard error"));
    const lines = createInterface({ input: log });
    const tail: string[] = [];
    const exited = (code: number | null) =>
      reject(new Error(`worker process exited with ${code} before it started: ${tail.join("\n")}`));
    child.once("exit", exited);
    lines.on("line", (line) => {
      tail.push(line);
      if (tail.length > 5) tail.shift();
      if (!line.includes('"worker started"')) return;
      child.off("exit", exited);
      resolve();
    });
  });
}

async function stopWorker(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  child.kill("SIGTERM");
  const forced = setTimeout(() => child.kill("SIGKILL"), 10_000);
  await exited;
  clearTimeout(forced);
}

async function untilAllSucceeded(
  counts: () => Promise<Record<string, number>>,
  total: number,
): Promise<void> {
  for (;;) {
    const { succeeded = 0, failed = 0 } = await counts();
    if (failed > 0) throw new Error(`${failed} jobs failed in the worker processes`);
    if (succeeded >= total) return;
    await new Promise((resolve) => setTimeout(resolve, countEveryMs));
  }
}
