import type { UploadRecord } from "./backend.js";

/** The uploads table's columns, the same in every adapter (PostgreSQL returns BIGINT as text). */
export interface UploadRow {
  id: string;
  tenant: string;
  key: string;
  filename: string;
  content_type: string | null;
  max_bytes: number;
  state: UploadRecord["state"];
  bytes: number | null;
  created_at: number;
  expires_at: number;
  completed_at: number | null;
}

export const uploadFromRow = (row: UploadRow): UploadRecord => ({
  id: row.id,
  tenant: row.tenant,
  key: row.key,
  filename: row.filename,
  contentType: row.content_type,
  maxBytes: Number(row.max_bytes),
  state: row.state,
  bytes: row.bytes === null ? null : Number(row.bytes),
  createdAt: Number(row.created_at),
  expiresAt: Number(row.expires_at),
  completedAt: row.completed_at === null ? null : Number(row.completed_at),
});
