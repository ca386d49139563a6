import type { JobStatus } from "../../engine/projection.js";
import type {
  ApiKeyStore,
  Backend,
  BackendReads,
  BackendTransaction,
  BeforeDurableOptions,
  Committed,
  QueueDepth,
  RetentionStore,
  TaskRecord,
  UploadStore,
  WebhookOutbox,
} from "../backend.js";
import { lastSeqOf } from "../rows.js";
import { sqliteApiKeyStore } from "./api-keys.js";
import {
  BackgroundCheckpoints,
  type CheckpointSettings,
  type Checkpoints,
  checkpointsInCommit,
} from "./checkpoints.js";
import { migrate, openDatabase, type SqliteDatabase, SqliteWriter } from "./connection.js";
import { eventStatements } from "./events.js";
import { jobStatements } from "./jobs.js";
import { ProjectionCache } from "./projection-cache.js";
import { queueStatements } from "./queue.js";
import { sqliteRetentionStore } from "./retention.js";
import { type TaskValues, taskColumns, taskFromValues } from "./rows.js";
import { sqliteUploadStore } from "./uploads.js";
import { alreadyDurable, type Durability, walSync } from "./wal-sync.js";
import { sqliteWebhookOutbox, webhookStatements } from "./webhooks.js";

/**
 * How many steps' state the writer keeps at most, summed over jobs; it keeps at least the half used last
 * (see ProjectionCache). A job is read at each claim and result; this keeps every job of a backlog of
 * 20,000 one-step jobs (about 20 MB of heap, measured; 40 MB at most) or 2,000 ten-step ones, so that
 * most reads are served from memory: with 10,000 queued one-step jobs it cut the engine's CPU per job by a
 * fifth, where 2,000 jobs (evicted before their claim) saved a twentieth.
 */
const projectionCacheSteps = 40_000;

/**
 * The embedded backend: one SQLite file that any number of processes on this machine may share. Writes
 * go through one connection per process, serialised and group-committed (see SqliteWriter); reads use a
 * second connection, which in WAL mode sees the last commit without waiting for writers. `durability`
 * replaces the flush of the write-ahead log (wal-sync.ts), for tests that make it slow or fail.
 */
export async function openSqliteBackend(
  path: string,
  options: { durability?: (walPath: string) => Durability; checkpoints?: CheckpointSettings } = {},
): Promise<Backend> {
  const writerDb = openDatabase(path);
  const writeAheadLog = writerDb.pragma("journal_mode", { simple: true }) === "wal";
  const durability = writeAheadLog ? (options.durability ?? walSync)(`${writerDb.name}-wal`) : alreadyDurable;
  try {
    migrate(writerDb);
    await durability.sync();
  } catch (error) {
    await durability.close();
    writerDb.close();
    throw error;
  }
  const readerDb = openDatabase(path, { readonly: true });
  const checkpoints = writeAheadLog
    ? new BackgroundCheckpoints(writerDb, options.checkpoints)
    : checkpointsInCommit;
  return new SqliteBackend(writerDb, readerDb, durability, checkpoints);
}

class SqliteBackend implements Backend {
  readonly kind = "sqlite" as const;
  readonly reads: BackendReads;
  readonly apiKeys: ApiKeyStore;
  readonly uploads: UploadStore;
  readonly webhooks: WebhookOutbox;
  readonly retention: RetentionStore;
  private readonly writer: SqliteWriter;
  private readonly tx: BackendTransaction;
  private closed = false;

  constructor(
    private readonly writerDb: SqliteDatabase,
    private readonly readerDb: SqliteDatabase,
    private readonly durability: Durability,
    private readonly checkpoints: Checkpoints,
  ) {
    const cache = new ProjectionCache(projectionCacheSteps);
    this.writer = new SqliteWriter(writerDb, durability, cache, checkpoints);
    this.tx = transactionOps(writerDb, cache);
    this.reads = readOps(readerDb);
    this.apiKeys = sqliteApiKeyStore(writerDb, this.writer, readerDb);
    this.uploads = sqliteUploadStore(writerDb, this.writer, readerDb);
    this.webhooks = sqliteWebhookOutbox(writerDb, this.writer, readerDb);
    this.retention = sqliteRetentionStore(writerDb, this.writer, readerDb);
  }

  async migrate(): Promise<void> {
    migrate(this.writerDb);
  }

  transaction<T>(work: (tx: BackendTransaction) => Promise<T>): Promise<T> {
    if (this.closed) return Promise.reject(new Error("the SQLite backend is closed"));
    return this.writer.run(() => work(this.tx));
  }

  transactionBeforeDurable<T>(
    work: (tx: BackendTransaction) => Promise<T>,
    options?: BeforeDurableOptions,
  ): Promise<Committed<T>> {
    if (this.closed) return Promise.reject(new Error("the SQLite backend is closed"));
    return this.writer.runBeforeDurable(() => work(this.tx), options);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.writer.idle();
    await this.checkpoints.close();
    await this.durability.close();
    this.readerDb.close();
    this.writerDb.close();
  }
}

function transactionOps(db: SqliteDatabase, cache: ProjectionCache): BackendTransaction {
  const jobs = jobStatements(db, cache);
  const queue = queueStatements(db);
  const events = eventStatements(db);
  const webhooks = webhookStatements(db);
  return {
    insertJob: async (job) => jobs.insert(job),
    addWebhook: async (subscription) => webhooks.subscribe(subscription),
    addDefaultWebhook: async (jobId, tenant) => webhooks.subscribeDefault(jobId, tenant),
    // SQLite's single writer already holds the whole database for the transaction.
    lockJob: async (jobId) => jobs.load(jobId),
    async appendEvents(newEvents, projections = []) {
      const appended = events.append(newEvents);
      // The outbox: the webhook deliveries these events call for are written in the same transaction, so
      // a crash can lose neither without the other.
      webhooks.queueDeliveries(appended);
      for (const state of projections) {
        state.job.lastSeq = lastSeqOf(appended, state.job.id) ?? state.job.lastSeq;
        jobs.save(state);
      }
      return appended;
    },
    enqueueTasks: async (tasks) => queue.enqueue(tasks, Date.now()),
    claimTasks: async (request) => queue.claim(request),
    lockTask: async (taskId) => queue.get(taskId),
    // One writer at a time: reading is holding.
    lockTasks: async (taskIds) =>
      taskIds.map((taskId) => queue.get(taskId)).filter((task): task is TaskRecord => task !== undefined),
    updateTask: async (taskId, update) => queue.update(taskId, update),
    deleteTask: async (taskId) => queue.delete(taskId),
    deleteJobTasks: async (jobId) => queue.deleteForJob(jobId),
    deleteStepTasks: async (jobId, step) => queue.deleteForStep(jobId, step),
    findExpiredLeases: async (now, limit) => queue.expired(now, limit),
  };
}

function readOps(db: SqliteDatabase): BackendReads {
  const jobs = jobStatements(db);
  const events = eventStatements(db);
  const countByStatus = db.prepare("SELECT status, count(*) AS count FROM jobs GROUP BY status");
  const tasksOf = db.prepare(`SELECT ${taskColumns} FROM tasks WHERE job_id = ? ORDER BY id`).raw(true);
  const tokens = db.prepare(`SELECT id, lease_token AS token FROM tasks
    WHERE id IN (SELECT value FROM json_each(?)) AND state = 'running'`);
  const depth = db.prepare(`SELECT step_type AS stepType,
      sum(state = 'queued') AS queued, sum(state = 'running') AS running,
      min(CASE WHEN state = 'queued' AND run_at <= ? THEN run_at END) AS oldestRunnableAt
    FROM tasks GROUP BY step_type ORDER BY step_type`);
  return {
    getJob: async (jobId) => jobs.load(jobId),
    listJobs: async (filter) => jobs.list(filter),
    readEvents: async (query) => events.read(query),
    async leaseTokens(taskIds) {
      const held = new Map<number, number>();
      if (taskIds.length === 0) return held;
      const rows = tokens.all(JSON.stringify(taskIds)) as { id: number; token: number }[];
      for (const row of rows) held.set(row.id, row.token);
      return held;
    },
    listTasks: async (jobId): Promise<TaskRecord[]> =>
      (tasksOf.all(jobId) as TaskValues[]).map(taskFromValues),
    queueDepth: async (now) => depth.all(now) as QueueDepth[],
    async jobCounts() {
      const counts: Record<JobStatus, number> = {
        queued: 0,
        running: 0,
        succeeded: 0,
        failed: 0,
        cancelled: 0,
      };
      for (const row of countByStatus.all() as { status: JobStatus; count: number }[])
        counts[row.status] = row.count;
      return counts;
    },
  };
}
