import type { JobEvent } from "../../engine/events.js";
import type { JsonValue } from "../../util/json.js";
import type { TaskRecord } from "../backend.js";
import * as shared from "../rows.js";

/** better-sqlite3 returns JSON columns as text. */
export type TaskRow = shared.TaskRow<string>;
export type EventRow = shared.EventRow<string>;

const parse = (text: string): JsonValue => JSON.parse(text) as JsonValue;

export const taskFromRow = (row: TaskRow): TaskRecord => shared.taskFromRow(row, parse);
export const eventFromRow = (row: EventRow): JobEvent => shared.eventFromRow(row, parse);
