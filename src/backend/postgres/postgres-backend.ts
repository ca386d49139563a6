import type pg from "pg";
import type { QueryResultRow } from "pg";
import { copyProjection, type JobProjection } from "../../engine/projection.js";
import type {
  ApiKeyStore,
  Backend,
  BackendReads,
  BackendTransaction,
  Committed,
  RetentionStore,
  UploadStore,
  WebhookOutbox,
} from "../backend.js";
import { lastSeqOf } from "../rows.js";
import { postgresApiKeyStore } from "./api-keys.js";
import {
  checkSchemaName,
  connectionConfig,
  createPool,
  type PreparedCall,
  queryAndCommit,
  runTransaction,
  type Sql,
  type TransactionAttempt,
} from "./connection.js";
import { appendEvents, readEvents } from "./events.js";
import { getJob, insertJob, jobCounts, listJobs, lockJob } from "./jobs.js";
import { migrate } from "./migrations.js";
import { flushPendingWrites, PendingWrites } from "./pending-writes.js";
import {
  claimTasks,
  deleteJobTasks,
  deleteStepTasks,
  findExpiredLeases,
  leaseTokens,
  listTasks,
  lockTaskAndJob,
  lockTasksAndJobs,
  queueDepth,
} from "./queue.js";
import { postgresRetentionStore } from "./retention.js";
import { postgresUploadStore } from "./uploads.js";
import { addDefaultWebhook, addWebhook, postgresWebhookOutbox } from "./webhooks.js";
import { WorkListener } from "./work-listener.js";

/** The NOTIFY channel for "work was enqueued"; the payload is the schema it was enqueued in. */
const workChannel = "mediaflow_work";

/**
 * Connections per process. Transactions hold one for milliseconds; ten (pg's default) keeps a worker pool
 * and an API server busy without taking many of the server's slots (100 by default) per process.
 */
const defaultPoolSize = 10;

export interface PostgresBackendOptions {
  /** The PostgreSQL schema that holds the tables; created if missing. Default `public`. */
  schema?: string;
  poolSize?: number;
}

/**
 * The server backend: any number of processes on any number of machines share one PostgreSQL database.
 * Transactions run concurrently on a pool (READ COMMITTED); changes to one job are serialised by locking
 * its row, which also makes its events' sequence numbers visible in commit order (see events.ts), and
 * claims skip rows others hold. Other processes are woken by NOTIFY when work is enqueued.
 */
export async function openPostgresBackend(
  url: string,
  options: PostgresBackendOptions = {},
): Promise<Backend> {
  const schema = options.schema ?? "public";
  checkSchemaName(schema);
  const pool = createPool(url, { schema, poolSize: options.poolSize ?? defaultPoolSize });
  try {
    await migrate(pool, schema);
  } catch (error) {
    await pool.end();
    throw error;
  }
  const listener = new WorkListener(connectionConfig(url, schema, "listener"), workChannel, schema);
  return new PostgresBackend(pool, schema, listener);
}

class PostgresBackend implements Backend {
  readonly kind = "postgres" as const;
  readonly reads: BackendReads;
  readonly apiKeys: ApiKeyStore;
  readonly uploads: UploadStore;
  readonly webhooks: WebhookOutbox;
  readonly retention: RetentionStore;
  private closing: Promise<void> | undefined;

  constructor(
    private readonly pool: pg.Pool,
    private readonly schema: string,
    private readonly listener: WorkListener,
  ) {
    this.reads = readOps(pool);
    this.apiKeys = postgresApiKeyStore(pool);
    this.uploads = postgresUploadStore(pool);
    this.webhooks = postgresWebhookOutbox(pool);
    this.retention = postgresRetentionStore(pool);
  }

  async migrate(): Promise<void> {
    await migrate(this.pool, this.schema);
  }

  transaction<T>(work: (tx: BackendTransaction) => Promise<T>): Promise<T> {
    if (this.closing !== undefined) return Promise.reject(new Error("the PostgreSQL backend is closed"));
    // A fresh set of operations per attempt: what one attempt held (locks, a pending NOTIFY) died with it.
    return runTransaction(this.pool, async (attempt) => {
      const pending = new PendingWrites();
      const value = await work(transactionOps(attempt, this.schema, pending));
      await flushPendingWrites(attempt.client, pending);
      return value;
    });
  }

  /** A PostgreSQL commit is durable when it returns (`synchronous_commit` on, its default). */
  async transactionBeforeDurable<T>(work: (tx: BackendTransaction) => Promise<T>): Promise<Committed<T>> {
    return { value: await this.transaction(work), durable: Promise.resolve() };
  }

  onWork(listener: () => void): () => void {
    return this.listener.subscribe(listener);
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      await this.listener.close();
      // Waits for transactions in progress to release their connections.
      await this.pool.end();
    })();
    return this.closing;
  }
}

function transactionOps(
  attempt: TransactionAttempt,
  schema: string,
  pending: PendingWrites,
): BackendTransaction {
  const { client, atCommit } = attempt;
  let notified = false;
  // Projections of the jobs this transaction has locked, as last loaded or saved by it. Nothing else can
  // change them until it ends, so a second lockJob needs no round trip. Copies, since the engine mutates
  // what it is given.
  const locked = new Map<string, JobProjection>();

  // A statement of its own sends the pending writes first, so that it sees them (see pending-writes.ts).
  const db: Sql = {
    async query<R extends QueryResultRow>(statement: string | PreparedCall, values?: unknown[]) {
      assertOpen();
      await flushPendingWrites(client, pending);
      return typeof statement === "string" ? client.query<R>(statement, values) : client.query<R>(statement);
    },
  };

  function assertOpen(): void {
    if (attempt.committed) throw new Error("the transaction has committed with its final append");
  }

  // A NOTIFY in the transaction is delivered on commit and dropped on rollback; it goes out with the
  // COMMIT (see TransactionAttempt), once per transaction, which is all a claimer needs. Work due later
  // gets none: a wake-up now would find nothing to claim, and claimers find it by polling. The payload is
  // the schema name, a checked plain identifier, so it can be written as a literal.
  function wake(runAts: readonly number[]): void {
    if (notified || !runAts.some((runAt) => runAt <= Date.now())) return;
    notified = true;
    atCommit.push(`SELECT pg_notify('${workChannel}', '${schema}')`);
  }

  return {
    insertJob: (job) => insertJob(db, job),
    addWebhook: (subscription) => addWebhook(db, subscription),
    addDefaultWebhook: (jobId, tenant) => addDefaultWebhook(db, jobId, tenant),
    async lockJob(jobId) {
      const held = locked.get(jobId);
      if (held !== undefined) return copyProjection(held);
      const state = await lockJob(db, jobId);
      if (state !== undefined) locked.set(jobId, copyProjection(state));
      return state;
    },
    async appendEvents(events, projections = [], options = {}) {
      if (events.length === 0 && projections.length === 0) return [];
      assertOpen();
      const appended = await appendEvents(
        (call) => (options.final === true ? queryAndCommit(attempt, call) : client.query(call)),
        events,
        projections,
        pending,
      );
      for (const state of projections) {
        state.job.lastSeq = lastSeqOf(appended, state.job.id) ?? state.job.lastSeq;
        locked.set(state.job.id, state);
      }
      return appended;
    },
    async enqueueTasks(tasks) {
      assertOpen();
      pending.enqueueTasks(tasks);
      wake(tasks.map((task) => task.runAt));
    },
    async claimTasks(request) {
      // A claim waits for the jobs of the tasks it takes; holding another job meanwhile could deadlock.
      if (locked.size > 0) throw new Error("claimTasks must come before any job is locked in a transaction");
      const { tasks, jobs } = await claimTasks(db, request);
      for (const state of jobs) if (!locked.has(state.job.id)) locked.set(state.job.id, state);
      return tasks;
    },
    async lockTask(taskId) {
      // A lease holder locks the task's job next: both are locked and loaded by one statement.
      const found = await lockTaskAndJob(db, taskId);
      if (found === undefined) return undefined;
      if (!locked.has(found.task.jobId)) locked.set(found.task.jobId, found.job);
      return found.task;
    },
    async lockTasks(taskIds) {
      const { tasks, jobs } = await lockTasksAndJobs(db, taskIds);
      for (const state of jobs) if (!locked.has(state.job.id)) locked.set(state.job.id, state);
      return tasks;
    },
    async updateTask(taskId, update) {
      assertOpen();
      pending.updateTask(taskId, update);
      if (update.state === "queued") wake([update.runAt]);
    },
    async deleteTask(taskId) {
      assertOpen();
      pending.deleteTask(taskId);
    },
    deleteJobTasks: (jobId) => deleteJobTasks(db, jobId),
    deleteStepTasks: (jobId, step) => deleteStepTasks(db, jobId, step),
    findExpiredLeases: (now, limit) => findExpiredLeases(db, now, limit),
  };
}

/** Reads run on any pooled connection, outside a transaction: each statement sees the latest commits. */
function readOps(pool: pg.Pool): BackendReads {
  return {
    getJob: (jobId) => getJob(pool, jobId),
    listJobs: (filter) => listJobs(pool, filter),
    readEvents: (query) => readEvents(pool, query),
    leaseTokens: (taskIds) => leaseTokens(pool, taskIds),
    listTasks: (jobId) => listTasks(pool, jobId),
    queueDepth: (now) => queueDepth(pool, now),
    jobCounts: () => jobCounts(pool),
  };
}
