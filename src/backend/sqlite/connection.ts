import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import Database from "better-sqlite3";
import { ErrorCodes, PermanentError } from "../../errors/errors.js";
import type { BeforeDurableOptions, Committed } from "../backend.js";
import { type Checkpoints, checkpointsInCommit } from "./checkpoints.js";
import { type Migration, migrations } from "./migrations.js";
import type { Durability } from "./wal-sync.js";

export type SqliteDatabase = Database.Database;
type Statement = Database.Statement;

/**
 * How long a connection waits for another process's write lock before giving up. Transactions here take
 * milliseconds, so this is only reached when something is badly wrong.
 */
const busyTimeoutMs = 10_000;

/** Opens the file with the settings every connection needs: WAL for concurrent readers, durable commits. */
export function openDatabase(path: string, options: { readonly?: boolean } = {}): SqliteDatabase {
  if (!options.readonly) mkdirSync(dirname(path), { recursive: true });
  const db = new Database(path, {
    readonly: options.readonly ?? false,
    fileMustExist: options.readonly ?? false,
  });
  db.pragma(`busy_timeout = ${busyTimeoutMs}`);
  const writeAheadLog = !options.readonly && db.pragma("journal_mode = WAL", { simple: true }) === "wal";
  // With a write-ahead log, NORMAL: SQLite writes the log at commit without waiting for the disk, and the
  // writer flushes it off the event loop before it tells anyone of the commit (see wal-sync.ts), so an
  // acknowledged job still survives power loss. FULL elsewhere: SQLite flushes at every commit itself.
  db.pragma(`synchronous = ${writeAheadLog ? "NORMAL" : "FULL"}`);
  // Each caller's work runs in a savepoint of the shared commit (see SqliteWriter), and SQLite keeps the
  // pages a savepoint may have to restore in a temporary file by default: a file opened per commit and
  // two writes per page changed (as many writes as the WAL gets). In memory: 40% less system CPU at
  // worker concurrency 10, measured. Temporary tables and sorts go to memory too; no query here makes
  // large ones.
  db.pragma("temp_store = MEMORY");
  db.pragma("foreign_keys = ON");
  return db;
}

/**
 * Applies the migrations this build knows and has not applied yet, under `BEGIN IMMEDIATE` so that two
 * processes starting at once do not both apply one. Refuses a database migrated by a newer build.
 */
export function migrate(db: SqliteDatabase, known: readonly Migration[] = migrations): void {
  db.exec(`CREATE TABLE IF NOT EXISTS mediaflow_migrations (
    version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)`);
  db.exec("BEGIN IMMEDIATE");
  try {
    const row = db.prepare("SELECT max(version) AS version FROM mediaflow_migrations").get() as {
      version: number | null;
    };
    const current = row.version ?? 0;
    const latest = known.at(-1)?.version ?? 0;
    if (current > latest) {
      throw new PermanentError(
        ErrorCodes.schemaTooNew,
        `the database schema is at version ${current}, newer than this mediaflow knows (${latest}); upgrade mediaflow`,
      );
    }
    const record = db.prepare(
      "INSERT INTO mediaflow_migrations (version, name, applied_at) VALUES (?, ?, ?)",
    );
    for (const migration of known) {
      if (migration.version <= current) continue;
      db.exec(migration.sql);
      record.run(migration.version, migration.name, Date.now());
    }
    db.exec("COMMIT");
  } catch (error) {
    db.exec("ROLLBACK");
    throw error;
  }
}

interface PendingTransaction {
  work: () => Promise<unknown>;
  /** Nobody waits for the commit to be durable soon: its flush may wait for company. */
  lazyFlush: boolean;
  /** The work committed: others can see it now; `durable` settles once it is on disk. */
  committed: (value: unknown, durable: Promise<void>) => void;
  /** The work threw and was rolled back, or the transaction could not begin or commit. */
  failed: (reason: unknown) => void;
}

/** What the writer tells a cache of the database's contents, so that nothing cached outlives a rollback. */
export interface TransactionHooks {
  /** A transaction began; `changedElsewhere`: another connection committed since the previous one. */
  began(changedElsewhere: boolean): void;
  /** One caller's work is about to run, in a savepoint of its own. */
  beganWork(): void;
  /** That work threw and its savepoint was rolled back. */
  rolledBackWork(): void;
  /** The whole transaction was rolled back: its commit failed. */
  rolledBack(): void;
}

const noHooks: TransactionHooks = {
  began: () => {},
  beganWork: () => {},
  rolledBackWork: () => {},
  rolledBack: () => {},
};

/**
 * SQLite has one writer at a time, so transactions are queued and run one after the other on one
 * connection. Transactions that queue up while a commit is in progress run together in the next one, each
 * in a savepoint of its own (group commit), and so do those queued while that one's work runs. A
 * transaction that throws rolls back its own savepoint only.
 *
 * A commit's callers are answered once it is durable (`durability`: the write-ahead log flushed off the
 * event loop), but the writer does not wait for the disk: the next transactions run and commit while the
 * flush runs, and share the next one. `runBeforeDurable` answers at commit, for work that may be acted
 * on before it is durable. Once a flush has failed, every transaction is refused.
 */
export class SqliteWriter {
  private readonly queue: PendingTransaction[] = [];
  private running = false;
  private idleWaiters: (() => void)[] = [];
  /** SQLite's count of other connections' commits, as of this writer's last transaction. */
  private dataVersion: number | undefined;
  /** The last commit's flush, so that `idle` waits for it too. */
  private lastDurable: Promise<void> = Promise.resolve();
  /** Why commits can no longer be made durable, once a flush has failed. */
  private failure: unknown;

  /** Prepared once: `db.pragma()` and `db.exec()` compile their SQL anew at every call. */
  private readonly dataVersionStatement: Statement;
  private readonly savepoint: SavepointStatements;

  constructor(
    private readonly db: SqliteDatabase,
    private readonly durability: Durability,
    private readonly hooks: TransactionHooks = noHooks,
    private readonly checkpoints: Checkpoints = checkpointsInCommit,
  ) {
    this.dataVersionStatement = db.prepare("PRAGMA data_version").pluck();
    this.savepoint = {
      begin: db.prepare("SAVEPOINT work"),
      release: db.prepare("RELEASE work"),
      rollback: db.prepare("ROLLBACK TO work"),
    };
  }

  /** Runs `work` in a transaction; resolves once its commit is durable. */
  run<T>(work: () => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.enqueue({
        work,
        lazyFlush: false,
        committed: (value, durable) => durable.then(() => resolve(value as T), reject),
        failed: reject,
      });
    });
  }

  /**
   * Runs `work` in a transaction; resolves as soon as it has committed, before it is durable. Only for
   * work whose result may be acted on early because a commit lost to a power cut loses nothing that will
   * not be done again (a claim: its task is claimed again); whatever else the caller tells must wait for
   * `durable`.
   */
  runBeforeDurable<T>(work: () => Promise<T>, options: BeforeDurableOptions = {}): Promise<Committed<T>> {
    return new Promise<Committed<T>>((resolve, reject) => {
      this.enqueue({
        work,
        lazyFlush: options.lazyFlush ?? false,
        committed: (value, durable) => resolve({ value: value as T, durable }),
        failed: reject,
      });
    });
  }

  private enqueue(item: PendingTransaction): void {
    if (this.failure !== undefined) {
      item.failed(this.failure);
      return;
    }
    this.queue.push(item);
    if (!this.running) {
      this.running = true;
      setImmediate(() => void this.drain());
    }
  }

  private async drain(): Promise<void> {
    try {
      while (this.queue.length > 0) {
        const pause = this.checkpoints.beforeTransaction();
        if (pause !== undefined) await pause;
        await this.runBatch();
      }
    } finally {
      this.running = false;
      if (this.queue.length === 0) {
        await this.lastDurable;
        for (const wake of this.idleWaiters.splice(0)) wake();
      }
    }
  }

  /** Resolves once every queued transaction has settled and the last commit's flush has ended. */
  idle(): Promise<void> {
    if (!this.running && this.queue.length === 0) return this.lastDurable;
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private async runBatch(): Promise<void> {
    if (this.failure !== undefined) {
      for (const item of this.queue.splice(0)) item.failed(this.failure);
      return;
    }
    try {
      this.db.exec("BEGIN IMMEDIATE");
    } catch (error) {
      for (const item of this.queue.splice(0, maxBatch)) item.failed(error);
      return;
    }
    const version = this.dataVersionStatement.get() as number;
    this.hooks.began(version !== this.dataVersion);
    this.dataVersion = version;
    const batch: PendingTransaction[] = [];
    const outcomes: { ok: boolean; value: unknown }[] = [];
    // Work queued while earlier work of this batch runs (its awaits let other callers go on) joins it.
    while (batch.length < maxBatch) {
      const item = this.queue.shift();
      if (item === undefined) break;
      batch.push(item);
      this.savepoint.begin.run();
      this.hooks.beganWork();
      try {
        const value = await item.work();
        this.savepoint.release.run();
        outcomes.push({ ok: true, value });
      } catch (error) {
        this.savepoint.rollback.run();
        this.savepoint.release.run();
        this.hooks.rolledBackWork();
        outcomes.push({ ok: false, value: error });
      }
    }
    try {
      this.db.exec("COMMIT");
    } catch (error) {
      if (this.db.inTransaction) this.db.exec("ROLLBACK");
      this.hooks.rolledBack();
      for (const item of batch) item.failed(error);
      return;
    }
    this.checkpoints.committed();
    const durable = batch.every((item) => item.lazyFlush)
      ? this.durability.syncSoon()
      : this.durability.sync();
    // Settled here too, so that a failure with nobody waiting (early callers) is not unhandled.
    this.lastDurable = durable.catch((error: unknown) => {
      this.failure ??= error;
    });
    batch.forEach((item, index) => {
      const outcome = outcomes[index];
      if (outcome?.ok) item.committed(outcome.value, durable);
      else item.failed(outcome?.value);
    });
  }
}

interface SavepointStatements {
  begin: Statement;
  release: Statement;
  rollback: Statement;
}

/**
 * The most transactions one commit carries: enough to share an fsync among a busy worker pool, few enough
 * that no caller waits long behind the others.
 */
const maxBatch = 256;
