import type { BackendTransaction, NewTask } from "../backend/backend.js";
import type { JobEvent, JobEventType, NewJobEvent } from "./events.js";
import { decideJobOutcome, decidePendingSteps } from "./plan.js";
import { applyEvent, finishedJobStatuses, type JobProjection, projectionFromCreated } from "./projection.js";

type EventFields<T extends JobEventType> = Extract<NewJobEvent, { type: T }>;
type EmitInput<T extends JobEventType> = Pick<EventFields<T>, "type" | "data"> &
  Partial<Pick<EventFields<T>, "step" | "part" | "attempt" | "workerId">>;

/**
 * The changes one transaction makes to one job: events, applied to the projection as they are emitted so
 * that every later decision in the transaction sees them, and the tasks they enqueue. `commit` writes all
 * of it through the transaction it was opened in.
 */
export class JobChange {
  readonly events: NewJobEvent[] = [];
  readonly tasks: NewTask[] = [];

  constructor(
    readonly state: JobProjection,
    readonly now: number,
  ) {}

  /** A new job's first change: its job.created event. */
  static ofNewJob(created: EventFields<"job.created">, now: number): JobChange {
    const change = new JobChange(projectionFromCreated(created), now);
    change.events.push(created);
    return change;
  }

  emit<T extends JobEventType>(input: EmitInput<T>): void {
    const event = {
      jobId: this.state.job.id,
      step: null,
      part: null,
      attempt: null,
      workerId: null,
      at: this.now,
      ...input,
    } as NewJobEvent;
    applyEvent(this.state, event);
    this.events.push(event);
  }

  /** Queues a step's own task (not a part) to run now. */
  queueStep(name: string): void {
    const spec = this.state.job.pipeline.steps[name];
    if (spec === undefined) throw new Error(`unknown step ${name}`);
    this.emit({ type: "step.queued", step: name, data: { runAt: this.now } });
    this.tasks.push({
      jobId: this.state.job.id,
      step: name,
      part: null,
      stepType: spec.use,
      priority: this.state.job.priority + spec.priority,
      runAt: this.now,
      maxAttempts: spec.retry.attempts,
      input: null,
    });
  }

  /**
   * Moves the job forward after a step changed: queues the steps whose parents are now done, skips the
   * ones that can no longer run, and ends the job once every step has finished.
   */
  advance(): void {
    if (finishedJobStatuses.has(this.state.job.status)) return;
    for (const decision of decidePendingSteps(this.state)) {
      if (decision.action === "queue") this.queueStep(decision.step);
      else this.emit({ type: "step.skipped", step: decision.step, data: { reason: decision.reason ?? "" } });
    }
    const outcome = decideJobOutcome(this.state);
    if (outcome?.status === "succeeded") this.emit({ type: "job.succeeded", data: {} });
    if (outcome?.status === "failed") {
      this.emit({ type: "job.failed", data: { error: outcome.error, step: outcome.step } });
    }
  }

  /** Writes the change through the transaction it was opened in; see `commitChanges`. */
  async commit(tx: BackendTransaction): Promise<JobEvent[]> {
    return (await commitChanges(tx, [this]))[0] ?? [];
  }
}

/**
 * Writes changes to several jobs together: their tasks, then all their events in one append with the new
 * projections. Returns each change's events as appended, in the order of `changes`. It ends the
 * transaction's work: the append is final (see `appendEvents`), so an adapter may commit with it.
 */
export async function commitChanges(
  tx: BackendTransaction,
  changes: readonly JobChange[],
): Promise<JobEvent[][]> {
  const tasks = changes.flatMap((change) => change.tasks);
  if (tasks.length > 0) await tx.enqueueTasks(tasks);
  const all = changes.flatMap((change) => change.events);
  const appended = await tx.appendEvents(
    all,
    changes.map((change) => change.state),
    { final: true },
  );
  const perChange: JobEvent[][] = [];
  let offset = 0;
  for (const change of changes) {
    perChange.push(appended.slice(offset, offset + change.events.length));
    offset += change.events.length;
  }
  return perChange;
}
