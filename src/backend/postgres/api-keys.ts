import type { ApiKeyRecord, ApiKeyStore } from "../backend.js";
import type { Sql } from "./connection.js";

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

const columns = "id, tenant, name, created_at, revoked_at";

/** API keys: each operation is one autocommitted statement, so none needs a transaction of its own. */
export function postgresApiKeyStore(db: Sql): ApiKeyStore {
  return {
    async insert(record) {
      await db.query(
        "INSERT INTO api_keys (id, tenant, name, hash, created_at) VALUES ($1, $2, $3, $4, $5)",
        [record.id, record.tenant, record.name, record.hash, record.createdAt],
      );
    },
    async findByHash(hash) {
      const { rows } = await db.query<ApiKeyRow>(`SELECT ${columns} FROM api_keys WHERE hash = $1`, [hash]);
      const row = rows[0];
      return row === undefined ? undefined : fromRow(row);
    },
    async list(tenant) {
      const { rows } =
        tenant === undefined
          ? await db.query<ApiKeyRow>(`SELECT ${columns} FROM api_keys ORDER BY created_at, id`)
          : await db.query<ApiKeyRow>(
              `SELECT ${columns} FROM api_keys WHERE tenant = $1 ORDER BY created_at, id`,
              [tenant],
            );
      return rows.map(fromRow);
    },
    async revoke(id, at) {
      const result = await db.query(
        "UPDATE api_keys SET revoked_at = coalesce(revoked_at, $1) WHERE id = $2",
        [at, id],
      );
      return result.rowCount === 1;
    },
  };
}
