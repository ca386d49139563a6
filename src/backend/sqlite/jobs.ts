import {
  type JobProjection,
  type JobState,
  type JobStatus,
  jobProgress,
  type StepState,
} from "../../engine/projection.js";
import { expiresAtOf } from "../../pipeline/retention.js";
import type { JobFilter, JobSummary, NewJob } from "../backend.js";
import type { SqliteDatabase } from "./connection.js";
import type { ProjectionCache } from "./projection-cache.js";

interface JobRow {
  seq: number;
  id: string;
  tenant: string;
  idempotency_key: string | null;
  pipeline_name: string;
  priority: number;
  definition: string;
  status: string;
  progress: number;
  created_at: number;
  started_at: number | null;
  finished_at: number | null;
  error: string | null;
  failed_step: string | null;
  last_seq: number;
  /** The steps' states by name, as JSON. */
  steps: string;
}

/**
 * The projection tables' statements: jobs and their steps. With a cache (the writer's connection only),
 * loads are served from it and saves kept in it.
 */
export function jobStatements(db: SqliteDatabase, cache?: ProjectionCache) {
  const insert = db.prepare(`INSERT INTO jobs
    (id, tenant, idempotency_key, pipeline_name, priority, definition, status, created_at)
    VALUES (@id, @tenant, @idempotencyKey, @pipelineName, @priority, @definition, 'queued', @createdAt)
    ON CONFLICT DO NOTHING`);
  const byKey = db.prepare("SELECT id FROM jobs WHERE tenant = ? AND idempotency_key = ?");
  const byId = db.prepare("SELECT * FROM jobs WHERE id = ?");
  const update = db.prepare(`UPDATE jobs SET status = @status, progress = @progress, started_at = @startedAt,
    finished_at = @finishedAt, error = @error, failed_step = @failedStep, last_seq = @lastSeq,
    expires_at = @expiresAt, steps = @steps WHERE id = @id`);

  function load(jobId: string): JobProjection | undefined {
    const cached = cache?.get(jobId);
    if (cached !== undefined) return cached;
    const loaded = loadStored(jobId);
    if (loaded !== undefined) cache?.set(loaded);
    return loaded;
  }

  function loadStored(jobId: string): JobProjection | undefined {
    const row = byId.get(jobId) as JobRow | undefined;
    if (row === undefined) return undefined;
    const job = jobFromRow(row);
    const stored = JSON.parse(row.steps) as Record<string, StepState>;
    // The pipeline's order, not the column's, so that every reader sees steps as the file lists them.
    const steps: Record<string, StepState> = {};
    for (const name of Object.keys(job.pipeline.steps)) {
      const step = stored[name];
      if (step !== undefined) steps[name] = step;
    }
    return { job, steps };
  }

  return {
    insert(job: NewJob): { created: true } | { created: false; existingJobId: string } {
      const result = insert.run({ ...job, definition: JSON.stringify(job.definition) });
      if (result.changes === 1) return { created: true };
      const existing = byKey.get(job.tenant, job.idempotencyKey) as { id: string } | undefined;
      if (existing === undefined) throw new Error(`job ${job.id} already exists`);
      return { created: false, existingJobId: existing.id };
    },
    load,
    save(state: JobProjection): void {
      const { job } = state;
      update.run({
        id: job.id,
        status: job.status,
        progress: jobProgress(state),
        startedAt: job.startedAt,
        finishedAt: job.finishedAt,
        error: job.error === null ? null : JSON.stringify(job.error),
        failedStep: job.failedStep,
        lastSeq: job.lastSeq,
        expiresAt: expiresAtOf(job),
        steps: JSON.stringify(state.steps),
      });
      cache?.set(state);
    },
    list(filter: JobFilter): JobSummary[] {
      const where = ["1 = 1"];
      const params: Record<string, string | number> = { limit: filter.limit };
      if (filter.tenant !== undefined) {
        where.push("tenant = @tenant");
        params.tenant = filter.tenant;
      }
      if (filter.status !== undefined) {
        where.push("status = @status");
        params.status = filter.status;
      }
      if (filter.pipeline !== undefined) {
        where.push("pipeline_name = @pipeline");
        params.pipeline = filter.pipeline;
      }
      if (filter.before !== undefined) {
        where.push("seq < @before");
        params.before = filter.before;
      }
      if (filter.retainedAt !== undefined) {
        where.push("expired_at IS NULL AND (expires_at IS NULL OR expires_at > @retainedAt)");
        params.retainedAt = filter.retainedAt;
      }
      const rows = db
        .prepare(`SELECT * FROM jobs WHERE ${where.join(" AND ")} ORDER BY seq DESC LIMIT @limit`)
        .all(params) as JobRow[];
      return rows.map(summaryFromRow);
    },
  };
}

type Definition = Pick<JobState, "pipeline" | "input" | "params">;

/**
 * Parsed job definitions by job id. A definition never changes once written, and a job is loaded at least
 * twice per step (claim and result), so parsing it once saves most of the cost of a load.
 */
const definitions = new Map<string, Definition>();
const definitionCacheSize = 2_000;

function definitionOf(row: JobRow): Definition {
  const cached = definitions.get(row.id);
  if (cached !== undefined) return cached;
  // Frozen: every load of the job shares this object, so nothing may change it.
  const parsed = deepFreeze(JSON.parse(row.definition) as Definition);
  if (definitions.size >= definitionCacheSize) {
    const oldest = definitions.keys().next();
    if (!oldest.done) definitions.delete(oldest.value);
  }
  definitions.set(row.id, parsed);
  return parsed;
}

function deepFreeze<T>(value: T): T {
  if (typeof value === "object" && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}

function jobFromRow(row: JobRow): JobState {
  const { pipeline, input, params } = definitionOf(row);
  const { createdSeq: _seq, progress: _progress, ...summary } = summaryFromRow(row);
  return { ...summary, pipeline, input, params };
}

function summaryFromRow(row: JobRow): JobSummary {
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
    error: row.error === null ? null : JSON.parse(row.error),
    failedStep: row.failed_step,
    lastSeq: row.last_seq,
    createdSeq: row.seq,
    progress: row.progress,
  };
}
