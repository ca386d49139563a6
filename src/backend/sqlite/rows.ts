import type { JobEvent } from "../../engine/events.js";
import type { JsonValue } from "../../util/json.js";
import type { TaskRecord } from "../backend.js";
import * as shared from "../rows.js";

/** better-sqlite3 returns JSON columns as text. */
export type EventRow = shared.EventRow<string>;

const parse = (text: string): JsonValue => JSON.parse(text) as JsonValue;

/**
 * The tasks table's columns, in the order of `TaskValues`. Statements that return tasks name them instead
 * of `*` and run in raw mode (an array per row): better-sqlite3 builds an object row by setting each of its
 * sixteen keys from C++, which made reading a task by id 3.3 µs where an array and the object below take
 * 1.8 µs (measured in one transaction).
 */
export const taskColumns =
  "id, job_id, step, part, step_type, priority, run_at, attempt, max_attempts, state, " +
  "lease_owner, lease_token, lease_expires_at, input, deadline, created_at";

export type TaskValues = [
  id: number,
  jobId: string,
  step: string,
  part: number | null,
  stepType: string,
  priority: number,
  runAt: number,
  attempt: number,
  maxAttempts: number,
  state: string,
  leaseOwner: string | null,
  leaseToken: number,
  leaseExpiresAt: number | null,
  input: string | null,
  deadline: number | null,
  createdAt: number,
];

export function taskFromValues(values: TaskValues): TaskRecord {
  return shared.taskFromRow<string>(
    {
      id: values[0],
      job_id: values[1],
      step: values[2],
      part: values[3],
      step_type: values[4],
      priority: values[5],
      run_at: values[6],
      attempt: values[7],
      max_attempts: values[8],
      state: values[9],
      lease_owner: values[10],
      lease_token: values[11],
      lease_expires_at: values[12],
      input: values[13],
      deadline: values[14],
      created_at: values[15],
    },
    parse,
  );
}

export const eventFromRow = (row: EventRow): JobEvent => shared.eventFromRow(row, parse);
