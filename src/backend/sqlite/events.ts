import type { JobEvent, NewJobEvent } from "../../engine/events.js";
import type { EventQuery } from "../backend.js";
import type { SqliteDatabase } from "./connection.js";
import { type EventRow, eventFromRow } from "./rows.js";

/** The event log's statements. Sequence numbers come from the AUTOINCREMENT key: monotonic, never reused. */
export function eventStatements(db: SqliteDatabase) {
  const insert = db.prepare(`INSERT INTO events (job_id, type, step, part, attempt, worker_id, at, data)
    VALUES (@jobId, @type, @step, @part, @attempt, @workerId, @at, @data) RETURNING seq`);
  const afterForJob = db.prepare("SELECT * FROM events WHERE job_id = ? AND seq > ? ORDER BY seq LIMIT ?");
  const afterAll = db.prepare("SELECT * FROM events WHERE seq > ? ORDER BY seq LIMIT ?");

  return {
    append(events: readonly NewJobEvent[]): JobEvent[] {
      return events.map((event) => {
        const { seq } = insert.get({ ...event, data: JSON.stringify(event.data) }) as { seq: number };
        return { ...event, seq };
      });
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
