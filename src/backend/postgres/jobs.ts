import type { JobProjection, JobState, JobStatus, StepState } from "../../engine/projection.js";
import type { ErrorInfo } from "../../errors/errors.js";
import type { JobFilter, JobSummary, NewJob } from "../backend.js";
import { prepared, type Sql } from "./connection.js";

export interface JobRow {
  seq: number;
  id: string;
  tenant: string;
  idempotency_key: string | null;
  pipeline_name: string;
  priority: number;
  definition: Pick<JobState, "pipeline" | "input" | "params">;
  status: string;
  progress: number;
  created_at: number;
  started_at: number | null;
  finished_at: number | null;
  error: ErrorInfo | null;
  failed_step: string | null;
  last_seq: number;
  /** By step name (migration 6). */
  steps: Record<string, StepState>;
}

/** Every column but the definition and the steps: what a list of jobs shows. */
const summaryColumns =
  "seq, id, tenant, idempotency_key, pipeline_name, priority, status, progress, created_at, started_at, finished_at, error, failed_step, last_seq";

/**
 * Inserts the job, or finds the tenant's job with the same idempotency key. Under READ COMMITTED an insert
 * that collides with another transaction's uncommitted one waits for it; if that one commits, DO NOTHING
 * applies, and the SELECT after it (a new statement, so a new snapshot) sees the committed row.
 */
const insertJobStatement = prepared(
  "insert_job",
  `INSERT INTO jobs (id, tenant, idempotency_key, pipeline_name, priority, definition, status, created_at)
   VALUES ($1, $2, $3, $4, $5, $6, 'queued', $7)
   ON CONFLICT (tenant, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING`,
);

export async function insertJob(
  db: Sql,
  job: NewJob,
): Promise<{ created: true } | { created: false; existingJobId: string }> {
  const inserted = await db.query({
    ...insertJobStatement,
    values: [
      job.id,
      job.tenant,
      job.idempotencyKey,
      job.pipelineName,
      job.priority,
      JSON.stringify(job.definition),
      job.createdAt,
    ],
  });
  if (inserted.rowCount === 1) return { created: true };
  const existing = await db.query<{ id: string }>(
    "SELECT id FROM jobs WHERE tenant = $1 AND idempotency_key = $2",
    [job.tenant, job.idempotencyKey],
  );
  const id = existing.rows[0]?.id;
  if (id === undefined)
    throw new Error(`job ${job.id} was neither inserted nor found by its idempotency key`);
  return { created: false, existingJobId: id };
}

const lockJobStatement = prepared(
  "lock_job",
  "SELECT to_json(jobs) AS job FROM jobs WHERE id = $1 FOR UPDATE",
);

/**
 * Loads a job and locks its row until the transaction ends; every change to a job (and its steps) takes
 * this lock first, so changes to one job run one at a time. The steps are in the row, so a statement that
 * waited for the lock returns them as the previous holder committed them.
 */
export async function lockJob(db: Sql, jobId: string): Promise<JobProjection | undefined> {
  const { rows } = await db.query<{ job: JobRow }>({ ...lockJobStatement, values: [jobId] });
  const row = rows[0];
  return row === undefined ? undefined : projectionOf(row.job);
}

export async function getJob(db: Sql, jobId: string): Promise<JobProjection | undefined> {
  const { rows } = await db.query<JobRow>("SELECT * FROM jobs WHERE id = $1", [jobId]);
  const row = rows[0];
  return row === undefined ? undefined : projectionOf(row);
}

export async function listJobs(db: Sql, filter: JobFilter): Promise<JobSummary[]> {
  const where: string[] = [];
  const values: unknown[] = [];
  const add = (condition: string, value: unknown) => {
    values.push(value);
    where.push(condition.replace("?", `$${values.length}`));
  };
  if (filter.tenant !== undefined) add("tenant = ?", filter.tenant);
  if (filter.status !== undefined) add("status = ?", filter.status);
  if (filter.pipeline !== undefined) add("pipeline_name = ?", filter.pipeline);
  if (filter.before !== undefined) add("seq < ?", filter.before);
  if (filter.retainedAt !== undefined)
    add("expired_at IS NULL AND (expires_at IS NULL OR expires_at > ?)", filter.retainedAt);
  values.push(filter.limit);
  const { rows } = await db.query<Omit<JobRow, "definition" | "steps">>(
    `SELECT ${summaryColumns} FROM jobs ${where.length === 0 ? "" : `WHERE ${where.join(" AND ")}`}
     ORDER BY seq DESC LIMIT $${values.length}`,
    values,
  );
  return rows.map(summaryFromRow);
}

export async function jobCounts(db: Sql): Promise<Record<JobStatus, number>> {
  const counts: Record<JobStatus, number> = { queued: 0, running: 0, succeeded: 0, failed: 0, cancelled: 0 };
  const { rows } = await db.query<{ status: JobStatus; count: number }>(
    "SELECT status, count(*) AS count FROM jobs GROUP BY status",
  );
  for (const row of rows) counts[row.status] = row.count;
  return counts;
}

export function projectionOf(row: JobRow): JobProjection {
  const job = jobFromRow(row);
  // The pipeline's order, not the stored object's, so that every reader sees steps as the file lists them.
  const steps: Record<string, StepState> = {};
  for (const name of Object.keys(job.pipeline.steps)) {
    const step = row.steps[name];
    if (step !== undefined) steps[name] = step;
  }
  return { job, steps };
}

function jobFromRow(row: JobRow): JobState {
  const { pipeline, input, params } = row.definition;
  const { createdSeq: _seq, progress: _progress, ...summary } = summaryFromRow(row);
  return { ...summary, pipeline, input, params };
}

function summaryFromRow(row: Omit<JobRow, "definition" | "steps">): JobSummary {
  return {
    id: row.id,
    tenant: row.tenant,
    pipelineName: row.pipeline_name,
    priority: row.priority,
    idempotencyKey: row.idempotency_key,
    status: row.status as JobStatus,
    createdAt: row.created_at,
    startedAt: row.started_at,
    finishedAt: row.finished_at,
    error: row.error,
    failedStep: row.failed_step,
    lastSeq: row.last_seq,
    createdSeq: row.seq,
    progress: row.progress,
  };
}
