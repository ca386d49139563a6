import type { JsonValue } from "../util/json.js";
import type { WebhookDelivery } from "./backend.js";
import { type EventRow, eventFromRow } from "./rows.js";

/**
 * A delivery as read with its event: the event's columns as they are, the delivery's prefixed with `d_`.
 * The same in every adapter but for how the event's JSON arrives (see rows.ts).
 */
export interface DeliveryRow<Json> extends EventRow<Json> {
  d_id: string;
  d_tenant: string;
  d_url: string;
  d_state: WebhookDelivery["state"];
  d_attempts: number;
  d_next_attempt_at: number;
  d_lease_owner: string | null;
  d_lease_token: number;
  d_last_error: string | null;
  d_last_status: number | null;
  d_created_at: number;
  d_finished_at: number | null;
}

/** The delivery columns of a `webhook_deliveries d` joined with `events e`. */
export const deliveryColumns = `e.*, d.id AS d_id, d.tenant AS d_tenant, d.url AS d_url, d.state AS d_state,
  d.attempts AS d_attempts, d.next_attempt_at AS d_next_attempt_at, d.lease_owner AS d_lease_owner,
  d.lease_token AS d_lease_token, d.last_error AS d_last_error, d.last_status AS d_last_status,
  d.created_at AS d_created_at, d.finished_at AS d_finished_at`;

export function deliveryFromRow<Json>(
  row: DeliveryRow<Json>,
  decode: (value: Json) => JsonValue,
): WebhookDelivery {
  return {
    id: row.d_id,
    tenant: row.d_tenant,
    url: row.d_url,
    event: eventFromRow(row, decode),
    state: row.d_state,
    attempts: row.d_attempts,
    nextAttemptAt: row.d_next_attempt_at,
    leaseOwner: row.d_lease_owner,
    leaseToken: row.d_lease_token,
    lastError: row.d_last_error,
    lastStatus: row.d_last_status,
    createdAt: row.d_created_at,
    finishedAt: row.d_finished_at,
  };
}

/** Ordered by when they are due, then by the event they announce. */
export const byDueTime = (a: WebhookDelivery, b: WebhookDelivery): number =>
  a.nextAttemptAt - b.nextAttemptAt || a.event.seq - b.event.seq || a.id.localeCompare(b.id);
