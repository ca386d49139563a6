import { performance } from "node:perf_hooks";
import Database from "better-sqlite3";
import {
  type BenchTarget,
  type Column,
  deadlineMs,
  enqueueAll,
  renderTable,
  withDeadline,
} from "./harness.js";

export interface StatementTime {
  /** The statement's SQL, whitespace collapsed. */
  sql: string;
  calls: number;
  nanoseconds: number;
}

export interface StatementShare {
  jobs: number;
  concurrency: number;
  processSeconds: number;
  /** Every statement run on this thread while the jobs were processed, the dearest first. */
  statements: StatementTime[];
}

type StatementMethod = "run" | "get" | "all";
const timedMethods: readonly StatementMethod[] = ["run", "get", "all"];

/**
 * One more mediaflow run on SQLite with every statement this thread runs timed: how much of a job is the
 * database's own work. SQLite lets one connection write at a time, so these statements run one after
 * another whatever runs around them; their time per job bounds the jobs per second of any arrangement of
 * the engine around the same writes. Timing costs about a tenth of a microsecond per statement (about
 * five per job), half of it inside the measured span, so this run's rate is not one of the reported ones.
 */
export async function measureStatementShare(
  target: BenchTarget,
  options: { jobs: number; concurrency: number; batchSize: number },
): Promise<StatementShare> {
  const { jobs, concurrency, batchSize } = options;
  const session = await target.openThroughput(concurrency);
  try {
    await enqueueAll(session, jobs, batchSize);
    const timing = startStatementTiming();
    const start = performance.now();
    try {
      await withDeadline(session.runUntilCompleted(jobs), deadlineMs(jobs), "timed statements");
    } finally {
      timing.stop();
    }
    const processSeconds = (performance.now() - start) / 1000;
    return { jobs, concurrency, processSeconds, statements: timing.statements() };
  } finally {
    await session.close();
  }
}

/**
 * Wraps better-sqlite3's statement methods and `exec` on this thread (statements already prepared
 * included: the methods live on one prototype) until `stop`. The checkpoint thread has its own copy of
 * the module and is not timed; it does not hold the write lock.
 */
function startStatementTiming(): { stop(): void; statements(): StatementTime[] } {
  // Keyed by the SQL as prepared; tidied and merged only when read, to keep the timing itself cheap.
  const times = new Map<string, StatementTime>();
  const record = (sql: string, started: bigint) => {
    const elapsed = Number(process.hrtime.bigint() - started);
    let time = times.get(sql);
    if (time === undefined) {
      time = { sql, calls: 0, nanoseconds: 0 };
      times.set(sql, time);
    }
    time.calls++;
    time.nanoseconds += elapsed;
  };
  const probe = new Database(":memory:");
  const statementPrototype = Object.getPrototypeOf(probe.prepare("SELECT 1")) as Record<
    StatementMethod,
    (this: { source: string }, ...args: unknown[]) => unknown
  >;
  probe.close();
  const databasePrototype = Database.prototype as unknown as {
    exec: (this: Database.Database, sql: string) => unknown;
  };
  const originals = timedMethods.map((method) => statementPrototype[method]);
  const originalExec = databasePrototype.exec;
  timedMethods.forEach((method, index) => {
    const original = originals[index] as (typeof statementPrototype)[StatementMethod];
    statementPrototype[method] = function (this: { source: string }, ...args: unknown[]) {
      const started = process.hrtime.bigint();
      try {
        return original.apply(this, args);
      } finally {
        record(this.source, started);
      }
    };
  });
  databasePrototype.exec = function (this: Database.Database, sql: string) {
    const started = process.hrtime.bigint();
    try {
      return originalExec.call(this, sql);
    } finally {
      record(sql, started);
    }
  };
  return {
    stop() {
      timedMethods.forEach((method, index) => {
        statementPrototype[method] = originals[index] as (typeof statementPrototype)[StatementMethod];
      });
      databasePrototype.exec = originalExec;
    },
    statements: () => mergeBySummary([...times.values()]),
  };
}

/**
 * One entry per statement as a reader would name it: whitespace collapsed, and statements that differ
 * only in how many rows they insert at once (`VALUES (...), (...)`) counted together. The dearest first.
 */
function mergeBySummary(times: readonly StatementTime[]): StatementTime[] {
  const merged = new Map<string, StatementTime>();
  for (const time of times) {
    const sql = time.sql
      .replace(/\s+/g, " ")
      .trim()
      .replace(/ VALUES \(.*$/, " VALUES ...");
    const entry = merged.get(sql) ?? { sql, calls: 0, nanoseconds: 0 };
    entry.calls += time.calls;
    entry.nanoseconds += time.nanoseconds;
    merged.set(sql, entry);
  }
  return [...merged.values()].sort((a, b) => b.nanoseconds - a.nanoseconds);
}

/** Lines for the report: the database's share of a job, and the statements that make it up. */
export function statementShareLines(
  share: StatementShare,
  reference: { name: string; jobsPerSecond: number } | undefined,
): string[] {
  const { jobs } = share;
  const microsPerJob = (nanoseconds: number) => nanoseconds / 1000 / jobs;
  const inStatements = microsPerJob(share.statements.reduce((sum, s) => sum + s.nanoseconds, 0));
  const wall = (share.processSeconds * 1e6) / jobs;
  const lines = [
    `SQLite's share: one more mediaflow run of ${jobs} jobs at concurrency ${share.concurrency}, every statement timed.`,
    `  a job, wall time:              ${wall.toFixed(1).padStart(6)} µs (${Math.round(jobs / share.processSeconds)} jobs/s)`,
    `  a job, in SQLite statements:   ${inStatements.toFixed(1).padStart(6)} µs: one writer at a time, so at most ` +
      `${Math.round(1e6 / inStatements)} jobs/s with all else free`,
  ];
  if (reference !== undefined) {
    lines.push(
      `  ${`${reference.name}'s fastest run, a job:`.padEnd(31)} ${(1e6 / reference.jobsPerSecond).toFixed(1).padStart(6)} µs ` +
        `(${Math.round(reference.jobsPerSecond)} jobs/s)`,
    );
  }
  const columns: Column[] = [
    { title: "µs/job", align: "right" },
    { title: "calls", align: "right" },
    { title: "µs/call", align: "right" },
    { title: "statement", align: "left" },
  ];
  const rows = share.statements
    .filter((statement) => microsPerJob(statement.nanoseconds) >= 0.05)
    .map((statement) => [
      microsPerJob(statement.nanoseconds).toFixed(2),
      String(statement.calls),
      (statement.nanoseconds / 1000 / statement.calls).toFixed(1),
      statement.sql.length > 70 ? `${statement.sql.slice(0, 67)}...` : statement.sql,
    ]);
  lines.push(renderTable(columns, rows));
  return lines;
}
