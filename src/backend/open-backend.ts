import { fileURLToPath } from "node:url";
import { ErrorCodes, PermanentError } from "../errors/errors.js";
import type { Backend } from "./backend.js";
import { openPostgresBackend } from "./postgres/postgres-backend.js";
import { openSqliteBackend } from "./sqlite/sqlite-backend.js";

/**
 * `postgres://…?schema=NAME` keeps mediaflow's tables in that schema (default `public`), so several
 * installations can share one database. The parameter is mediaflow's, not the driver's, and is removed.
 */
function openPostgres(url: string): Promise<Backend> {
  const parsed = new URL(url);
  const schema = parsed.searchParams.get("schema");
  if (schema === null) return openPostgresBackend(url);
  parsed.searchParams.delete("schema");
  return openPostgresBackend(parsed.toString(), { schema });
}

/**
 * Opens the backend a database URL names: a file path or `sqlite:` URL (embedded), or `postgres://`.
 */
export async function openBackend(url: string): Promise<Backend> {
  if (/^postgres(ql)?:\/\//.test(url)) return openPostgres(url);
  if (url.startsWith("file:")) return openSqliteBackend(fileURLToPath(url));
  if (url.startsWith("sqlite:"))
    return openSqliteBackend(url.slice("sqlite:".length).replace(/^\/\/(?=\/)/, ""));
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(url)) {
    throw new PermanentError(
      ErrorCodes.invalidArgument,
      `unsupported database URL ${JSON.stringify(url)}: use a SQLite file path, sqlite:PATH or postgres://`,
    );
  }
  return openSqliteBackend(url);
}
