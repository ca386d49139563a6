import type { JobEvent } from "../../engine/events.js";
import type { WebhookDelivery, WebhookOutbox, WebhookSubscription } from "../backend.js";
import { byDueTime, type DeliveryRow, deliveryColumns, deliveryFromRow } from "../webhook-rows.js";
import type { SqliteDatabase, SqliteWriter } from "./connection.js";

type Row = DeliveryRow<string>;
const decode = (text: string) => JSON.parse(text);
const fromRow = (row: Row): WebhookDelivery => deliveryFromRow(row, decode);

/** The statements that run inside an engine transaction: subscribing, and filling the outbox. */
export function webhookStatements(db: SqliteDatabase) {
  const subscribe = db.prepare(
    "INSERT INTO job_webhooks (job_id, tenant, url, events) VALUES (@jobId, @tenant, @url, @events)",
  );
  const subscribeDefault = db.prepare(`INSERT INTO job_webhooks (job_id, tenant, url, events)
    SELECT ?, tenant, url, events FROM tenant_webhooks WHERE tenant = ?`);
  // The delivery id is the event and the webhook: stable, unique, and the same however often it is retried.
  const queue = db.prepare(`INSERT INTO webhook_deliveries
      (id, webhook_id, tenant, url, job_id, event_seq, next_attempt_at, created_at)
    SELECT 'whd_' || e.seq || '_' || w.id, w.id, w.tenant, w.url, e.job_id, e.seq, e.at, e.at
    FROM events e JOIN job_webhooks w ON w.job_id = e.job_id
    WHERE e.seq BETWEEN ? AND ? AND EXISTS (SELECT 1 FROM json_each(w.events) WHERE value = e.type)`);
  return {
    subscribe(subscription: WebhookSubscription): void {
      subscribe.run({ ...subscription, events: JSON.stringify(subscription.events) });
    },
    subscribeDefault(jobId: string, tenant: string): void {
      subscribeDefault.run(jobId, tenant);
    },
    /** Queues the deliveries the events just appended call for (numbered without gaps: one writer). */
    queueDeliveries(appended: readonly JobEvent[]): void {
      const first = appended[0];
      const last = appended.at(-1);
      if (first !== undefined && last !== undefined) queue.run(first.seq, last.seq);
    },
  };
}

/** The deliverer's side of the outbox: each operation is its own transaction through the shared writer. */
export function sqliteWebhookOutbox(
  writerDb: SqliteDatabase,
  writer: SqliteWriter,
  readerDb: SqliteDatabase,
): WebhookOutbox {
  // The single writer holds the whole database for the transaction: no other claimer can interleave.
  const claim = writerDb.prepare(`UPDATE webhook_deliveries
    SET attempts = attempts + 1, lease_token = lease_token + 1, lease_owner = @owner,
        next_attempt_at = @leaseEnd
    WHERE id IN (SELECT id FROM webhook_deliveries WHERE state = 'pending' AND next_attempt_at <= @now
                 ORDER BY next_attempt_at, event_seq LIMIT @limit)
    RETURNING id`);
  const byIds = writerDb.prepare(`SELECT ${deliveryColumns}
    FROM webhook_deliveries d JOIN events e ON e.seq = d.event_seq
    WHERE d.id IN (SELECT value FROM json_each(?))`);
  const settle = writerDb.prepare(`UPDATE webhook_deliveries
    SET state = @state, next_attempt_at = @nextAttemptAt, last_error = @error, last_status = @status,
        finished_at = @finishedAt, lease_owner = NULL
    WHERE id = @id AND lease_token = @token AND state = 'pending'`);
  const ofJob = readerDb.prepare(`SELECT ${deliveryColumns}
    FROM webhook_deliveries d JOIN events e ON e.seq = d.event_seq
    WHERE d.job_id = ? ORDER BY d.event_seq, d.id`);
  const insertSecret = writerDb.prepare(
    "INSERT INTO webhook_secrets (tenant, secret, created_at) VALUES (?, ?, ?) ON CONFLICT (tenant) DO NOTHING",
  );
  const secretOf = writerDb.prepare("SELECT secret FROM webhook_secrets WHERE tenant = ?");
  const setDefault = writerDb.prepare(`INSERT INTO tenant_webhooks (tenant, url, events, updated_at)
    VALUES (@tenant, @url, @events, @at)
    ON CONFLICT (tenant) DO UPDATE SET url = excluded.url, events = excluded.events, updated_at = excluded.updated_at`);
  const clearDefault = writerDb.prepare("DELETE FROM tenant_webhooks WHERE tenant = ?");
  const defaultOf = readerDb.prepare("SELECT url, events FROM tenant_webhooks WHERE tenant = ?");

  return {
    claimDue: (request) =>
      writer.run(async () => {
        const ids = (
          claim.all({ ...request, leaseEnd: request.now + request.leaseMs }) as { id: string }[]
        ).map((row) => row.id);
        if (ids.length === 0) return [];
        return (byIds.all(JSON.stringify(ids)) as Row[]).map(fromRow).sort(byDueTime);
      }),
    settle: (id, token, outcome) =>
      writer.run(async () => {
        const fields =
          outcome.state === "pending"
            ? {
                nextAttemptAt: outcome.nextAttemptAt,
                finishedAt: null,
                status: outcome.status,
                error: outcome.error,
              }
            : {
                nextAttemptAt: outcome.at,
                finishedAt: outcome.at,
                status: outcome.status,
                error: outcome.state === "dead" ? outcome.error : null,
              };
        return settle.run({ id, token, state: outcome.state, ...fields }).changes === 1;
      }),
    listForJob: async (jobId) => (ofJob.all(jobId) as Row[]).map(fromRow),
    signingSecret: (tenant, fresh) =>
      writer.run(async () => {
        insertSecret.run(tenant, fresh, Date.now());
        return (secretOf.get(tenant) as { secret: string }).secret;
      }),
    setTenantDefault: (tenant, webhook, at) =>
      writer.run(async () => {
        if (webhook === null) clearDefault.run(tenant);
        else setDefault.run({ tenant, url: webhook.url, events: JSON.stringify(webhook.events), at });
      }),
    async getTenantDefault(tenant) {
      const row = defaultOf.get(tenant) as { url: string; events: string } | undefined;
      return row === undefined ? undefined : { url: row.url, events: JSON.parse(row.events) as string[] };
    },
  };
}
