import type { JobExpiry, RetentionStore } from "../backend.js";
import type { SqliteDatabase, SqliteWriter } from "./connection.js";

/** The retention sweeper's statements; each write is its own transaction through the shared writer. */
export function sqliteRetentionStore(
  writerDb: SqliteDatabase,
  writer: SqliteWriter,
  readerDb: SqliteDatabase,
): RetentionStore {
  // The single writer holds the whole database for the statement: no other sweeper can interleave.
  const claim = writerDb.prepare(`UPDATE jobs SET expiry_held_until = @holdUntil
    WHERE id IN (SELECT id FROM jobs
                 WHERE expires_at IS NOT NULL AND expired_at IS NULL AND expires_at <= @now
                   AND (expiry_held_until IS NULL OR expiry_held_until <= @now)
                 ORDER BY expires_at LIMIT @limit)
    RETURNING id, expires_at`);
  const mark = writerDb.prepare(`UPDATE jobs SET expired_at = @at, expiry_held_until = NULL
    WHERE id = @jobId AND expired_at IS NULL AND expires_at IS NOT NULL AND expires_at <= @at`);
  const expiryOf = readerDb.prepare("SELECT expires_at, expired_at FROM jobs WHERE id = ?");

  return {
    claimExpired: (request) =>
      writer.run(async () => {
        const rows = claim.all({
          now: request.now,
          limit: request.limit,
          holdUntil: request.now + request.leaseMs,
        }) as { id: string; expires_at: number }[];
        // RETURNING gives no order of its own.
        return rows.sort((a, b) => a.expires_at - b.expires_at).map((row) => row.id);
      }),
    markExpired: (jobId, at) => writer.run(async () => mark.run({ jobId, at }).changes === 1),
    async expiryOf(jobId): Promise<JobExpiry | undefined> {
      const row = expiryOf.get(jobId) as { expires_at: number | null; expired_at: number | null } | undefined;
      return row === undefined ? undefined : { expiresAt: row.expires_at, expiredAt: row.expired_at };
    },
  };
}
