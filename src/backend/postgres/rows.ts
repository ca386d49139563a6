import type { JobEvent } from "../../engine/events.js";
import type { JsonValue } from "../../util/json.js";
import type { TaskRecord } from "../backend.js";

/**
 * Column values as pg returns them with this backend's type parsers: BIGINT as number (see connection.ts),
 * JSON already parsed.
 */
export interface TaskRow {
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
  input: JsonValue | null;
  deadline: number | null;
  created_at: number;
}

export function taskFromRow(row: TaskRow): TaskRecord {
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
    input: row.input,
    deadline: row.deadline,
    createdAt: row.created_at,
  };
}

export interface EventRow {
  seq: number;
  job_id: string;
  type: string;
  step: string | null;
  part: number | null;
  attempt: number | null;
  worker_id: string | null;
  at: number;
  data: JsonValue;
}

export function eventFromRow(row: EventRow): JobEvent {
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
    data: row.data,
  } as JobEvent;
}
