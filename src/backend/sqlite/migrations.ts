/**
 * The SQLite schema, as numbered migrations. Append only: a migration that has been released is never
 * edited; a change is a new migration. schema.sql beside this file is the schema they produce, checked by
 * a test, so a change to the schema shows up in review.
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
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        id TEXT NOT NULL UNIQUE,
        tenant TEXT NOT NULL,
        idempotency_key TEXT,
        pipeline_name TEXT NOT NULL,
        priority INTEGER NOT NULL,
        definition TEXT NOT NULL,
        status TEXT NOT NULL,
        progress REAL NOT NULL DEFAULT 0,
        created_at INTEGER NOT NULL,
        started_at INTEGER,
        finished_at INTEGER,
        error TEXT,
        failed_step TEXT,
        last_seq INTEGER NOT NULL DEFAULT 0
      );
      CREATE UNIQUE INDEX jobs_idempotency_key ON jobs (tenant, idempotency_key)
        WHERE idempotency_key IS NOT NULL;
      CREATE INDEX jobs_by_tenant ON jobs (tenant, seq DESC);
      CREATE INDEX jobs_by_status ON jobs (tenant, status, seq DESC);

      CREATE TABLE steps (
        job_id TEXT NOT NULL,
        name TEXT NOT NULL,
        status TEXT NOT NULL,
        state TEXT NOT NULL,
        PRIMARY KEY (job_id, name)
      ) WITHOUT ROWID;

      CREATE TABLE tasks (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        job_id TEXT NOT NULL,
        step TEXT NOT NULL,
        part INTEGER,
        step_type TEXT NOT NULL,
        priority INTEGER NOT NULL,
        run_at INTEGER NOT NULL,
        attempt INTEGER NOT NULL DEFAULT 0,
        max_attempts INTEGER NOT NULL,
        state TEXT NOT NULL DEFAULT 'queued',
        lease_owner TEXT,
        lease_token INTEGER NOT NULL DEFAULT 0,
        lease_expires_at INTEGER,
        input TEXT,
        deadline INTEGER,
        created_at INTEGER NOT NULL
      );
      CREATE INDEX tasks_runnable ON tasks (state, priority DESC, run_at, id);
      CREATE INDEX tasks_by_lease ON tasks (state, lease_expires_at);
      CREATE INDEX tasks_by_job ON tasks (job_id);

      CREATE TABLE events (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        job_id TEXT NOT NULL,
        type TEXT NOT NULL,
        step TEXT,
        part INTEGER,
        attempt INTEGER,
        worker_id TEXT,
        at INTEGER NOT NULL,
        data TEXT NOT NULL
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
        created_at INTEGER NOT NULL,
        revoked_at INTEGER
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
        max_bytes INTEGER NOT NULL,
        state TEXT NOT NULL DEFAULT 'pending',
        bytes INTEGER,
        created_at INTEGER NOT NULL,
        expires_at INTEGER NOT NULL,
        completed_at INTEGER
      );
      CREATE INDEX uploads_by_tenant ON uploads (tenant, created_at);
    `,
  },
  {
    version: 4,
    name: "webhook outbox",
    sql: `
      CREATE TABLE job_webhooks (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        job_id TEXT NOT NULL,
        tenant TEXT NOT NULL,
        url TEXT NOT NULL,
        events TEXT NOT NULL
      );
      CREATE INDEX job_webhooks_by_job ON job_webhooks (job_id);

      CREATE TABLE webhook_deliveries (
        id TEXT PRIMARY KEY,
        webhook_id INTEGER NOT NULL,
        tenant TEXT NOT NULL,
        url TEXT NOT NULL,
        job_id TEXT NOT NULL,
        event_seq INTEGER NOT NULL,
        state TEXT NOT NULL DEFAULT 'pending',
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_at INTEGER NOT NULL,
        lease_owner TEXT,
        lease_token INTEGER NOT NULL DEFAULT 0,
        last_error TEXT,
        last_status INTEGER,
        created_at INTEGER NOT NULL,
        finished_at INTEGER
      );
      CREATE INDEX webhook_deliveries_due ON webhook_deliveries (state, next_attempt_at);
      CREATE INDEX webhook_deliveries_by_job ON webhook_deliveries (job_id, event_seq);

      CREATE TABLE webhook_secrets (
        tenant TEXT PRIMARY KEY,
        secret TEXT NOT NULL,
        created_at INTEGER NOT NULL
      );

      CREATE TABLE tenant_webhooks (
        tenant TEXT PRIMARY KEY,
        url TEXT NOT NULL,
        events TEXT NOT NULL,
        updated_at INTEGER NOT NULL
      );
    `,
  },
  {
    version: 5,
    name: "job retention",
    sql: `
      -- expires_at: when a finished job's retention ends (finished_at + its pipeline's retention), null while
      -- it runs. expired_at: when its files were deleted. expiry_held_until: a sweeper's claim on it.
      ALTER TABLE jobs ADD COLUMN expires_at INTEGER;
      ALTER TABLE jobs ADD COLUMN expired_at INTEGER;
      ALTER TABLE jobs ADD COLUMN expiry_held_until INTEGER;
      CREATE INDEX jobs_expiring ON jobs (expires_at) WHERE expires_at IS NOT NULL AND expired_at IS NULL;
      -- Jobs finished before retention existed: their pipelines had none, so they get the default week.
      UPDATE jobs SET expires_at = finished_at + 604800000 WHERE finished_at IS NOT NULL;
    `,
  },
  {
    version: 6,
    name: "steps in the job's row, task indexes of queued and running tasks only",
    sql: `
      -- A job's steps are read and written with its row, always all together: one statement per change
      -- instead of one per step, and the pages of one table instead of two to write back.
      ALTER TABLE jobs ADD COLUMN steps TEXT NOT NULL DEFAULT '{}';
      UPDATE jobs SET steps = coalesce(
        (SELECT json_group_object(name, json(state)) FROM steps WHERE steps.job_id = jobs.id), '{}');
      DROP TABLE steps;
      -- Claims read only queued tasks and the lease sweep only running ones: with each index holding just
      -- those, a claim removes a task from one index and adds it to the other, and a result removes it
      -- from one, where both indexes used to change at every step.
      DROP INDEX tasks_runnable;
      DROP INDEX tasks_by_lease;
      CREATE INDEX tasks_queued ON tasks (priority DESC, run_at, id) WHERE state = 'queued';
      CREATE INDEX tasks_leased ON tasks (lease_expires_at) WHERE state = 'running';
    `,
  },
];
