import type { JobEvent } from "../../engine/events.js";
import type { JsonValue } from "../../util/json.js";
import type { TaskRecord } from "../backend.js";
import * as shared from "../rows.js";

/** pg returns JSON columns parsed, and BIGINT as number with this backend's type parsers (connection.ts). */
export type TaskRow = shared.TaskRow<JsonValue>;
export type EventRow = shared.EventRow<JsonValue>;

const asIs = (value: JsonValue): JsonValue => value;

export const taskFromRow = (row: TaskRow): TaskRecord => shared.taskFromRow(row, asIs);
export const eventFromRow = (row: EventRow): JobEvent => shared.eventFromRow(row, asIs);
