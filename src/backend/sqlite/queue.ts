import type { ClaimRequest, NewTask, TaskRecord, TaskUpdate } from "../backend.js";
import type { SqliteDatabase } from "./connection.js";
import { type TaskValues, taskColumns, taskFromValues } from "./rows.js";

/** The work queue's statements. */
export function queueStatements(db: SqliteDatabase) {
  const insert = db.prepare(`INSERT INTO tasks
    (job_id, step, part, step_type, priority, run_at, max_attempts, input, created_at)
    VALUES (@jobId, @step, @part, @stepType, @priority, @runAt, @maxAttempts, @input, @createdAt)`);
  // One statement: pick the runnable tasks and lease them. SQLite has one writer, so nothing can claim
  // the same rows between the SELECT and the UPDATE. `@limit + 0`, not `@limit`: SQLite plans with the
  // value bound to a bare LIMIT parameter, so it compiled the statement again at every claim (a third of
  // the claim's time, measured).
  const claimAny = db
    .prepare(`UPDATE tasks
    SET state = 'running', attempt = attempt + 1, lease_token = lease_token + 1,
        lease_owner = @workerId, lease_expires_at = @expiresAt
    WHERE id IN (SELECT id FROM tasks WHERE state = 'queued' AND run_at <= @now
                 ORDER BY priority DESC, run_at, id LIMIT @limit + 0)
    RETURNING ${taskColumns}`)
    .raw(true);
  const claimTypes = db
    .prepare(`UPDATE tasks
    SET state = 'running', attempt = attempt + 1, lease_token = lease_token + 1,
        lease_owner = @workerId, lease_expires_at = @expiresAt
    WHERE id IN (SELECT id FROM tasks WHERE state = 'queued' AND run_at <= @now
                   AND step_type IN (SELECT value FROM json_each(@types))
                 ORDER BY priority DESC, run_at, id LIMIT @limit + 0)
    RETURNING ${taskColumns}`)
    .raw(true);
  const byId = db.prepare(`SELECT ${taskColumns} FROM tasks WHERE id = ?`).raw(true);
  const requeue = db.prepare(`UPDATE tasks SET state = 'queued', run_at = @runAt, attempt = @attempt,
    deadline = @deadline, lease_owner = NULL, lease_expires_at = NULL WHERE id = @id`);
  const extend = db.prepare("UPDATE tasks SET lease_expires_at = @leaseExpiresAt WHERE id = @id");
  const remove = db.prepare("DELETE FROM tasks WHERE id = ?");
  const removeForJob = db.prepare(`DELETE FROM tasks WHERE job_id = ? RETURNING ${taskColumns}`).raw(true);
  const removeForStep = db
    .prepare(`DELETE FROM tasks WHERE job_id = ? AND step = ? RETURNING ${taskColumns}`)
    .raw(true);
  const expired = db
    .prepare(`SELECT ${taskColumns} FROM tasks WHERE state = 'running' AND lease_expires_at < ?
      ORDER BY lease_expires_at LIMIT ?`)
    .raw(true);

  return {
    enqueue(tasks: readonly NewTask[], now: number): void {
      for (const task of tasks) {
        insert.run({
          ...task,
          input: task.input === null ? null : JSON.stringify(task.input),
          createdAt: now,
        });
      }
    },
    claim(request: ClaimRequest): TaskRecord[] {
      const params = {
        workerId: request.workerId,
        expiresAt: request.now + request.leaseMs,
        now: request.now,
        limit: request.limit,
      };
      const rows = (
        request.stepTypes === undefined
          ? claimAny.all(params)
          : claimTypes.all({ ...params, types: JSON.stringify(request.stepTypes) })
      ) as TaskValues[];
      // RETURNING gives no order; restore the claim order.
      return rows
        .map(taskFromValues)
        .sort((a, b) => b.priority - a.priority || a.runAt - b.runAt || a.id - b.id);
    },
    get(taskId: number): TaskRecord | undefined {
      const row = byId.get(taskId) as TaskValues | undefined;
      return row === undefined ? undefined : taskFromValues(row);
    },
    update(taskId: number, update: TaskUpdate): void {
      if (update.state === "queued") requeue.run({ id: taskId, ...update });
      else extend.run({ id: taskId, leaseExpiresAt: update.leaseExpiresAt });
    },
    delete(taskId: number): void {
      remove.run(taskId);
    },
    deleteForJob(jobId: string): TaskRecord[] {
      return (removeForJob.all(jobId) as TaskValues[]).map(taskFromValues);
    },
    deleteForStep(jobId: string, step: string): TaskRecord[] {
      return (removeForStep.all(jobId, step) as TaskValues[]).map(taskFromValues);
    },
    expired(now: number, limit: number): TaskRecord[] {
      return (expired.all(now, limit) as TaskValues[]).map(taskFromValues);
    },
  };
}
