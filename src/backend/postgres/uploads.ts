import type { UploadStore } from "../backend.js";
import { type UploadRow, uploadFromRow } from "../upload-rows.js";
import type { Sql } from "./connection.js";

/** Signed uploads: each operation is one autocommitted statement. */
export function postgresUploadStore(db: Sql): UploadStore {
  return {
    async insert(r) {
      await db.query(
        `INSERT INTO uploads (id, tenant, key, filename, content_type, max_bytes, state, created_at, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
        [r.id, r.tenant, r.key, r.filename, r.contentType, r.maxBytes, r.state, r.createdAt, r.expiresAt],
      );
    },
    async get(id) {
      const { rows } = await db.query<UploadRow>("SELECT * FROM uploads WHERE id = $1", [id]);
      const row = rows[0];
      return row === undefined ? undefined : uploadFromRow(row);
    },
    async begin(id, now) {
      const result = await db.query(
        "UPDATE uploads SET state = 'receiving' WHERE id = $1 AND state = 'pending' AND expires_at > $2",
        [id, now],
      );
      return result.rowCount === 1;
    },
    async finish(id, outcome) {
      if (outcome.state === "completed") {
        await db.query(
          "UPDATE uploads SET state = 'completed', bytes = $1, completed_at = $2 WHERE id = $3",
          [outcome.bytes, outcome.at, id],
        );
      } else {
        await db.query("UPDATE uploads SET state = 'failed' WHERE id = $1", [id]);
      }
    },
  };
}
