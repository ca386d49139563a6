import type { NewTask, TaskUpdate } from "../backend.js";
import { prepared, type Sql } from "./connection.js";

/**
 * Task writes a transaction has been asked for but not yet sent: deletions, updates and new tasks. None of
 * them returns anything, so they wait and ride along with the next statement that must go to the server
 * anyway (the events' append, or else a statement of their own before any other statement or
 * COMMIT): each round trip saved is one less while the transaction holds its row locks. They commit or
 * roll back with the transaction like any other write.
 */
export class PendingWrites {
  private deletes = new Set<number>();
  private requeues = new Map<number, Extract<TaskUpdate, { state: "queued" }>>();
  private extensions = new Map<number, number>();
  private inserts: NewTask[] = [];

  deleteTask(taskId: number): void {
    this.requeues.delete(taskId);
    this.extensions.delete(taskId);
    this.deletes.add(taskId);
  }

  updateTask(taskId: number, update: TaskUpdate): void {
    if (update.state === "queued") {
      this.extensions.delete(taskId);
      this.requeues.set(taskId, update);
    } else {
      this.extensions.set(taskId, update.leaseExpiresAt);
    }
  }

  enqueueTasks(tasks: readonly NewTask[]): void {
    this.inserts.push(...tasks);
  }

  get empty(): boolean {
    return (
      this.deletes.size === 0 &&
      this.requeues.size === 0 &&
      this.extensions.size === 0 &&
      this.inserts.length === 0
    );
  }

  /**
   * Takes everything pending as the parameters of `pendingWritesSql` and forgets it. Every part is always
   * there (as empty arrays when there is nothing to do), so the statement's text never changes.
   */
  take(now: number): unknown[] {
    const requeues = [...this.requeues];
    const extensions = [...this.extensions];
    const values = [
      [...this.deletes],
      requeues.map(([id]) => id),
      requeues.map(([, u]) => u.runAt),
      requeues.map(([, u]) => u.attempt),
      requeues.map(([, u]) => u.deadline),
      extensions.map(([id]) => id),
      extensions.map(([, at]) => at),
      this.inserts.map((t) => t.jobId),
      this.inserts.map((t) => t.step),
      this.inserts.map((t) => t.part),
      this.inserts.map((t) => t.stepType),
      this.inserts.map((t) => t.priority),
      this.inserts.map((t) => t.runAt),
      this.inserts.map((t) => t.maxAttempts),
      this.inserts.map((t) => (t.input === null ? null : JSON.stringify(t.input))),
      now,
    ];
    this.deletes = new Set();
    this.requeues = new Map();
    this.extensions = new Map();
    this.inserts = [];
    return values;
  }
}

/** How many parameters `take` returns. */
export const pendingWritesParameterCount = 16;

/**
 * The CTEs that apply what `take` returned, parameters numbered from `$1`. Each CTE touches rows no other
 * one does (a deleted task's pending updates were dropped; new tasks are invisible to the others), as
 * data-modifying CTEs of one statement all see the same snapshot. New tasks are inserted in the order
 * they were given, since ids break ties in the claim order.
 */
export const pendingWritesSql = `
  deleted_tasks AS (DELETE FROM tasks WHERE id = ANY($1::bigint[])),
  requeued_tasks AS (
    UPDATE tasks SET state = 'queued', run_at = u.run_at, attempt = u.attempt, deadline = u.deadline,
      lease_owner = NULL, lease_expires_at = NULL
    FROM unnest($2::bigint[], $3::bigint[], $4::int[], $5::bigint[]) AS u (id, run_at, attempt, deadline)
    WHERE tasks.id = u.id),
  extended_leases AS (
    UPDATE tasks SET lease_expires_at = u.lease_expires_at
    FROM unnest($6::bigint[], $7::bigint[]) AS u (id, lease_expires_at)
    WHERE tasks.id = u.id),
  inserted_tasks AS (
    INSERT INTO tasks (job_id, step, part, step_type, priority, run_at, max_attempts, input, created_at)
    SELECT job_id, step, part, step_type, priority, run_at, max_attempts, input, $16
    FROM unnest($8::text[], $9::text[], $10::int[], $11::text[], $12::int[], $13::bigint[], $14::int[], $15::json[])
      WITH ORDINALITY AS t (job_id, step, part, step_type, priority, run_at, max_attempts, input, ord)
    ORDER BY ord)`;

const flushStatement = prepared("write_pending", `WITH ${pendingWritesSql} SELECT 1`);

/** Sends what is pending, in a statement of its own. */
export async function flushPendingWrites(db: Sql, pending: PendingWrites): Promise<void> {
  if (pending.empty) return;
  await db.query({ ...flushStatement, values: pending.take(Date.now()) });
}
