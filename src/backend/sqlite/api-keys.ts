import type { ApiKeyRecord, ApiKeyStore } from "../backend.js";
import type { SqliteDatabase, SqliteWriter } from "./connection.js";

interface ApiKeyRow {
  id: string;
  tenant: string;
  name: string | null;
  created_at: number;
  revoked_at: number | null;
}

const fromRow = (row: ApiKeyRow): ApiKeyRecord => ({
  id: row.id,
  tenant: row.tenant,
  name: row.name,
  createdAt: row.created_at,
  revokedAt: row.revoked_at,
});

/** API keys: writes through the shared writer, reads on the reader connection. */
export function sqliteApiKeyStore(
  writerDb: SqliteDatabase,
  writer: SqliteWriter,
  readerDb: SqliteDatabase,
): ApiKeyStore {
  const insert = writerDb.prepare(
    "INSERT INTO api_keys (id, tenant, name, hash, created_at) VALUES (@id, @tenant, @name, @hash, @createdAt)",
  );
  const revoke = writerDb.prepare("UPDATE api_keys SET revoked_at = coalesce(revoked_at, ?) WHERE id = ?");
  const byHash = readerDb.prepare(
    "SELECT id, tenant, name, created_at, revoked_at FROM api_keys WHERE hash = ?",
  );
  const all = readerDb.prepare(
    "SELECT id, tenant, name, created_at, revoked_at FROM api_keys ORDER BY created_at, id",
  );
  const ofTenant = readerDb.prepare(
    "SELECT id, tenant, name, created_at, revoked_at FROM api_keys WHERE tenant = ? ORDER BY created_at, id",
  );
  return {
    insert: (record) => writer.run(async () => void insert.run(record)),
    async findByHash(hash) {
      const row = byHash.get(hash) as ApiKeyRow | undefined;
      return row === undefined ? undefined : fromRow(row);
    },
    async list(tenant) {
      const rows = (tenant === undefined ? all.all() : ofTenant.all(tenant)) as ApiKeyRow[];
      return rows.map(fromRow);
    },
    revoke: (id, at) => writer.run(async () => revoke.run(at, id).changes === 1),
  };
}
