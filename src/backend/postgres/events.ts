import type { QueryResult } from "pg";
import type { JobEvent, NewJobEvent } from "../../engine/events.js";
import { type JobProjection, jobProgress } from "../../engine/projection.js";
import { expiresAtOf } from "../../pipeline/retention.js";
import type { EventQuery } from "../backend.js";
import { type PreparedCall, prepared, type Sql } from "./connection.js";
import { type PendingWrites, pendingWritesParameterCount, pendingWritesSql } from "./pending-writes.js";
import { type EventRow, eventFromRow } from "./rows.js";

/**
 * Appends events in order, in one statement.
 *
 * An identity column hands out numbers when rows are inserted, not when they commit: transaction A may
 * take seq 7, transaction B seq 8, and B commit first, so a reader asking for `seq > 6` in between sees 8,
 * moves its cursor past 7 and never sees A's event. Readers follow one job at a time, and for one job that
 * cannot happen: every transaction that appends a job's events holds the job's row lock from before it
 * draws a number until it commits (the engine locks the job before it decides anything; a new job's row
 * is invisible to others until its creation commits), so one job's numbers are drawn, and become
 * visible, in commit order. No lock wider than the job's is needed: transactions on different jobs append
 * side by side.
 */
const at = pendingWritesParameterCount;
const e = (n: number) => `$${at + n}`;
const p = (n: number) => `$${at + 8 + n}`;

// The transaction's pending task writes go first (see pending-writes.ts). After the events comes the
// webhook outbox: the deliveries these events call for are written by the same statement, hence in the
// same transaction, so a crash can lose neither without the other. The delivery id is the event and the
// webhook: stable, unique, the same however often it is retried. Last, the jobs' projections, each with
// the number of its last event here (or the one it had, if it has none here).
const appendStatement = prepared(
  "append_events",
  `WITH ${pendingWritesSql},
   appended AS (
     INSERT INTO events (job_id, type, step, part, attempt, worker_id, at, data)
     SELECT job_id, type, step, part, attempt, worker_id, at, data
     FROM unnest(${e(1)}::text[], ${e(2)}::text[], ${e(3)}::text[], ${e(4)}::int[], ${e(5)}::int[],
       ${e(6)}::text[], ${e(7)}::bigint[], ${e(8)}::json[])
       WITH ORDINALITY AS e (job_id, type, step, part, attempt, worker_id, at, data, ord)
     ORDER BY ord
     RETURNING seq, job_id, type, at),
   outbox AS (
     INSERT INTO webhook_deliveries (id, webhook_id, tenant, url, job_id, event_seq, next_attempt_at, created_at)
     SELECT 'whd_' || a.seq || '_' || w.id, w.id, w.tenant, w.url, a.job_id, a.seq, a.at, a.at
     FROM appended a JOIN job_webhooks w ON w.job_id = a.job_id AND a.type = ANY (w.events)),
   saved_jobs AS (
     UPDATE jobs SET status = p.status, progress = p.progress, started_at = p.started_at,
       finished_at = p.finished_at, error = p.error, failed_step = p.failed_step,
       last_seq = coalesce((SELECT max(a.seq) FROM appended a WHERE a.job_id = p.id), p.last_seq),
       expires_at = p.expires_at, steps = p.steps
     FROM unnest(${p(1)}::text[], ${p(2)}::text[], ${p(3)}::float8[], ${p(4)}::bigint[], ${p(5)}::bigint[],
       ${p(6)}::json[], ${p(7)}::text[], ${p(8)}::bigint[], ${p(9)}::bigint[], ${p(10)}::json[])
       AS p (id, status, progress, started_at, finished_at, error, failed_step, last_seq, expires_at, steps)
     WHERE jobs.id = p.id)
   SELECT seq FROM appended`,
);

/**
 * Appends events and stores projections in one statement, with the pending task writes. `send` runs the
 * statement (with the transaction's COMMIT, when it is the last).
 */
export async function appendEvents(
  send: (call: PreparedCall) => Promise<QueryResult<{ seq: number }>>,
  events: readonly NewJobEvent[],
  projections: readonly JobProjection[],
  pending: PendingWrites,
): Promise<JobEvent[]> {
  const { rows } = await send({
    ...appendStatement,
    values: [
      ...pending.take(Date.now()),
      events.map((e) => e.jobId),
      events.map((e) => e.type),
      events.map((e) => e.step),
      events.map((e) => e.part),
      events.map((e) => e.attempt),
      events.map((e) => e.workerId),
      events.map((e) => e.at),
      events.map((e) => JSON.stringify(e.data)),
      projections.map(({ job }) => job.id),
      projections.map(({ job }) => job.status),
      projections.map((state) => jobProgress(state)),
      projections.map(({ job }) => job.startedAt),
      projections.map(({ job }) => job.finishedAt),
      projections.map(({ job }) => (job.error === null ? null : JSON.stringify(job.error))),
      projections.map(({ job }) => job.failedStep),
      projections.map(({ job }) => job.lastSeq),
      projections.map(({ job }) => expiresAtOf(job)),
      projections.map(({ steps }) => JSON.stringify(steps)),
    ],
  });
  // Rows are numbered in `ord` order; RETURNING promises no order, so the numbers are sorted back.
  const seqs = rows.map((row) => row.seq).sort((a, b) => a - b);
  return events.map((event, index) => {
    const seq = seqs[index];
    if (seq === undefined)
      throw new Error(`${events.length} events were appended but ${rows.length} returned`);
    return { ...event, seq } as JobEvent;
  });
}

export async function readEvents(db: Sql, query: EventQuery): Promise<JobEvent[]> {
  const { rows } =
    query.jobId === undefined
      ? await db.query<EventRow>("SELECT * FROM events WHERE seq > $1 ORDER BY seq LIMIT $2", [
          query.after,
          query.limit,
        ])
      : await db.query<EventRow>(
          "SELECT * FROM events WHERE job_id = $1 AND seq > $2 ORDER BY seq LIMIT $3",
          [query.jobId, query.after, query.limit],
        );
  return rows.map(eventFromRow);
}
