import type pg from "pg";
import { ErrorCodes, PermanentError } from "../../errors/errors.js";
import { lockPurposes, runTransaction, schemaLockKey } from "./connection.js";

/**
 * The PostgreSQL schema, as numbered migrations. Append only: a migration that has been released is never
 * edited; a change is a new migration. schema.sql beside this file is the schema they produce, checked by
 * a test, so a change to the schema shows up in review.
 *
 * The tables and columns are SQLite's, but for one: a job's steps live in its row (migration 6), so that
 * locking a job reads its whole projection in one statement. JSON documents are `json`, not `jsonb`: jsonb reorders object keys,
 * and the order of a pipeline's steps is meaningful (it is the order every reader shows them in); nothing
 * queries inside these documents, so jsonb's indexing would buy nothing.
 */
export interface Migration {
  version: number;
  name: string;
  sql: string;
}

export const migrations: readonly Migration[] = [
  {
    version: 1,
    name: "jobs, steps, tasks and the event log",
    sql: `
      CREATE TABLE jobs (
        -- GENERATED ALWAYS: nothing may write a sequence number of its own, or list cursors would break.
        seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        id TEXT NOT NULL UNIQUE,
        tenant TEXT NOT NULL,
        idempotency_key TEXT,
        pipeline_name TEXT NOT NULL,
        priority INTEGER NOT NULL,
        definition JSON NOT NULL,
        status TEXT NOT NULL,
        progress DOUBLE PRECISION NOT NULL DEFAULT 0,
        created_at BIGINT NOT NULL,
        started_at BIGINT,
        finished_at BIGINT,
        error JSON,
        failed_step TEXT,
        last_seq BIGINT NOT NULL DEFAULT 0
      );
      CREATE UNIQUE INDEX jobs_idempotency_key ON jobs (tenant, idempotency_key)
        WHERE idempotency_key IS NOT NULL;
      CREATE INDEX jobs_by_tenant ON jobs (tenant, seq DESC);
      CREATE INDEX jobs_by_status ON jobs (tenant, status, seq DESC);

      CREATE TABLE steps (
        job_id TEXT NOT NULL,
        name TEXT NOT NULL,
        status TEXT NOT NULL,
        state JSON NOT NULL,
        PRIMARY KEY (job_id, name)
      );

      CREATE TABLE tasks (
        id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        job_id TEXT NOT NULL,
        step TEXT NOT NULL,
        part INTEGER,
        step_type TEXT NOT NULL,
        priority INTEGER NOT NULL,
        run_at BIGINT NOT NULL,
        attempt INTEGER NOT NULL DEFAULT 0,
        max_attempts INTEGER NOT NULL,
        state TEXT NOT NULL DEFAULT 'queued',
        lease_owner TEXT,
        lease_token BIGINT NOT NULL DEFAULT 0,
        lease_expires_at BIGINT,
        input JSON,
        deadline BIGINT,
        created_at BIGINT NOT NULL
      );
      -- Partial: the claim only ever looks at queued tasks, and running ones are updated often.
      CREATE INDEX tasks_runnable ON tasks (priority DESC, run_at, id) WHERE state = 'queued';
      CREATE INDEX tasks_by_lease ON tasks (lease_expires_at) WHERE state = 'running';
      CREATE INDEX tasks_by_job ON tasks (job_id);

      CREATE TABLE events (
        seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        job_id TEXT NOT NULL,
        type TEXT NOT NULL,
        step TEXT,
        part INTEGER,
        attempt INTEGER,
        worker_id TEXT,
        at BIGINT NOT NULL,
        data JSON NOT NULL
      );
      CREATE INDEX events_by_job ON events (job_id, seq);
    `,
  },
  {
    version: 2,
    name: "API keys",
    sql: `
      CREATE TABLE api_keys (
        id TEXT PRIMARY KEY,
        tenant TEXT NOT NULL,
        name TEXT,
        hash TEXT NOT NULL UNIQUE,
        created_at BIGINT NOT NULL,
        revoked_at BIGINT
      );
      CREATE INDEX api_keys_by_tenant ON api_keys (tenant);
    `,
  },
  {
    version: 3,
    name: "signed uploads",
    sql: `
      CREATE TABLE uploads (
        id TEXT PRIMARY KEY,
        tenant TEXT NOT NULL,
        key TEXT NOT NULL,
        filename TEXT NOT NULL,
        content_type TEXT,
        max_bytes BIGINT NOT NULL,
        state TEXT NOT NULL DEFAULT 'pending',
        bytes BIGINT,
        created_at BIGINT NOT NULL,
        expires_at BIGINT NOT NULL,
        completed_at BIGINT
      );
      CREATE INDEX uploads_by_tenant ON uploads (tenant, created_at);
    `,
  },
  {
    version: 4,
    name: "webhook outbox",
    sql: `
      CREATE TABLE job_webhooks (
        id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        job_id TEXT NOT NULL,
        tenant TEXT NOT NULL,
        url TEXT NOT NULL,
        events TEXT[] NOT NULL
      );
      CREATE INDEX job_webhooks_by_job ON job_webhooks (job_id);

      CREATE TABLE webhook_deliveries (
        id TEXT PRIMARY KEY,
        webhook_id BIGINT NOT NULL,
        tenant TEXT NOT NULL,
        url TEXT NOT NULL,
        job_id TEXT NOT NULL,
        event_seq BIGINT NOT NULL,
        state TEXT NOT NULL DEFAULT 'pending',
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_at BIGINT NOT NULL,
        lease_owner TEXT,
        lease_token BIGINT NOT NULL DEFAULT 0,
        last_error TEXT,
        last_status INTEGER,
        created_at BIGINT NOT NULL,
        finished_at BIGINT
      );
      -- Partial: the claim only looks at pending deliveries; delivered and dead ones pile up.
      CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE state = 'pending';
      CREATE INDEX webhook_deliveries_by_job ON webhook_deliveries (job_id, event_seq);

      CREATE TABLE webhook_secrets (
        tenant TEXT PRIMARY KEY,
        secret TEXT NOT NULL,
        created_at BIGINT NOT NULL
      );

      CREATE TABLE tenant_webhooks (
        tenant TEXT PRIMARY KEY,
        url TEXT NOT NULL,
        events TEXT[] NOT NULL,
        updated_at BIGINT NOT NULL
      );
    `,
  },
  {
    version: 5,
    name: "job retention",
    sql: `
      -- expires_at: when a finished job's retention ends (finished_at + its pipeline's retention), null while
      -- it runs. expired_at: when its files were deleted. expiry_held_until: a sweeper's claim on it.
      ALTER TABLE jobs ADD COLUMN expires_at BIGINT;
      ALTER TABLE jobs ADD COLUMN expired_at BIGINT;
      ALTER TABLE jobs ADD COLUMN expiry_held_until BIGINT;
      -- Partial: the sweeper only looks at finished jobs not yet expired; the rest never enter the index.
      CREATE INDEX jobs_expiring ON jobs (expires_at) WHERE expires_at IS NOT NULL AND expired_at IS NULL;
      -- Jobs finished before retention existed: their pipelines had none, so they get the default week.
      UPDATE jobs SET expires_at = finished_at + 604800000 WHERE finished_at IS NOT NULL;
    `,
  },
  {
    version: 6,
    name: "steps in the job row",
    sql: `
      -- A job and its steps were two sets of rows; locking a job then took two statements, because a SELECT
      -- that waited for the row lock reads other tables from the snapshot it took before waiting. In the
      -- job's own row they are read with the lock, current, in one round trip. An object keyed by step name.
      ALTER TABLE jobs ADD COLUMN steps JSON NOT NULL DEFAULT '{}';
      UPDATE jobs SET steps = s.steps
        FROM (SELECT job_id, json_object_agg(name, state) AS steps FROM steps GROUP BY job_id) s
        WHERE s.job_id = jobs.id;
      DROP TABLE steps;
    `,
  },
];

/**
 * Creates the schema if needed and applies the migrations this build knows and has not applied yet, in one
 * transaction under an advisory lock, so that two processes starting at once do not both apply one (the
 * second waits, then finds nothing left to do). Refuses a schema migrated by a newer build.
 */
export async function migrate(
  pool: pg.Pool,
  schema: string,
  known: readonly Migration[] = migrations,
): Promise<void> {
  await runTransaction(pool, async ({ client }) => {
    await client.query("SELECT pg_advisory_xact_lock($1, $2)", [lockPurposes.migrate, schemaLockKey(schema)]);
    // Checked first rather than CREATE SCHEMA IF NOT EXISTS, which needs the CREATE privilege on the
    // database even when the schema exists. The name was checked to be a plain identifier.
    const exists = await client.query("SELECT 1 FROM pg_namespace WHERE nspname = $1", [schema]);
    if (exists.rowCount === 0) await client.query(`CREATE SCHEMA ${schema}`);
    await client.query(`CREATE TABLE IF NOT EXISTS mediaflow_migrations (
      version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)`);
    const { rows } = await client.query<{ version: number | null }>(
      "SELECT max(version) AS version FROM mediaflow_migrations",
    );
    const current = rows[0]?.version ?? 0;
    const latest = known.at(-1)?.version ?? 0;
    if (current > latest) {
      throw new PermanentError(
        ErrorCodes.schemaTooNew,
        `the database schema ${schema} is at version ${current}, newer than this mediaflow knows (${latest}); upgrade mediaflow`,
      );
    }
    for (const migration of known) {
      if (migration.version <= current) continue;
      await client.query(migration.sql);
      await client.query("INSERT INTO mediaflow_migrations (version, name, applied_at) VALUES ($1, $2, $3)", [
        migration.version,
        migration.name,
        Date.now(),
      ]);
    }
  });
}
