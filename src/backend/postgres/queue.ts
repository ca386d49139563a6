import type { JobProjection } from "../../engine/projection.js";
import type { ClaimRequest, QueueDepth, TaskRecord } from "../backend.js";
import { prepared, type Sql } from "./connection.js";
import { type JobRow, projectionOf } from "./jobs.js";
import { type TaskRow, taskFromRow } from "./rows.js";

/** What the hot statements return: each row as one JSON value, whatever columns the table has. */
type TaskAndJobRow = { task: TaskRow; job: JobRow };

// The jobs are looked up row by row (LATERAL), by key, in key order (the order every multi-job lock here
// takes), so no hash join reads every job, whatever the planner's statistics say. (That claims walk the
// queue's index in order rather than sort it is connection.ts's `transactionSettings`.)
const claimSql = (typeFilter: string) => `
  WITH claimed AS (
    UPDATE tasks
    SET state = 'running', attempt = attempt + 1, lease_token = lease_token + 1,
        lease_owner = $1, lease_expires_at = $2
    WHERE id IN (SELECT id FROM tasks WHERE state = 'queued' AND run_at <= $3 ${typeFilter}
                 ORDER BY priority DESC, run_at, id LIMIT $4
                 FOR UPDATE SKIP LOCKED)
    RETURNING job_id, to_json(tasks) AS task)
  SELECT c.task, l.job
  FROM (SELECT * FROM claimed ORDER BY job_id COLLATE "C") c
  CROSS JOIN LATERAL (SELECT to_json(j) AS job FROM jobs j WHERE j.id = c.job_id FOR UPDATE) l`;

/**
 * Prepared like the other hot statements: their generic plan walks the queue's index to the LIMIT, however
 * large a LIMIT the planner guesses, because transactions price sorts, scans and hash joins out
 * (connection.ts's `transactionSettings`). Planned anew each time, a claim cost 0.5 ms of server time.
 */
const claim = {
  any: prepared("claim", claimSql("")),
  ofTypes: prepared("claim_of_types", claimSql("AND step_type = ANY($5::text[])")),
};

/**
 * Claims in one statement: the inner SELECT picks the runnable tasks in claim order and locks them,
 * skipping rows another transaction holds (its claim, or a change to that task), so concurrent claimers
 * never wait for one another nor take the same task; the UPDATE leases what it locked. Then it locks and
 * loads the claimed tasks' jobs, waiting for any that another transaction is changing, in id order, so
 * that two claims cannot deadlock on each other's jobs; a job locked after waiting is returned as its
 * holder committed it.
 */
export async function claimTasks(
  db: Sql,
  request: ClaimRequest,
): Promise<{ tasks: TaskRecord[]; jobs: JobProjection[] }> {
  const statement = request.stepTypes === undefined ? claim.any : claim.ofTypes;
  const { rows } = await db.query<TaskAndJobRow>({ ...statement, values: claimValues(request) });
  const { tasks, jobs } = tasksAndJobs(rows);
  return { tasks: inClaimOrder(tasks), jobs };
}

function claimValues(request: ClaimRequest): unknown[] {
  const values: unknown[] = [request.workerId, request.now + request.leaseMs, request.now, request.limit];
  if (request.stepTypes !== undefined) values.push([...request.stepTypes]);
  return values;
}

/** RETURNING gives no order; this is the claim order. */
function inClaimOrder(tasks: TaskRecord[]): TaskRecord[] {
  return tasks.sort((a, b) => b.priority - a.priority || a.runAt - b.runAt || a.id - b.id);
}

function tasksAndJobs(rows: readonly TaskAndJobRow[]): { tasks: TaskRecord[]; jobs: JobProjection[] } {
  const jobs = new Map<string, JobProjection>();
  const tasks = rows.map(({ task, job }) => {
    if (!jobs.has(job.id)) jobs.set(job.id, projectionOf(job));
    return taskFromRow(task);
  });
  return { tasks, jobs: [...jobs.values()] };
}

const lockTaskStatement = prepared(
  "lock_task",
  `SELECT to_json(t) AS task, to_json(j) AS job FROM tasks t JOIN jobs j ON j.id = t.job_id
   WHERE t.id = $1 FOR UPDATE OF t, j`,
);

/**
 * Loads a task and locks it and its job's row, in one statement: a lease holder changes the task's job
 * next (recording a result, a retry, progress). Rows locked after waiting are returned as their holder
 * committed them.
 */
export async function lockTaskAndJob(
  db: Sql,
  taskId: number,
): Promise<{ task: TaskRecord; job: JobProjection } | undefined> {
  const { rows } = await db.query<TaskAndJobRow>({ ...lockTaskStatement, values: [taskId] });
  const row = rows[0];
  return row === undefined ? undefined : { task: taskFromRow(row.task), job: projectionOf(row.job) };
}

const lockTasksStatement = prepared(
  "lock_tasks",
  `SELECT to_json(t) AS task, to_json(j) AS job FROM tasks t JOIN jobs j ON j.id = t.job_id
   WHERE t.id = ANY($1::bigint[]) ORDER BY j.id COLLATE "C", t.id FOR UPDATE OF t, j`,
);

/**
 * Locks and loads several tasks and their jobs in one statement, jobs in id order (then tasks), the order
 * every multi-job lock here takes, so two such transactions cannot each hold what the other waits for.
 */
export async function lockTasksAndJobs(
  db: Sql,
  taskIds: readonly number[],
): Promise<{ tasks: TaskRecord[]; jobs: JobProjection[] }> {
  if (taskIds.length === 0) return { tasks: [], jobs: [] };
  const { rows } = await db.query<TaskAndJobRow>({ ...lockTasksStatement, values: [[...taskIds]] });
  return tasksAndJobs(rows);
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
