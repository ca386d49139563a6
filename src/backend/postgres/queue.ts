import type { JobProjection } from "../../engine/projection.js";
import type { ClaimRequest, QueueDepth, TaskRecord } from "../backend.js";
import type { Sql } from "./connection.js";
import { type JobRow, projectionOf } from "./jobs.js";
import { type TaskRow, taskFromRow } from "./rows.js";

/**
 * Claims in one statement: the inner SELECT picks the runnable tasks in claim order and locks them,
 * skipping rows another transaction holds (its claim, or a change to that task), so concurrent claimers
 * never wait for one another nor take the same task; the UPDATE leases what it locked.
 */
export async function claimTasks(db: Sql, request: ClaimRequest): Promise<TaskRecord[]> {
  const { values, typeFilter } = claimParameters(request);
  const { rows } = await db.query<TaskRow>(
    `UPDATE tasks
     SET state = 'running', attempt = attempt + 1, lease_token = lease_token + 1,
         lease_owner = $1, lease_expires_at = $2
     WHERE id IN (SELECT id FROM tasks WHERE state = 'queued' AND run_at <= $3 ${typeFilter}
                  ORDER BY priority DESC, run_at, id LIMIT $4
                  FOR UPDATE SKIP LOCKED)
     RETURNING *`,
    values,
  );
  return inClaimOrder(rows.map(taskFromRow));
}

/**
 * Claims like `claimTasks`, and in the same statement locks and loads each claimed task's job, skipping
 * tasks whose job another transaction holds. For a transaction that already holds a job (recording a
 * result, then claiming the worker's next task): waiting for a second job there could deadlock with a
 * transaction doing the same the other way round, while a skipped task is claimed by the next claim.
 * A row locked by this transaction is not skipped. Locked rows are returned as last committed.
 */
export async function claimTasksWithJobs(
  db: Sql,
  request: ClaimRequest,
): Promise<{ tasks: TaskRecord[]; jobs: JobProjection[] }> {
  const { values, typeFilter } = claimParameters(request, "t.");
  const { rows } = await db.query<TaskRow & { job: JobRow }>(
    `WITH picked AS (
       SELECT t.id, to_json(j) AS job FROM tasks t JOIN jobs j ON j.id = t.job_id
       WHERE t.state = 'queued' AND t.run_at <= $3 ${typeFilter}
       ORDER BY t.priority DESC, t.run_at, t.id LIMIT $4
       FOR UPDATE OF t, j SKIP LOCKED)
     UPDATE tasks
     SET state = 'running', attempt = attempt + 1, lease_token = lease_token + 1,
         lease_owner = $1, lease_expires_at = $2
     FROM picked WHERE tasks.id = picked.id
     RETURNING tasks.*, picked.job`,
    values,
  );
  const jobs = new Map<string, JobProjection>();
  const tasks = rows.map(({ job, ...task }) => {
    if (!jobs.has(job.id)) jobs.set(job.id, projectionOf(job));
    return taskFromRow(task);
  });
  return { tasks: inClaimOrder(tasks), jobs: [...jobs.values()] };
}

function claimParameters(request: ClaimRequest, alias = ""): { values: unknown[]; typeFilter: string } {
  const values: unknown[] = [request.workerId, request.now + request.leaseMs, request.now, request.limit];
  if (request.stepTypes === undefined) return { values, typeFilter: "" };
  values.push([...request.stepTypes]);
  return { values, typeFilter: `AND ${alias}step_type = ANY($5::text[])` };
}

/** RETURNING gives no order; this is the claim order. */
function inClaimOrder(tasks: TaskRecord[]): TaskRecord[] {
  return tasks.sort((a, b) => b.priority - a.priority || a.runAt - b.runAt || a.id - b.id);
}

/**
 * Loads a task and locks it and its job's row, in one statement: a lease holder changes the task's job
 * next (recording a result, a retry, progress). Rows locked after waiting are returned as their holder
 * committed them.
 */
export async function lockTaskAndJob(
  db: Sql,
  taskId: number,
): Promise<{ task: TaskRecord; job: JobProjection } | undefined> {
  const { rows } = await db.query<TaskRow & { job: JobRow }>(
    `SELECT t.*, to_json(j) AS job FROM tasks t JOIN jobs j ON j.id = t.job_id
     WHERE t.id = $1 FOR UPDATE OF t, j`,
    [taskId],
  );
  const row = rows[0];
  if (row === undefined) return undefined;
  const { job, ...task } = row;
  return { task: taskFromRow(task), job: projectionOf(job) };
}

/**
 * Locks and loads several tasks and their jobs in one statement, jobs in id order (then tasks), the order
 * every multi-job lock here takes, so two such transactions cannot each hold what the other waits for.
 */
export async function lockTasksAndJobs(
  db: Sql,
  taskIds: readonly number[],
): Promise<{ tasks: TaskRecord[]; jobs: JobProjection[] }> {
  if (taskIds.length === 0) return { tasks: [], jobs: [] };
  const { rows } = await db.query<TaskRow & { job: JobRow }>(
    `SELECT t.*, to_json(j) AS job FROM tasks t JOIN jobs j ON j.id = t.job_id
     WHERE t.id = ANY($1::bigint[]) ORDER BY j.id COLLATE "C", t.id FOR UPDATE OF t, j`,
    [[...taskIds]],
  );
  const jobs = new Map<string, JobProjection>();
  const tasks = rows.map(({ job, ...task }) => {
    if (!jobs.has(job.id)) jobs.set(job.id, projectionOf(job));
    return taskFromRow(task);
  });
  return { tasks, jobs: [...jobs.values()] };
}

export async function deleteJobTasks(db: Sql, jobId: string): Promise<TaskRecord[]> {
  const { rows } = await db.query<TaskRow>("DELETE FROM tasks WHERE job_id = $1 RETURNING *", [jobId]);
  return rows.map(taskFromRow).sort((a, b) => a.id - b.id);
}

export async function deleteStepTasks(db: Sql, jobId: string, step: string): Promise<TaskRecord[]> {
  const { rows } = await db.query<TaskRow>("DELETE FROM tasks WHERE job_id = $1 AND step = $2 RETURNING *", [
    jobId,
    step,
  ]);
  return rows.map(taskFromRow).sort((a, b) => a.id - b.id);
}

export async function findExpiredLeases(db: Sql, now: number, limit: number): Promise<TaskRecord[]> {
  const { rows } = await db.query<TaskRow>(
    `SELECT * FROM tasks WHERE state = 'running' AND lease_expires_at < $1
     ORDER BY lease_expires_at LIMIT $2`,
    [now, limit],
  );
  return rows.map(taskFromRow);
}

export async function listTasks(db: Sql, jobId: string): Promise<TaskRecord[]> {
  const { rows } = await db.query<TaskRow>("SELECT * FROM tasks WHERE job_id = $1 ORDER BY id", [jobId]);
  return rows.map(taskFromRow);
}

export async function leaseTokens(db: Sql, taskIds: readonly number[]): Promise<Map<number, number>> {
  const held = new Map<number, number>();
  if (taskIds.length === 0) return held;
  const { rows } = await db.query<{ id: number; token: number }>(
    "SELECT id, lease_token AS token FROM tasks WHERE id = ANY($1::bigint[]) AND state = 'running'",
    [[...taskIds]],
  );
  for (const row of rows) held.set(row.id, row.token);
  return held;
}

export async function queueDepth(db: Sql, now: number): Promise<QueueDepth[]> {
  // COLLATE "C": byte order, as SQLite sorts, whatever the database's collation.
  const { rows } = await db.query<QueueDepth>(
    `SELECT step_type AS "stepType",
       count(*) FILTER (WHERE state = 'queued') AS queued,
       count(*) FILTER (WHERE state = 'running') AS running,
       min(run_at) FILTER (WHERE state = 'queued' AND run_at <= $1) AS "oldestRunnableAt"
     FROM tasks GROUP BY step_type ORDER BY step_type COLLATE "C"`,
    [now],
  );
  return rows;
}
