import type { JobEvent, NewJobEvent } from "../engine/events.js";
import type { JobProjection, JobState, JobStatus } from "../engine/projection.js";
import type { JsonValue } from "../util/json.js";

/**
 * The database port: the work queue, the job event log and the projections of it, written together in
 * transactions. It speaks of jobs, tasks and leases; the SQL lives in the adapters. Every adapter must pass
 * test/conformance/backend.ts.
 */
export interface Backend {
  readonly kind: BackendKind;
  /** Brings the schema up to date; refuses a schema newer than this build knows. Idempotent. */
  migrate(): Promise<void>;
  /**
   * Runs `work` in one transaction: all of its writes commit together or not at all. `work` must do no
   * I/O of its own (no awaiting anything but `tx`), since the transaction is held while it runs.
   */
  transaction<T>(work: (tx: BackendTransaction) => Promise<T>): Promise<T>;
  /**
   * `transaction`, answered as soon as the commit is visible instead of once it is durable, with the
   * promise of when it is (already settled where every commit is durable when it returns). Only for work
   * that may be acted on before then because a commit lost to a power cut loses nothing that will not be
   * done again: a claim, whose task is then claimed again. What the caller tells others must wait for
   * `durable`.
   */
  transactionBeforeDurable<T>(
    work: (tx: BackendTransaction) => Promise<T>,
    options?: BeforeDurableOptions,
  ): Promise<Committed<T>>;
  /** Reads outside a transaction; they see committed data. */
  readonly reads: BackendReads;
  readonly apiKeys: ApiKeyStore;
  readonly uploads: UploadStore;
  /** The webhook outbox: deliveries written with the events they announce, claimed by the deliverer. */
  readonly webhooks: WebhookOutbox;
  /** Finished jobs past their retention: found, claimed and marked expired by the retention sweeper. */
  readonly retention: RetentionStore;
  /**
   * Calls `listener` when a transaction (of this process or another) has committed work that is runnable
   * now, so claimers can claim at once instead of at their next poll. Only a hint: a wake-up may come late,
   * twice, for work someone else already claimed, or not at all (e.g. while the backend reconnects), so
   * claimers must keep polling. Present only where the database can wake other processes (PostgreSQL's
   * LISTEN/NOTIFY). Returns a function that removes the listener; closing the backend removes them all.
   */
  onWork?(listener: () => void): () => void;
  /** Idempotent. */
  close(): Promise<void>;
}

export type BackendKind = "sqlite" | "postgres";

export interface BeforeDurableOptions {
  /**
   * Nobody waits for this commit to be durable soon (a claim, whose started events may be announced a
   * moment later): where commits are flushed together, its flush may wait briefly for others to share.
   */
  lazyFlush?: boolean;
}

/** A transaction's result, visible to others, and when its commit will be durable. */
export interface Committed<T> {
  value: T;
  /** Settles once the commit is on disk; rejects if that cannot be known. */
  durable: Promise<void>;
}

/** A runnable unit in the queue: a step of a job, or one part of a map step. */
export interface TaskRecord {
  id: number;
  jobId: string;
  step: string;
  /** The part of a map step; null for the step's own run. */
  part: number | null;
  stepType: string;
  priority: number;
  /** Epoch ms: not claimed before this. */
  runAt: number;
  /** Attempts started so far (the running one included). */
  attempt: number;
  maxAttempts: number;
  state: "queued" | "running";
  leaseOwner: string | null;
  /** Fencing token: bumped on every claim; a worker's writes must carry the one it claimed with. */
  leaseToken: number;
  leaseExpiresAt: number | null;
  /** The input of a map step's part. */
  input: JsonValue | null;
  /** Epoch ms after which a step that keeps asking to run later fails instead. */
  deadline: number | null;
  createdAt: number;
}

export type NewTask = Pick<
  TaskRecord,
  "jobId" | "step" | "part" | "stepType" | "priority" | "runAt" | "maxAttempts" | "input"
>;

export interface ClaimRequest {
  workerId: string;
  limit: number;
  /** Only these step types; undefined for any. */
  stepTypes: readonly string[] | undefined;
  leaseMs: number;
  now: number;
}

/** A change to a task made by the lease holder or the engine. */
export type TaskUpdate =
  | { state: "queued"; runAt: number; attempt: number; deadline: number | null }
  | { state: "running"; leaseExpiresAt: number };

/** A job row as first written; the projection fills in the rest. */
export interface NewJob {
  id: string;
  tenant: string;
  idempotencyKey: string | null;
  pipelineName: string;
  priority: number;
  createdAt: number;
  /** What the job was created with, stored once: the resolved pipeline, its input and parameters. */
  definition: Pick<JobState, "pipeline" | "input" | "params">;
}

export interface BackendTransaction {
  /** Inserts the job, or returns the id of the tenant's job that already has this idempotency key. */
  insertJob(job: NewJob): Promise<{ created: true } | { created: false; existingJobId: string }>;
  /** Loads a job's projection and holds it against concurrent changes until the transaction ends. */
  lockJob(jobId: string): Promise<JobProjection | undefined>;
  /** Subscribes a URL to some of a job's events; deliveries are queued as those events are appended. */
  addWebhook(subscription: WebhookSubscription): Promise<void>;
  /** Subscribes the tenant's default webhook, if it has one, to the job's events. */
  addDefaultWebhook(jobId: string, tenant: string): Promise<void>;
  /**
   * Appends events in order and returns them with their sequence numbers. Also queues a webhook delivery
   * for each event a webhook of its job subscribes to, in this same transaction (the outbox). Then stores
   * `projections` (each job's row with its steps), each with `lastSeq` set to the number of the last
   * event appended here for its job: together, so that an adapter may write it all in one statement.
   * The projections are the adapter's from then on (it may keep them): the caller changes them no more.
   * `final`: nothing else follows in this transaction, so an adapter may send its commit along; the
   * transaction then commits with the append, and a statement after it is an error.
   */
  appendEvents(
    events: readonly NewJobEvent[],
    projections?: readonly JobProjection[],
    options?: { final?: boolean },
  ): Promise<JobEvent[]>;
  enqueueTasks(tasks: readonly NewTask[]): Promise<void>;
  /**
   * Claims up to `limit` runnable tasks in one statement: highest priority first, then the longest
   * runnable; each gets a new lease token, an attempt, and a lease until `now + leaseMs`. The claimed
   * tasks' jobs are locked with them, so a claim comes first in its transaction, before any other lock.
   */
  claimTasks(request: ClaimRequest): Promise<TaskRecord[]>;
  /** Loads a task and holds it until the transaction ends. */
  lockTask(taskId: number): Promise<TaskRecord | undefined>;
  /** Loads and holds several tasks, as `lockTask` each; those that do not exist are left out. */
  lockTasks(taskIds: readonly number[]): Promise<TaskRecord[]>;
  updateTask(taskId: number, update: TaskUpdate): Promise<void>;
  deleteTask(taskId: number): Promise<void>;
  /** Removes every task of a job (cancellation, job end) and returns what was removed. */
  deleteJobTasks(jobId: string): Promise<TaskRecord[]>;
  /** Removes every task of one step (its parts too) and returns what was removed. */
  deleteStepTasks(jobId: string, step: string): Promise<TaskRecord[]>;
  /** Running tasks whose lease ended before `now`. */
  findExpiredLeases(now: number, limit: number): Promise<TaskRecord[]>;
}

export interface JobFilter {
  tenant?: string;
  status?: JobStatus;
  pipeline?: string;
  /** Newest first; the cursor is the `createdSeq` of the last job of the previous page. */
  before?: number;
  /** Only jobs still kept at this time (epoch ms): expired jobs and those past their retention are left out. */
  retainedAt?: number;
  limit: number;
}

export interface JobSummary extends Omit<JobState, "pipeline" | "params" | "input"> {
  /** The order jobs were created in; used as the list cursor. */
  createdSeq: number;
  progress: number;
}

/**
 * A page of the event log in sequence order. Following one job with `after` = the last sequence number
 * seen never skips an event; across jobs, numbers may become visible out of order (transactions on
 * different jobs commit side by side), so reading without `jobId` is for a log at rest (exports, tests).
 */
export interface EventQuery {
  jobId?: string;
  /** Only events after this sequence number. */
  after: number;
  limit: number;
}

export interface QueueDepth {
  stepType: string;
  queued: number;
  running: number;
  /** Epoch ms of the oldest runnable queued task; null when none. */
  oldestRunnableAt: number | null;
}

export interface BackendReads {
  getJob(jobId: string): Promise<JobProjection | undefined>;
  listJobs(filter: JobFilter): Promise<JobSummary[]>;
  readEvents(query: EventQuery): Promise<JobEvent[]>;
  /** The current lease token of each task that still exists (a worker checks it still holds its tasks). */
  leaseTokens(taskIds: readonly number[]): Promise<Map<number, number>>;
  listTasks(jobId: string): Promise<TaskRecord[]>;
  queueDepth(now: number): Promise<QueueDepth[]>;
  /** How many jobs there are in each status. */
  jobCounts(): Promise<Record<JobStatus, number>>;
}

/** An API key as stored: never the key itself, only its SHA-256. */
export interface ApiKeyRecord {
  /** Public identifier, also the key's visible prefix (`mf_<id>_...`). */
  id: string;
  tenant: string;
  name: string | null;
  createdAt: number;
  revokedAt: number | null;
}

export interface ApiKeyStore {
  insert(record: ApiKeyRecord & { hash: string }): Promise<void>;
  /** The key with this hash, revoked or not. */
  findByHash(hash: string): Promise<ApiKeyRecord | undefined>;
  list(tenant?: string): Promise<ApiKeyRecord[]>;
  /** False when there is no such key. Revoking twice keeps the first time. */
  revoke(id: string, at: number): Promise<boolean>;
}

/** A signed upload: made by the API, used once by a PUT before it expires. */
export interface UploadRecord {
  id: string;
  tenant: string;
  /** Where the bytes go in storage. */
  key: string;
  filename: string;
  contentType: string | null;
  /** The size the client declared; more is refused. */
  maxBytes: number;
  state: "pending" | "receiving" | "completed" | "failed";
  bytes: number | null;
  createdAt: number;
  expiresAt: number;
  completedAt: number | null;
}

export interface UploadStore {
  insert(record: UploadRecord): Promise<void>;
  get(id: string): Promise<UploadRecord | undefined>;
  /** Moves a pending, unexpired upload to receiving; false when it was used, failed or expired. */
  begin(id: string, now: number): Promise<boolean>;
  finish(
    id: string,
    outcome: { state: "completed"; bytes: number; at: number } | { state: "failed" },
  ): Promise<void>;
}

/** A tenant's default webhook. */
export interface TenantWebhook {
  url: string;
  events: readonly string[];
}

/** A URL that receives some of one job's events. */
export interface WebhookSubscription {
  jobId: string;
  tenant: string;
  url: string;
  /** Event types, e.g. `job.succeeded`. */
  events: readonly string[];
}

/**
 * One event to deliver to one webhook. `pending` until a 2xx answer (`delivered`) or until retrying is
 * pointless or used up (`dead`). While a deliverer holds it, `nextAttemptAt` is the end of its lease, so a
 * deliverer that dies leaves it due again once the lease runs out.
 */
export interface WebhookDelivery {
  /** Stable across retries: the receiver deduplicates on it (`Webhook-Id`). */
  id: string;
  tenant: string;
  url: string;
  event: JobEvent;
  state: "pending" | "delivered" | "dead";
  /** Attempts started so far (the running one included). */
  attempts: number;
  nextAttemptAt: number;
  leaseOwner: string | null;
  /** Fencing token: bumped on every claim; settling must carry the one it claimed with. */
  leaseToken: number;
  lastError: string | null;
  lastStatus: number | null;
  createdAt: number;
  finishedAt: number | null;
}

export interface WebhookClaimRequest {
  owner: string;
  limit: number;
  leaseMs: number;
  now: number;
}

/** How an attempt ended. */
export type WebhookOutcome =
  | { state: "delivered"; at: number; status: number }
  | { state: "pending"; nextAttemptAt: number; error: string; status: number | null }
  | { state: "dead"; at: number; error: string; status: number | null };

export interface WebhookOutbox {
  /**
   * Claims up to `limit` due deliveries, oldest due first, in one statement: each gets a new lease token,
   * an attempt, and a lease until `now + leaseMs`. Concurrent claimers never get the same delivery.
   */
  claimDue(request: WebhookClaimRequest): Promise<WebhookDelivery[]>;
  /** Records an attempt's outcome; false (and nothing changed) when the lease was lost to another claim. */
  settle(id: string, leaseToken: number, outcome: WebhookOutcome): Promise<boolean>;
  listForJob(jobId: string): Promise<WebhookDelivery[]>;
  /** The tenant's signing secret; `fresh` is stored and returned when the tenant has none yet. */
  signingSecret(tenant: string, fresh: string): Promise<string>;
  /** Sets (or with null removes) the webhook of the tenant's jobs created without one of their own. */
  setTenantDefault(tenant: string, webhook: TenantWebhook | null, at: number): Promise<void>;
  getTenantDefault(tenant: string): Promise<TenantWebhook | undefined>;
}

/** When a job's retention ends and whether its files were deleted. */
export interface JobExpiry {
  /** Epoch ms: the job's finish plus its pipeline's retention; null while the job is unfinished. */
  expiresAt: number | null;
  /** Epoch ms when a sweeper deleted its files; null until then. */
  expiredAt: number | null;
}

export interface RetentionClaimRequest {
  now: number;
  limit: number;
  /** How long the claim holds the jobs against other sweepers; one that dies is replaced after this. */
  leaseMs: number;
}

/**
 * The retention side of the jobs table. A finished job's `expiresAt` is written with its projection; a
 * sweeper claims jobs past it, deletes their files, then marks them expired. Concurrent sweepers never
 * claim the same job while a claim holds.
 */
export interface RetentionStore {
  /**
   * Claims up to `limit` jobs whose retention ended at or before `now`, not yet expired and not held by
   * another sweeper's unexpired claim, in one statement, oldest expiry first; returns their ids.
   */
  claimExpired(request: RetentionClaimRequest): Promise<string[]>;
  /**
   * Records that the job's files are deleted. False, and nothing changed, when it was already expired or is
   * no longer past its retention (retried since it was claimed). The first mark's time is kept.
   */
  markExpired(jobId: string, at: number): Promise<boolean>;
  /** Undefined when there is no such job. */
  expiryOf(jobId: string): Promise<JobExpiry | undefined>;
}
