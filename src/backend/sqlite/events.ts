import type { JobEvent, NewJobEvent } from "../../engine/events.js";
import type { EventQuery } from "../backend.js";
import type { SqliteDatabase } from "./connection.js";
import { type EventRow, eventFromRow } from "./rows.js";

const columns = "(job_id, type, step, part, attempt, worker_id, at, data)";
const rowPlaceholders = "(?, ?, ?, ?, ?, ?, ?, ?)";

/**
 * The most events one INSERT writes. A batch of results appends a few dozen at once, and one INSERT of
 * many rows cost a quarter less per event than an INSERT per event (measured with 2 to 20 rows). 64 rows
 * are 512 parameters, far below SQLite's limit.
 */
const maxRowsPerInsert = 64;

/**
 * The event log's statements. Sequence numbers come from the AUTOINCREMENT key: monotonic, never reused.
 * The rows of one INSERT get consecutive numbers (each is one above the largest so far), so an append
 * knows its numbers from the last one inserted, without RETURNING.
 */
export function eventStatements(db: SqliteDatabase) {
  const inserts = new Map<number, ReturnType<SqliteDatabase["prepare"]>>();
  const insertOf = (rows: number) => {
    let statement = inserts.get(rows);
    if (statement === undefined) {
      statement = db.prepare(
        `INSERT INTO events ${columns} VALUES ${Array(rows).fill(rowPlaceholders).join(", ")}`,
      );
      inserts.set(rows, statement);
    }
    return statement;
  };
  const afterForJob = db.prepare("SELECT * FROM events WHERE job_id = ? AND seq > ? ORDER BY seq LIMIT ?");
  const afterAll = db.prepare("SELECT * FROM events WHERE seq > ? ORDER BY seq LIMIT ?");

  function appendChunk(events: readonly NewJobEvent[], appended: JobEvent[]): void {
    const values: unknown[] = [];
    for (const event of events) {
      const { jobId, type, step, part, attempt, workerId, at, data } = event;
      values.push(jobId, type, step, part, attempt, workerId, at, JSON.stringify(data));
    }
    const last = Number(insertOf(events.length).run(values).lastInsertRowid);
    const first = last - events.length + 1;
    for (const [index, event] of events.entries()) appended.push({ ...event, seq: first + index });
  }

  return {
    append(events: readonly NewJobEvent[]): JobEvent[] {
      const appended: JobEvent[] = [];
      for (let start = 0; start < events.length; start += maxRowsPerInsert) {
        appendChunk(events.slice(start, start + maxRowsPerInsert), appended);
      }
      return appended;
    },
    read(query: EventQuery): JobEvent[] {
      const rows = (
        query.jobId === undefined
          ? afterAll.all(query.after, query.limit)
          : afterForJob.all(query.jobId, query.after, query.limit)
      ) as EventRow[];
      return rows.map(eventFromRow);
    },
  };
}
