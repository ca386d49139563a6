import pg from "pg";

/** The server the PostgreSQL figures are measured on: the benchmark's own variable first, then the tests'. */
export function benchPostgresUrl(env: NodeJS.ProcessEnv): string {
  return (
    env.MEDIAFLOW_BENCH_POSTGRES_URL ||
    env.MEDIAFLOW_TEST_POSTGRES_URL ||
    "postgres://postgres@127.0.0.1:5432/test"
  );
}

/** A local server answers in milliseconds; three seconds means it is not there. */
const connectTimeoutMs = 3_000;

/** Resolves to undefined when the server answers a query, or to the reason it did not. */
export async function postgresUnavailableReason(url: string): Promise<string | undefined> {
  try {
    await withClient(url, (client) => client.query("SELECT 1"));
    return undefined;
  } catch (error) {
    return error instanceof Error ? error.message || error.name : String(error);
  }
}

let schemas = 0;

/**
 * A schema name no other run uses: the process id and a counter, so that two benchmark runs on one
 * server never share tables, and a schema left by an interrupted run says which run left it.
 */
export function freshSchemaName(prefix: string): string {
  return `${prefix}_${process.pid}_${Date.now().toString(36)}_${++schemas}`;
}

/** The URL with mediaflow's `?schema=` parameter, which src/backend/open-backend.ts understands. */
export function urlWithSchema(url: string, schema: string): string {
  const parsed = new URL(url);
  parsed.searchParams.set("schema", schema);
  return parsed.toString();
}

export async function dropSchema(url: string, schema: string): Promise<void> {
  await withClient(url, (client) => client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`));
}

/** The server's version and the settings that decide when a commit is acknowledged. */
export async function describePostgres(url: string): Promise<string> {
  return withClient(url, async (client) => {
    const { rows } = await client.query<{ version: string; synchronous_commit: string; fsync: string }>(
      "SELECT current_setting('server_version') AS version, current_setting('synchronous_commit') AS synchronous_commit, current_setting('fsync') AS fsync",
    );
    const row = rows[0];
    if (row === undefined) return "PostgreSQL ?";
    const { hostname, port } = new URL(url);
    return `PostgreSQL ${row.version} at ${hostname}:${port || 5432}, synchronous_commit=${row.synchronous_commit}, fsync=${row.fsync}`;
  });
}

async function withClient<T>(url: string, use: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: connectTimeoutMs });
  await client.connect();
  try {
    return await use(client);
  } finally {
    await client.end();
  }
}
