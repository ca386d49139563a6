import type { JobEvent } from "../engine/events.js";
import type { JsonValue } from "../util/json.js";
import type { TaskRecord } from "./backend.js";

/**
 * The tasks and events tables' columns, the same in every adapter but for how a JSON column arrives:
 * text from SQLite, already parsed from PostgreSQL. `Json` is that column type.
 */
export interface TaskRow<Json> {
  id: number;
  job_id: string;
  step: string;
  part: number | null;
  step_type: string;
  priority: number;
  run_at: number;
  attempt: number;
  max_attempts: number;
  state: string;
  lease_owner: string | null;
  lease_token: number;
  lease_expires_at: number | null;
  input: Json | null;
  deadline: number | null;
  created_at: number;
}

export interface EventRow<Json> {
  seq: number;
  job_id: string;
  type: string;
  step: string | null;
  part: number | null;
  attempt: number | null;
  worker_id: string | null;
  at: number;
  data: Json;
}

export function taskFromRow<Json>(row: TaskRow<Json>, decode: (value: Json) => JsonValue): TaskRecord {
  return {
    id: row.id,
    jobId: row.job_id,
    step: row.step,
    part: row.part,
    stepType: row.step_type,
    priority: row.priority,
    runAt: row.run_at,
    attempt: row.attempt,
    maxAttempts: row.max_attempts,
    state: row.state === "running" ? "running" : "queued",
    leaseOwner: row.lease_owner,
    leaseToken: row.lease_token,
    leaseExpiresAt: row.lease_expires_at,
    input: row.input === null ? null : decode(row.input),
    deadline: row.deadline,
    createdAt: row.created_at,
  };
}

export function eventFromRow<Json>(row: EventRow<Json>, decode: (value: Json) => JsonValue): JobEvent {
  // The type column is written only from NewJobEvent values, so the pairing of type and data holds.
  return {
    seq: row.seq,
    type: row.type,
    jobId: row.job_id,
    step: row.step,
    part: row.part,
    attempt: row.attempt,
    workerId: row.worker_id,
    at: row.at,
    data: decode(row.data),
  } as JobEvent;
}

/** The sequence number of the last of `events` that belongs to the job. */
export function lastSeqOf(events: readonly JobEvent[], jobId: string): number | undefined {
  for (let index = events.length - 1; index >= 0; index--) {
    const event = events[index];
    if (event?.jobId === jobId) return event.seq;
  }
  return undefined;
}
