import type { UploadStore } from "../backend.js";
import { type UploadRow, uploadFromRow } from "../upload-rows.js";
import type { SqliteDatabase, SqliteWriter } from "./connection.js";

/** Signed uploads: writes through the shared writer, reads on the reader connection. */
export function sqliteUploadStore(
  writerDb: SqliteDatabase,
  writer: SqliteWriter,
  readerDb: SqliteDatabase,
): UploadStore {
  const insert = writerDb.prepare(`INSERT INTO uploads
    (id, tenant, key, filename, content_type, max_bytes, state, created_at, expires_at)
    VALUES (@id, @tenant, @key, @filename, @contentType, @maxBytes, @state, @createdAt, @expiresAt)`);
  const begin = writerDb.prepare(
    "UPDATE uploads SET state = 'receiving' WHERE id = ? AND state = 'pending' AND expires_at > ?",
  );
  const complete = writerDb.prepare(
    "UPDATE uploads SET state = 'completed', bytes = ?, completed_at = ? WHERE id = ?",
  );
  const fail = writerDb.prepare("UPDATE uploads SET state = 'failed' WHERE id = ?");
  const byId = readerDb.prepare("SELECT * FROM uploads WHERE id = ?");
  return {
    insert: (record) => writer.run(async () => void insert.run(record)),
    async get(id) {
      const row = byId.get(id) as UploadRow | undefined;
      return row === undefined ? undefined : uploadFromRow(row);
    },
    begin: (id, now) => writer.run(async () => begin.run(id, now).changes === 1),
    finish: (id, outcome) =>
      writer.run(async () => {
        if (outcome.state === "completed") complete.run(outcome.bytes, outcome.at, id);
        else fail.run(id);
      }),
  };
}
