TABLE api_keys
  id text NOT NULL
  tenant text NOT NULL
  name text
  hash text NOT NULL
  created_at bigint NOT NULL
  revoked_at bigint
TABLE events
  seq bigint NOT NULL GENERATED ALWAYS AS IDENTITY
  job_id text NOT NULL
  type text NOT NULL
  step text
  part integer
  attempt integer
  worker_id text
  at bigint NOT NULL
  data json NOT NULL
TABLE job_webhooks
  id bigint NOT NULL GENERATED ALWAYS AS IDENTITY
  job_id text NOT NULL
  tenant text NOT NULL
  url text NOT NULL
  events ARRAY NOT NULL
TABLE jobs
  seq bigint NOT NULL GENERATED ALWAYS AS IDENTITY
  id text NOT NULL
  tenant text NOT NULL
  idempotency_key text
  pipeline_name text NOT NULL
  priority integer NOT NULL
  definition json NOT NULL
  status text NOT NULL
  progress double precision NOT NULL DEFAULT 0
  created_at bigint NOT NULL
  started_at bigint
  finished_at bigint
  error json
  failed_step text
  last_seq bigint NOT NULL DEFAULT 0
  expires_at bigint
  expired_at bigint
  expiry_held_until bigint
  steps json NOT NULL DEFAULT '{}'::json
TABLE mediaflow_migrations
  version integer NOT NULL
  name text NOT NULL
  applied_at bigint NOT NULL
TABLE tasks
  id bigint NOT NULL GENERATED ALWAYS AS IDENTITY
  job_id text NOT NULL
  step text NOT NULL
  part integer
  step_type text NOT NULL
  priority integer NOT NULL
  run_at bigint NOT NULL
  attempt integer NOT NULL DEFAULT 0
  max_attempts integer NOT NULL
  state text NOT NULL DEFAULT 'queued'::text
  lease_owner text
  lease_token bigint NOT NULL DEFAULT 0
  lease_expires_at bigint
  input json
  deadline bigint
  created_at bigint NOT NULL
TABLE tenant_webhooks
  tenant text NOT NULL
  url text NOT NULL
  events ARRAY NOT NULL
  updated_at bigint NOT NULL
TABLE uploads
  id text NOT NULL
  tenant text NOT NULL
  key text NOT NULL
  filename text NOT NULL
  content_type text
  max_bytes bigint NOT NULL
  state text NOT NULL DEFAULT 'pending'::text
  bytes bigint
  created_at bigint NOT NULL
  expires_at bigint NOT NULL
  completed_at bigint
TABLE webhook_deliveries
  id text NOT NULL
  webhook_id bigint NOT NULL
  tenant text NOT NULL
  url text NOT NULL
  job_id text NOT NULL
  event_seq bigint NOT NULL
  state text NOT NULL DEFAULT 'pending'::text
  attempts integer NOT NULL DEFAULT 0
  next_attempt_at bigint NOT NULL
  lease_owner text
  lease_token bigint NOT NULL DEFAULT 0
  last_error text
  last_status integer
  created_at bigint NOT NULL
  finished_at bigint
TABLE webhook_secrets
  tenant text NOT NULL
  secret text NOT NULL
  created_at bigint NOT NULL
CREATE INDEX api_keys_by_tenant ON api_keys USING btree (tenant);
CREATE UNIQUE INDEX api_keys_hash_key ON api_keys USING btree (hash);
CREATE UNIQUE INDEX api_keys_pkey ON api_keys USING btree (id);
CREATE INDEX events_by_job ON events USING btree (job_id, seq);
CREATE UNIQUE INDEX events_pkey ON events USING btree (seq);
CREATE INDEX job_webhooks_by_job ON job_webhooks USING btree (job_id);
CREATE UNIQUE INDEX job_webhooks_pkey ON job_webhooks USING btree (id);
CREATE INDEX jobs_by_status ON jobs USING btree (tenant, status, seq DESC);
CREATE INDEX jobs_by_tenant ON jobs USING btree (tenant, seq DESC);
CREATE INDEX jobs_expiring ON jobs USING btree (expires_at) WHERE ((expires_at IS NOT NULL) AND (expired_at IS NULL));
CREATE UNIQUE INDEX jobs_id_key ON jobs USING btree (id);
CREATE UNIQUE INDEX jobs_idempotency_key ON jobs USING btree (tenant, idempotency_key) WHERE (idempotency_key IS NOT NULL);
CREATE UNIQUE INDEX jobs_pkey ON jobs USING btree (seq);
CREATE UNIQUE INDEX mediaflow_migrations_pkey ON mediaflow_migrations USING btree (version);
CREATE INDEX tasks_by_job ON tasks USING btree (job_id);
CREATE INDEX tasks_by_lease ON tasks USING btree (lease_expires_at) WHERE (state = 'running'::text);
CREATE UNIQUE INDEX tasks_pkey ON tasks USING btree (id);
CREATE INDEX tasks_runnable ON tasks USING btree (priority DESC, run_at, id) WHERE (state = 'queued'::text);
CREATE UNIQUE INDEX tenant_webhooks_pkey ON tenant_webhooks USING btree (tenant);
CREATE INDEX uploads_by_tenant ON uploads USING btree (tenant, created_at);
CREATE UNIQUE INDEX uploads_pkey ON uploads USING btree (id);
CREATE INDEX webhook_deliveries_by_job ON webhook_deliveries USING btree (job_id, event_seq);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries USING btree (next_attempt_at) WHERE (state = 'pending'::text);
CREATE UNIQUE INDEX webhook_deliveries_pkey ON webhook_deliveries USING btree (id);
CREATE UNIQUE INDEX webhook_secrets_pkey ON webhook_secrets USING btree (tenant);
