import type { RetentionStore } from "../backend.js";
import type { Sql } from "./connection.js";

/**
 * The retention sweeper's statements, each one autocommitted statement. The claim locks the jobs it picks
 * and skips those another sweeper (or a job change) holds, so sweepers never wait for one another nor
 * take the same job.
 */
export function postgresRetentionStore(db: Sql): RetentionStore {
  return {
    async claimExpired(request) {
      const { rows } = await db.query<{ id: string; expires_at: number }>(
        `UPDATE jobs SET expiry_held_until = $1
         WHERE id IN (SELECT id FROM jobs
                      WHERE expires_at IS NOT NULL AND expired_at IS NULL AND expires_at <= $2
                        AND (expiry_held_until IS NULL OR expiry_held_until <= $2)
                      ORDER BY expires_at LIMIT $3
                      FOR UPDATE SKIP LOCKED)
         RETURNING id, expires_at`,
        [request.now + request.leaseMs, request.now, request.limit],
      );
      // RETURNING gives no order of its own.
      return rows.sort((a, b) => a.expires_at - b.expires_at).map((row) => row.id);
    },
    async markExpired(jobId, at) {
      const result = await db.query(
        `UPDATE jobs SET expired_at = $2, expiry_held_until = NULL
         WHERE id = $1 AND expired_at IS NULL AND expires_at IS NOT NULL AND expires_at <= $2`,
        [jobId, at],
      );
      return result.rowCount === 1;
    },
    async expiryOf(jobId) {
      const { rows } = await db.query<{ expires_at: number | null; expired_at: number | null }>(
        "SELECT expires_at, expired_at FROM jobs WHERE id = $1",
        [jobId],
      );
      const row = rows[0];
      return row === undefined ? undefined : { expiresAt: row.expires_at, expiredAt: row.expired_at };
    },
  };
}
