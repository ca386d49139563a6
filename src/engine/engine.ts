import type {
  Backend,
  BackendTransaction,
  Committed,
  EventQuery,
  JobFilter,
  JobSummary,
  TaskRecord,
} from "../backend/backend.js";
import {
  ErrorCodes,
  type ErrorInfo,
  LeaseLostError,
  MediaflowError,
  NotFoundError,
  PermanentError,
  type RetryLaterError,
} from "../errors/errors.js";
import { resolvePipeline } from "../pipeline/resolve-pipeline.js";
import type { InputLimits, PipelineSpec, StepSpec } from "../pipeline/types.js";
import type { StepCatalog } from "../steps/catalog.js";
import type { JobInput, ParentResult, StepOutput, StepResult } from "../steps/step-type.js";
import { BatchQueue, type ItemOutcome } from "../util/batch-queue.js";
import { newJobId } from "../util/ids.js";
import type { JsonValue } from "../util/json.js";
import { retryDelay } from "./backoff.js";
import type { JobEvent } from "./events.js";
import { commitChanges, JobChange } from "./job-change.js";
import { EngineNotifications } from "./notifications.js";
import { copyProjection, finishedJobStatuses, type JobProjection } from "./projection.js";

export interface EngineOptions {
  backend: Backend;
  catalog: StepCatalog;
  clock?: () => number;
  random?: () => number;
}

export interface CreateJobRequest {
  pipeline: PipelineSpec;
  input: JobInput | null;
  params?: Record<string, JsonValue>;
  priority?: number;
  idempotencyKey?: string | null;
  tenant?: string;
  /**
   * Where to POST some of the job's events (else the tenant's default webhook, if any); subscribed before
   * the first event, so it sees them all.
   */
  webhook?: { url: string; events: readonly string[] };
}

/** What a worker asks for when it claims. */
export interface ClaimOptions {
  workerId: string;
  limit: number;
  /** Only these step types; undefined for any. */
  stepTypes?: readonly string[];
  leaseMs: number;
}

/** What a worker holds while it runs a task; every write it makes carries the token. */
export interface Lease {
  taskId: number;
  token: number;
  workerId: string;
  jobId: string;
  step: string;
  part: number | null;
}

/** A claimed task with everything a worker needs to run it. */
export interface ClaimedTask {
  lease: Lease;
  attempt: number;
  maxAttempts: number;
  leaseExpiresAt: number;
  spec: StepSpec;
  job: { id: string; tenant: string; input: JobInput | null; limits: InputLimits | undefined };
  needs: Record<string, ParentResult>;
  part: { index: number; count: number; input: JsonValue } | undefined;
}

/**
 * The job lifecycle: every command reads the job's projection, decides, and commits the events, the new
 * projection and the tasks it enqueues in one transaction. Knows nothing of HTTP or processes.
 */
export class Engine {
  readonly notifications = new EngineNotifications();
  readonly backend: Backend;
  /** Jobs being created, gathered like results: one transaction for those requested together. */
  private readonly creations = new BatchQueue<Creation, CreatedJob>(
    (items) => this.createBatch(items),
    2,
    100,
  );
  /**
   * Results waiting to be recorded together. Two batches at a time: one commits while the next gathers
   * what finishes meanwhile, and one slow commit does not hold up every worker slot.
   */
  private readonly completions = new BatchQueue<Completion, void>(
    (items) => this.completeBatch(items),
    2,
    100,
  );
  /** The last announcement promised: each waits for the one before it (see `announceWhenDurable`). */
  private announced: Promise<void> = Promise.resolve();
  private readonly catalog: StepCatalog;
  private readonly clock: () => number;
  private readonly random: () => number;

  constructor(options: EngineOptions) {
    this.backend = options.backend;
    this.catalog = options.catalog;
    this.clock = options.clock ?? Date.now;
    this.random = options.random ?? Math.random;
  }

  /**
   * Creates a job, or returns the tenant's existing job with the same idempotency key. A request that does
   * not validate is refused at once; jobs requested in the same turn of the event loop are created in one
   * transaction (see `createBatch`).
   */
  async createJob(request: CreateJobRequest): Promise<CreatedJob> {
    const params = request.params ?? {};
    const pipeline = resolvePipeline(request.pipeline, params, this.catalog);
    return this.creations.submit({ request, pipeline, params });
  }

  /**
   * Creates several jobs in one transaction, with one append for all their events: one commit instead of
   * one per job. If the transaction fails as a whole, each job is tried on its own, so that one request's
   * problem does not become the others'.
   */
  private async createBatch(items: readonly Creation[]): Promise<ItemOutcome<CreatedJob>[]> {
    if (items.length === 1) return [await settle(() => this.createOne(items[0] as Creation))];
    const now = this.clock();
    let committed: Committed<CreatedWithin>;
    try {
      committed = await this.backend.transactionBeforeDurable((tx) => this.createWithin(tx, items, now));
    } catch {
      return Promise.all(items.map((item) => settle(() => this.createOne(item))));
    }
    // Outside the try: a listener's error must not make the jobs a second time.
    const { results, events, enqueued } = committed.value;
    await this.announceWhenDurable(committed.durable, events, enqueued ? now : undefined);
    return results.map((value) => ({ ok: true, value }));
  }

  private async createOne(item: Creation): Promise<CreatedJob> {
    const now = this.clock();
    const { value, durable } = await this.backend.transactionBeforeDurable((tx) =>
      this.createWithin(tx, [item], now),
    );
    await this.announceWhenDurable(durable, value.events, value.enqueued ? now : undefined);
    const [result] = value.results;
    if (result === undefined) throw new Error("creating one job gave no result");
    return result;
  }

  private async createWithin(
    tx: BackendTransaction,
    items: readonly Creation[],
    now: number,
  ): Promise<CreatedWithin> {
    // A new job's result is its change until committed, then a copy: the state is the backend's once
    // appended.
    const results: (CreatedJob | JobChange)[] = [];
    const changes: JobChange[] = [];
    // A key used twice in one batch: the second request gets the job the first one made.
    const madeHere = new Map<string, JobChange>();
    for (const { request, pipeline, params } of items) {
      const tenant = request.tenant ?? "default";
      const idempotencyKey = request.idempotencyKey ?? null;
      const sameKey = idempotencyKey === null ? undefined : madeHere.get(`${tenant}\n${idempotencyKey}`);
      if (sameKey !== undefined) {
        results.push({ job: copyProjection(sameKey.state), created: false });
        continue;
      }
      const id = newJobId(now);
      const inserted = await tx.insertJob({
        id,
        tenant,
        idempotencyKey,
        pipelineName: pipeline.name,
        priority: request.priority ?? 0,
        createdAt: now,
        definition: { pipeline, input: request.input, params },
      });
      if (!inserted.created) {
        const existing = await tx.lockJob(inserted.existingJobId);
        if (existing === undefined) throw new Error(`job ${inserted.existingJobId} vanished`);
        results.push({ job: existing, created: false });
        continue;
      }
      if (request.webhook !== undefined) await tx.addWebhook({ jobId: id, tenant, ...request.webhook });
      else await tx.addDefaultWebhook(id, tenant);
      const change = JobChange.ofNewJob(
        {
          type: "job.created",
          jobId: id,
          step: null,
          part: null,
          attempt: null,
          workerId: null,
          at: now,
          data: {
            tenant,
            pipeline,
            input: request.input,
            params,
            priority: request.priority ?? 0,
            idempotencyKey,
          },
        },
        now,
      );
      change.advance();
      changes.push(change);
      if (idempotencyKey !== null) madeHere.set(`${tenant}\n${idempotencyKey}`, change);
      results.push(change);
    }
    // Every new job's job.created and the events it leads to (its first steps queued) in one append.
    const events = changes.length === 0 ? [] : (await commitChanges(tx, changes)).flat();
    return {
      results: results.map((result) =>
        result instanceof JobChange ? { job: copyProjection(result.state), created: true } : result,
      ),
      events,
      enqueued: changes.some((change) => change.tasks.length > 0),
    };
  }

  /**
   * Leases up to `limit` runnable tasks to a worker and records that they started. The worker may start
   * them before the claim is durable: were it lost to a power cut, the tasks would be claimed again, and
   * whatever they did is recorded only by a later commit, which is durable only with this one. Their
   * started events are announced once it is durable, as every other event is.
   */
  async claimTasks(request: ClaimOptions): Promise<ClaimedTask[]> {
    if (request.limit <= 0) return [];
    const now = this.clock();
    const { value, durable } = await this.backend.transactionBeforeDurable(
      (tx) => this.claimWithin(tx, request, now),
      { lazyFlush: true },
    );
    // A failed flush fails every later transaction; these events are then never announced.
    this.announceWhenDurable(durable, value.events).catch(() => {});
    return value.claimed;
  }

  private async claimWithin(
    tx: BackendTransaction,
    request: ClaimOptions,
    now: number,
  ): Promise<{ claimed: ClaimedTask[]; events: JobEvent[] }> {
    const tasks = await tx.claimTasks({ ...request, stepTypes: request.stepTypes, now });
    const claimed: ClaimedTask[] = [];
    const changes = new Map<string, JobChange>();
    for (const task of tasks) {
      let change = changes.get(task.jobId);
      if (change === undefined) {
        const state = await tx.lockJob(task.jobId);
        if (state === undefined || finishedJobStatuses.has(state.job.status)) {
          await tx.deleteTask(task.id);
          continue;
        }
        change = new JobChange(state, now);
        changes.set(task.jobId, change);
      }
      const leaseExpiresAt = now + request.leaseMs;
      change.emit({
        type: "step.started",
        step: task.step,
        part: task.part,
        attempt: task.attempt,
        workerId: request.workerId,
        data: { leaseExpiresAt },
      });
      claimed.push(describeClaim(task, change.state, request.workerId, leaseExpiresAt));
    }
    // Every claimed job's events in one append.
    const events = (await commitChanges(tx, [...changes.values()])).flat();
    return { claimed, events };
  }

  /** Records progress (0..1) and extends the lease: progress is the heartbeat. */
  async recordProgress(lease: Lease, progress: number, leaseMs: number, message?: string): Promise<void> {
    await this.withLease(lease, async (tx, task, change) => {
      const data = message === undefined ? { progress } : { progress, message };
      change.emit({ type: "step.progress", step: task.step, part: task.part, attempt: task.attempt, data });
      await tx.updateTask(task.id, { state: "running", leaseExpiresAt: change.now + leaseMs });
    });
  }

  /** Extends the lease without recording anything (a step that cannot measure its progress). */
  async extendLease(lease: Lease, leaseMs: number): Promise<void> {
    const now = this.clock();
    await this.backend.transaction(async (tx) => {
      await lockLease(tx, lease);
      await tx.updateTask(lease.taskId, { state: "running", leaseExpiresAt: now + leaseMs });
    });
  }

  /** Records a task's result. Results recorded at about the same time share a transaction (see `completeBatch`). */
  completeTask(lease: Lease, result: StepResult): Promise<void> {
    return this.completions.submit({ lease, result });
  }

  /**
   * Records several results in one transaction, with one append for all their events: the statements per
   * result shrink as the batch grows. An item whose lease was lost fails alone. If the transaction fails
   * as a whole, each item is tried on its own, so that one item's problem does not become the others'.
   */
  private async completeBatch(items: readonly Completion[]): Promise<ItemOutcome<void>[]> {
    if (items.length === 1) return [await settle(() => this.completeOne(items[0] as Completion))];
    const now = this.clock();
    let committed: Committed<{ outcomes: ItemOutcome<void>[]; events: JobEvent[] }>;
    try {
      committed = await this.backend.transactionBeforeDurable(async (tx) => {
        const tasks = new Map(
          (await tx.lockTasks(items.map((item) => item.lease.taskId))).map((task) => [task.id, task]),
        );
        const outcomes: ItemOutcome<void>[] = [];
        const changes = new Map<string, JobChange>();
        for (const [index, item] of items.entries()) {
          const task = tasks.get(item.lease.taskId);
          const lost = leaseLost(task, item.lease);
          if (lost !== undefined || task === undefined) {
            outcomes[index] = { ok: false, error: lost };
            continue;
          }
          let change = changes.get(task.jobId);
          if (change === undefined) {
            const state = await tx.lockJob(task.jobId);
            if (state === undefined) {
              outcomes[index] = { ok: false, error: jobGone(item.lease) };
              continue;
            }
            change = new JobChange(state, now);
            changes.set(task.jobId, change);
          }
          await recordSuccess(tx, task, change, item.result);
          outcomes[index] = { ok: true, value: undefined };
        }
        const events = (await commitChanges(tx, [...changes.values()])).flat();
        return { outcomes, events };
      });
    } catch {
      return Promise.all(items.map((item) => settle(() => this.completeOne(item))));
    }
    const { outcomes, events } = committed.value;
    await this.announceWhenDurable(committed.durable, events, wakeTime(events));
    return outcomes;
  }

  private async completeOne({ lease, result }: Completion): Promise<void> {
    await this.withLease(lease, (tx, task, change) => recordSuccess(tx, task, change, result));
  }

  /** A map step's first run split its work: each part becomes a task of its own. */
  async splitTask(lease: Lease, inputs: JsonValue[]): Promise<void> {
    await this.withLease(lease, async (tx, task, change) => {
      if (task.part !== null) {
        throw new PermanentError(ErrorCodes.invalidArgument, "a part of a map step cannot split again");
      }
      change.emit({
        type: "step.split",
        step: task.step,
        attempt: task.attempt,
        data: { count: inputs.length },
      });
      await tx.deleteTask(task.id);
      if (inputs.length === 0) {
        change.emit({ type: "step.succeeded", step: task.step, data: { outputs: [], data: [] } });
        change.advance();
        return;
      }
      inputs.forEach((input, index) => {
        change.emit({ type: "step.queued", step: task.step, part: index, data: { runAt: change.now } });
        change.tasks.push({ ...requeueFields(task), part: index, runAt: change.now, input });
      });
    });
  }

  /** Records a failed attempt: retried after a backoff, or failed for good (then the job moves on). */
  async failTask(lease: Lease, error: MediaflowError): Promise<void> {
    await this.withLease(lease, async (tx, task, change) =>
      this.fail(tx, task, change, error, lease.workerId),
    );
  }

  /** The step asked to run again later; past its deadline it fails instead. */
  async deferTask(lease: Lease, request: RetryLaterError): Promise<void> {
    await this.withLease(lease, async (tx, task, change) => {
      const runAt = change.now + request.delayMs;
      const deadline = Math.min(request.deadline, task.deadline ?? Number.POSITIVE_INFINITY);
      if (runAt > deadline) {
        const error = new PermanentError(request.deadlineCode, request.message);
        await this.fail(tx, task, change, error, lease.workerId);
        return;
      }
      change.emit({
        type: "step.deferred",
        step: task.step,
        part: task.part,
        attempt: task.attempt,
        workerId: lease.workerId,
        data: { reason: request.message, runAt, deadline },
      });
      await tx.updateTask(task.id, { state: "queued", runAt, attempt: task.attempt - 1, deadline });
    });
  }

  /** Hands a task back unfinished (the worker is shutting down); the attempt does not count. */
  async releaseTask(lease: Lease, reason: string): Promise<void> {
    await this.withLease(lease, async (tx, task, change) => {
      change.emit({
        type: "step.released",
        step: task.step,
        part: task.part,
        attempt: task.attempt,
        workerId: lease.workerId,
        data: { reason },
      });
      await tx.updateTask(task.id, {
        state: "queued",
        runAt: change.now,
        attempt: task.attempt - 1,
        deadline: task.deadline,
      });
    });
  }

  /**
   * Cancels a job: its tasks are removed at once, so the workers running them lose their leases and stop;
   * its unfinished steps are recorded cancelled. Cancelling a finished job changes nothing.
   */
  async cancelJob(jobId: string, reason = "cancelled by request"): Promise<JobProjection> {
    const now = this.clock();
    const { value, durable } = await this.backend.transactionBeforeDurable(async (tx) => {
      const state = await tx.lockJob(jobId);
      if (state === undefined) throw new NotFoundError("job", jobId);
      if (finishedJobStatuses.has(state.job.status)) return { state, events: [], revoked: [] };
      const removed = await tx.deleteJobTasks(jobId);
      const change = new JobChange(state, now);
      for (const step of Object.values(state.steps)) {
        if (step.status === "pending" || step.status === "queued" || step.status === "running") {
          change.emit({ type: "step.cancelled", step: step.name, data: { reason } });
        }
      }
      change.emit({ type: "job.cancelled", data: { reason } });
      return { state, events: await change.commit(tx), revoked: removed.map((task) => task.id) };
    });
    const { state, events, revoked } = value;
    await this.announceWhenDurable(durable, events);
    if (revoked.length > 0) this.notifications.emit("revoked", revoked);
    return copyProjection(state);
  }

  /**
   * Runs a job's failed, skipped and cancelled steps again (or only `steps`), with a fresh attempt budget.
   * Steps that succeeded keep their results.
   */
  async retryJob(jobId: string, options: { steps?: string[] } = {}): Promise<JobProjection> {
    const now = this.clock();
    const { value, durable } = await this.backend.transactionBeforeDurable(async (tx) => {
      const state = await tx.lockJob(jobId);
      if (state === undefined) throw new NotFoundError("job", jobId);
      const retryable = new Set(["failed", "skipped", "cancelled"]);
      for (const name of options.steps ?? []) {
        const step = state.steps[name];
        if (step === undefined) throw new NotFoundError(`step of job ${jobId}`, name);
        if (!retryable.has(step.status)) {
          throw new PermanentError(
            ErrorCodes.conflict,
            `step ${name} is ${step.status}; only failed, skipped or cancelled steps can be retried`,
          );
        }
      }
      const chosen =
        options.steps ??
        Object.values(state.steps)
          .filter((s) => retryable.has(s.status))
          .map((s) => s.name);
      if (chosen.length === 0) {
        throw new PermanentError(
          ErrorCodes.conflict,
          `job ${jobId} has no failed, skipped or cancelled step to retry`,
        );
      }
      // Steps downstream of a retried one that did not succeed must wait for it again.
      const reset = new Set(chosen);
      for (const [name, spec] of Object.entries(state.job.pipeline.steps)) {
        const status = state.steps[name]?.status ?? "pending";
        if (retryable.has(status) && spec.needs.some((parent) => reset.has(parent))) reset.add(name);
      }
      const change = new JobChange(state, now);
      change.emit({ type: "job.retried", data: { steps: [...reset] } });
      change.advance();
      return { state, events: await change.commit(tx) };
    });
    await this.announceWhenDurable(durable, value.events, now);
    return copyProjection(value.state);
  }

  /**
   * Finds tasks whose worker stopped renewing the lease (crashed, hung, cut off) and treats each as a
   * failed attempt: retried by its policy, or failed for good once its attempts are used up.
   */
  async sweepExpiredLeases(limit = 100): Promise<number> {
    const now = this.clock();
    const expired = await this.backend.transaction((tx) => tx.findExpiredLeases(now, limit));
    let swept = 0;
    for (const stale of expired) {
      const lease = leaseOf(stale, stale.leaseOwner ?? "unknown");
      try {
        await this.withLease(lease, async (tx, task, change) => {
          if (task.leaseExpiresAt === null || task.leaseExpiresAt >= change.now) return;
          const error = new LeaseExpiredError(task.leaseOwner ?? "unknown");
          await this.fail(tx, task, change, error, task.leaseOwner ?? "unknown");
          swept++;
        });
      } catch (error) {
        // Renewed, finished or swept by someone else since we looked: nothing to do.
        if (!(error instanceof LeaseLostError)) throw error;
      }
    }
    return swept;
  }

  async getJob(jobId: string, tenant?: string): Promise<JobProjection | undefined> {
    const state = await this.backend.reads.getJob(jobId);
    if (state === undefined || (tenant !== undefined && state.job.tenant !== tenant)) return undefined;
    return state;
  }

  listJobs(filter: JobFilter): Promise<JobSummary[]> {
    return this.backend.reads.listJobs(filter);
  }

  readEvents(query: EventQuery): Promise<JobEvent[]> {
    return this.backend.reads.readEvents(query);
  }

  private async fail(
    tx: BackendTransaction,
    task: TaskRecord,
    change: JobChange,
    error: MediaflowError,
    workerId: string,
  ): Promise<void> {
    const info: ErrorInfo = error.toInfo();
    const spec = change.state.job.pipeline.steps[task.step];
    const where = { step: task.step, part: task.part, attempt: task.attempt, workerId };
    if (error.retryable && spec !== undefined && task.attempt < task.maxAttempts) {
      const delayMs = retryDelay(spec.retry, task.attempt, this.random);
      const runAt = change.now + delayMs;
      change.emit({ type: "step.retrying", ...where, data: { error: info, delayMs, runAt } });
      await tx.updateTask(task.id, {
        state: "queued",
        runAt,
        attempt: task.attempt,
        deadline: task.deadline,
      });
      return;
    }
    const final: ErrorInfo = error.retryable
      ? {
          code: ErrorCodes.attemptsExhausted,
          message: `failed after ${task.attempt} attempt${task.attempt === 1 ? "" : "s"}: ${info.message}`,
        }
      : info;
    const partNote = task.part === null ? {} : { message: `part ${task.part}: ${final.message}` };
    change.emit({
      type: "step.failed",
      ...where,
      part: null,
      data: error.retryable
        ? { error: { ...final, ...partNote }, cause: info }
        : { error: { ...final, ...partNote } },
    });
    // A map step fails as a whole: its other parts stop (their workers lose the lease).
    await tx.deleteStepTasks(task.jobId, task.step);
    change.advance();
  }

  /** Runs `work` on a task the lease still holds, then commits the job change it made. */
  private async withLease(
    lease: Lease,
    work: (tx: BackendTransaction, task: TaskRecord, change: JobChange) => Promise<void>,
  ): Promise<void> {
    const now = this.clock();
    const { value: events, durable } = await this.backend.transactionBeforeDurable(async (tx) => {
      const task = await lockLease(tx, lease);
      const state = await tx.lockJob(task.jobId);
      if (state === undefined) throw jobGone(lease);
      const change = new JobChange(state, now);
      await work(tx, task, change);
      return change.commit(tx);
    });
    await this.announceWhenDurable(durable, events, wakeTime(events));
  }

  /**
   * Tells listeners of a commit's events once it is durable and every commit announced before it has
   * been told, and resolves then. Every engine transaction that writes events calls this as soon as its
   * commit returns, so in commit order: listeners hear each job's events in sequence, whichever flush
   * ends first, and none that a power cut could still take back. A commit that never becomes durable is
   * never told, and does not hold up the ones after it.
   */
  private announceWhenDurable(durable: Promise<void>, events: JobEvent[], workAt?: number): Promise<void> {
    const told = Promise.all([this.announced, durable]).then(() => this.announce(events, workAt));
    this.announced = told.catch(() => {});
    return told;
  }

  private announce(events: JobEvent[], workAt?: number): void {
    if (events.length > 0) this.notifications.emit("events", events);
    if (workAt !== undefined) this.notifications.emit("work", workAt);
  }
}

/** The lease has run out and the worker that held it stopped renewing it; another attempt may succeed. */
class LeaseExpiredError extends MediaflowError {
  constructor(owner: string) {
    super(
      ErrorCodes.leaseExpired,
      `the worker ${owner} stopped renewing its lease (crashed, hung or cut off)`,
    );
  }
}

async function lockLease(tx: BackendTransaction, lease: Lease): Promise<TaskRecord> {
  const task = await tx.lockTask(lease.taskId);
  const lost = leaseLost(task, lease);
  if (lost !== undefined || task === undefined) throw lost;
  return task;
}

/** Why `lease` no longer holds `task` (as just locked), or undefined while it does. */
function leaseLost(task: TaskRecord | undefined, lease: Lease): LeaseLostError | undefined {
  if (task === undefined)
    return new LeaseLostError(String(lease.taskId), "the task is gone (finished, failed or cancelled)");
  if (task.state !== "running" || task.leaseToken !== lease.token) {
    return new LeaseLostError(String(lease.taskId), "another worker has taken it over");
  }
  return undefined;
}

function jobGone(lease: Lease): LeaseLostError {
  return new LeaseLostError(String(lease.taskId), "its job no longer exists");
}

/** A job to create, validated, waiting to be created with others. */
interface Creation {
  request: CreateJobRequest;
  pipeline: PipelineSpec;
  params: Record<string, JsonValue>;
}

/** What creating a batch of jobs committed. */
interface CreatedWithin {
  results: CreatedJob[];
  events: JobEvent[];
  /** Some job has a task runnable now. */
  enqueued: boolean;
}

/** A created job, or the tenant's job that already had the request's idempotency key. */
export interface CreatedJob {
  job: JobProjection;
  created: boolean;
}

/** A task's result, waiting to be recorded with others. */
interface Completion {
  lease: Lease;
  result: StepResult;
}

/** The step succeeded: its task is done, and a map step succeeds once all its parts have. */
async function recordSuccess(
  tx: BackendTransaction,
  task: TaskRecord,
  change: JobChange,
  result: StepResult,
): Promise<void> {
  const outputs = result.outputs ?? [];
  const data = result.data === undefined ? { outputs } : { outputs, data: result.data };
  change.emit({ type: "step.succeeded", step: task.step, part: task.part, attempt: task.attempt, data });
  await tx.deleteTask(task.id);
  const parts = change.state.steps[task.step]?.parts;
  if (task.part !== null && parts !== null && parts !== undefined) {
    if (parts.results.some((part) => part === null)) return;
    const results = parts.results.filter((part): part is StepResult => part !== null);
    change.emit({ type: "step.succeeded", step: task.step, data: combineParts(results) });
  }
  change.advance();
}

async function settle<T>(run: () => Promise<T>): Promise<ItemOutcome<T>> {
  try {
    return { ok: true, value: await run() };
  } catch (error) {
    return { ok: false, error };
  }
}

function leaseOf(task: TaskRecord, workerId: string): Lease {
  return {
    taskId: task.id,
    token: task.leaseToken,
    workerId,
    jobId: task.jobId,
    step: task.step,
    part: task.part,
  };
}

function requeueFields(task: TaskRecord) {
  return {
    jobId: task.jobId,
    step: task.step,
    stepType: task.stepType,
    priority: task.priority,
    maxAttempts: task.maxAttempts,
  };
}

// When the events just written make work runnable: a queued step now, or a retry/deferral later.
function wakeTime(events: readonly JobEvent[]): number | undefined {
  let earliest: number | undefined;
  for (const event of events) {
    let runAt: number | undefined;
    if (event.type === "step.queued" || event.type === "step.retrying" || event.type === "step.deferred") {
      runAt = event.data.runAt;
    } else if (event.type === "step.released") {
      runAt = event.at;
    }
    if (runAt !== undefined && (earliest === undefined || runAt < earliest)) earliest = runAt;
  }
  return earliest;
}

function combineParts(results: StepResult[]): { outputs: StepOutput[]; data: JsonValue } {
  return {
    outputs: results.flatMap((result) => result.outputs ?? []),
    data: results.map((result) => result.data ?? null),
  };
}

function describeClaim(
  task: TaskRecord,
  state: JobProjection,
  workerId: string,
  leaseExpiresAt: number,
): ClaimedTask {
  const spec = state.job.pipeline.steps[task.step];
  if (spec === undefined) throw new Error(`job ${task.jobId} has no step ${task.step}`);
  const needs: Record<string, ParentResult> = {};
  for (const parent of spec.needs) {
    const step = state.steps[parent];
    if (step === undefined) continue;
    const result: ParentResult = {
      status:
        step.status === "succeeded"
          ? "succeeded"
          : step.status === "failed"
            ? "failed"
            : step.status === "cancelled"
              ? "cancelled"
              : "skipped",
      outputs: step.result?.outputs ?? [],
    };
    if (step.result?.data !== undefined) result.data = step.result.data;
    if (step.parts !== null) result.parts = step.parts.results.map((part) => part ?? {});
    if (step.error !== null) result.error = step.error;
    needs[parent] = result;
  }
  const parts = state.steps[task.step]?.parts;
  return {
    lease: leaseOf(task, workerId),
    attempt: task.attempt,
    maxAttempts: task.maxAttempts,
    leaseExpiresAt,
    spec,
    job: {
      id: state.job.id,
      tenant: state.job.tenant,
      input: state.job.input,
      limits: state.job.pipeline.limits,
    },
    needs,
    part:
      task.part === null
        ? undefined
        : { index: task.part, count: parts?.count ?? 0, input: task.input ?? null },
  };
}
