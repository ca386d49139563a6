import { createHash, randomBytes } from "node:crypto";
import type { ApiKeyRecord, ApiKeyStore } from "../backend/backend.js";
import type { Authenticate } from "./api-dependencies.js";

const keyPattern = /^mf_([a-z0-9]{8})_([A-Za-z0-9_-]{32,64})$/;

/** Keys are 192 random bits: a fast hash is enough, as nobody can search that space. */
export function hashApiKey(key: string): string {
  return createHash("sha256").update(key).digest("hex");
}

/** Makes a key for a tenant; the key itself is returned once and never stored. */
export async function createApiKey(
  store: ApiKeyStore,
  tenant: string,
  name: string | null = null,
): Promise<{ key: string; record: ApiKeyRecord }> {
  const id = randomBytes(5).toString("hex").slice(0, 8);
  const key = `mf_${id}_${randomBytes(24).toString("base64url")}`;
  const record: ApiKeyRecord = { id, tenant, name, createdAt: Date.now(), revokedAt: null };
  await store.insert({ ...record, hash: hashApiKey(key) });
  return { key, record };
}

export function apiKeyAuthenticator(store: ApiKeyStore): Authenticate {
  return async (token) => {
    if (!keyPattern.test(token)) return undefined;
    const record = await store.findByHash(hashApiKey(token));
    if (record === undefined || record.revokedAt !== null) return undefined;
    return { tenant: record.tenant, keyId: record.id };
  };
}

export const tenantPattern = /^[a-z0-9][a-z0-9_-]{0,62}$/;
