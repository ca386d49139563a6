import type { JsonValue } from "../../util/json.js";
import type { WebhookDelivery, WebhookOutbox, WebhookSubscription } from "../backend.js";
import { byDueTime, type DeliveryRow, deliveryColumns, deliveryFromRow } from "../webhook-rows.js";
import { prepared, type Sql } from "./connection.js";

type Row = DeliveryRow<JsonValue>;
const fromRow = (row: Row): WebhookDelivery => deliveryFromRow(row, (value) => value);

export async function addWebhook(db: Sql, subscription: WebhookSubscription): Promise<void> {
  await db.query("INSERT INTO job_webhooks (job_id, tenant, url, events) VALUES ($1, $2, $3, $4)", [
    subscription.jobId,
    subscription.tenant,
    subscription.url,
    [...subscription.events],
  ]);
}

const addDefaultWebhookStatement = prepared(
  "add_default_webhook",
  `INSERT INTO job_webhooks (job_id, tenant, url, events)
   SELECT $1, tenant, url, events FROM tenant_webhooks WHERE tenant = $2`,
);

export async function addDefaultWebhook(db: Sql, jobId: string, tenant: string): Promise<void> {
  await db.query({ ...addDefaultWebhookStatement, values: [jobId, tenant] });
}

/**
 * The deliverer's side of the outbox. Each operation is one autocommitted statement: the claim locks the
 * due rows it picks and skips those another claimer holds, so claimers never wait for one another nor
 * take the same delivery.
 */
export function postgresWebhookOutbox(db: Sql): WebhookOutbox {
  return {
    async claimDue(request) {
      const { rows } = await db.query<Row>(
        `WITH d AS (
           UPDATE webhook_deliveries
           SET attempts = attempts + 1, lease_token = lease_token + 1, lease_owner = $1, next_attempt_at = $2
           WHERE id IN (SELECT id FROM webhook_deliveries WHERE state = 'pending' AND next_attempt_at <= $3
                        ORDER BY next_attempt_at, event_seq LIMIT $4
                        FOR UPDATE SKIP LOCKED)
           RETURNING *)
         SELECT ${deliveryColumns} FROM d JOIN events e ON e.seq = d.event_seq`,
        [request.owner, request.now + request.leaseMs, request.now, request.limit],
      );
      return rows.map(fromRow).sort(byDueTime);
    },
    async settle(id, token, outcome) {
      const pending = outcome.state === "pending";
      const result = await db.query(
        `UPDATE webhook_deliveries
         SET state = $3, next_attempt_at = $4, finished_at = $5, last_status = $6, last_error = $7,
             lease_owner = NULL
         WHERE id = $1 AND lease_token = $2 AND state = 'pending'`,
        [
          id,
          token,
          outcome.state,
          pending ? outcome.nextAttemptAt : outcome.at,
          pending ? null : outcome.at,
          outcome.status,
          outcome.state === "delivered" ? null : outcome.error,
        ],
      );
      return result.rowCount === 1;
    },
    async listForJob(jobId) {
      const { rows } = await db.query<Row>(
        `SELECT ${deliveryColumns} FROM webhook_deliveries d JOIN events e ON e.seq = d.event_seq
         WHERE d.job_id = $1 ORDER BY d.event_seq, d.id`,
        [jobId],
      );
      return rows.map(fromRow);
    },
    async signingSecret(tenant, fresh) {
      // One statement: the inserted row, or (on conflict nothing is returned) the stored one.
      const { rows } = await db.query<{ secret: string }>(
        `WITH inserted AS (
           INSERT INTO webhook_secrets (tenant, secret, created_at) VALUES ($1, $2, $3)
           ON CONFLICT (tenant) DO NOTHING RETURNING secret)
         SELECT secret FROM inserted UNION ALL SELECT secret FROM webhook_secrets WHERE tenant = $1`,
        [tenant, fresh, Date.now()],
      );
      const row = rows[0];
      if (row === undefined) throw new Error(`no webhook secret for tenant ${tenant}`);
      return row.secret;
    },
    async setTenantDefault(tenant, webhook, at) {
      if (webhook === null) {
        await db.query("DELETE FROM tenant_webhooks WHERE tenant = $1", [tenant]);
        return;
      }
      await db.query(
        `INSERT INTO tenant_webhooks (tenant, url, events, updated_at) VALUES ($1, $2, $3, $4)
         ON CONFLICT (tenant) DO UPDATE SET url = excluded.url, events = excluded.events, updated_at = excluded.updated_at`,
        [tenant, webhook.url, [...webhook.events], at],
      );
    },
    async getTenantDefault(tenant) {
      const { rows } = await db.query<{ url: string; events: string[] }>(
        "SELECT url, events FROM tenant_webhooks WHERE tenant = $1",
        [tenant],
      );
      const row = rows[0];
      return row === undefined ? undefined : { url: row.url, events: row.events };
    },
  };
}
