import type { WebhookDelivery } from "../backend/backend.js";
import type { JobLifecycleEventType } from "../engine/events.js";

/** What a webhook hears when its subscription names no events: how the job ended. */
export const defaultWebhookEvents: readonly JobLifecycleEventType[] = Object.freeze([
  "job.succeeded",
  "job.failed",
  "job.cancelled",
]);

/** The JSON body POSTed for a delivery. `id` is also the `Webhook-Id` header: the same on every retry. */
export function webhookPayload(delivery: WebhookDelivery): string {
  const { event } = delivery;
  return JSON.stringify({
    id: delivery.id,
    type: event.type,
    jobId: event.jobId,
    step: event.step,
    at: new Date(event.at).toISOString(),
    data: event.data,
  });
}
