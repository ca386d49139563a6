import { hostname } from "node:os";
import type { Logger } from "pino";
import type { Backend, WebhookDelivery, WebhookOutcome } from "../backend/backend.js";
import type { EventDataByType } from "../engine/events.js";
import type { EngineNotifications } from "../engine/notifications.js";
import { coerceError } from "../errors/errors.js";
import { PrivateAddressError } from "../net/address-guard.js";
import { postWebhook } from "./post-webhook.js";
import { defaultRetryDelaysMs, nextRetryDelay } from "./retry-schedule.js";
import { webhookPayload } from "./webhook-events.js";
import { newWebhookSecret, signWebhook } from "./webhook-signature.js";

export interface WebhookDelivererOptions {
  backend: Backend;
  log: Logger;
  /** Let webhook URLs reach loopback, private and link-local addresses. */
  allowPrivateAddresses: boolean;
  /** In-process events wake the deliverer at once; deliveries written by other processes wait for a poll. */
  notifications?: EngineNotifications;
  owner?: string;
  /** 1 s: a webhook is a notification, a second late is fine, and an idle poll is one indexed query. */
  pollMs?: number;
  /** Deliveries sent at once by one deliverer. */
  batchSize?: number;
  /** Longer than the request timeout, so a live deliverer never loses a delivery it is still sending. */
  leaseMs?: number;
  /** 10 s: a receiver should acknowledge at once and do its work afterwards. */
  timeoutMs?: number;
  retryDelaysMs?: readonly number[];
  clock?: () => number;
  random?: () => number;
}

/**
 * Delivers the webhook outbox: claims due deliveries with a lease, POSTs each signed, and records the
 * outcome. At least once: a delivery whose outcome was not recorded (the process died) is sent again when
 * its lease runs out, so receivers deduplicate on `Webhook-Id`.
 *
 * Each delivery: pending --2xx--> delivered
 *                pending --network error, timeout, 408, 429, 5xx--> pending (retried later), or dead once
 *                          the retry schedule is used up
 *                pending --other status, refused address--> dead (retrying cannot help)
 *
 * The deliverer itself: idle --start--> running --stop--> stopped; stop waits for the sends in flight
 * (each bounded by the timeout). start and stop are idempotent.
 */
export class WebhookDeliverer {
  private readonly backend: Backend;
  private readonly log: Logger;
  private readonly owner: string;
  private readonly pollMs: number;
  private readonly batchSize: number;
  private readonly leaseMs: number;
  private readonly timeoutMs: number;
  private readonly retryDelaysMs: readonly number[];
  private readonly clock: () => number;
  private readonly random: () => number;
  private readonly secrets = new Map<string, string>();
  private loop: Promise<void> | undefined;
  private stopping = false;
  private wake: (() => void) | undefined;
  private unsubscribe: (() => void) | undefined;

  constructor(private readonly options: WebhookDelivererOptions) {
    this.backend = options.backend;
    this.log = options.log;
    this.owner = options.owner ?? `${hostname()}:${process.pid}:webhooks`;
    this.pollMs = options.pollMs ?? 1_000;
    this.batchSize = options.batchSize ?? 8;
    this.timeoutMs = options.timeoutMs ?? 10_000;
    this.leaseMs = options.leaseMs ?? 3 * this.timeoutMs;
    this.retryDelaysMs = options.retryDelaysMs ?? defaultRetryDelaysMs;
    this.clock = options.clock ?? Date.now;
    this.random = options.random ?? Math.random;
  }

  /** The attempts a delivery gets before it is dead. */
  get maxAttempts(): number {
    return this.retryDelaysMs.length + 1;
  }

  start(): void {
    if (this.loop !== undefined || this.stopping) return;
    const onEvents = () => this.wake?.();
    this.options.notifications?.on("events", onEvents);
    this.unsubscribe = () => this.options.notifications?.off("events", onEvents);
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.stopping = true;
    this.unsubscribe?.();
    this.wake?.();
    await this.loop;
  }

  /** One round: claims what is due, sends it, records the outcomes. Returns how many were claimed. */
  async deliverDue(): Promise<number> {
    const claimed = await this.backend.webhooks.claimDue({
      owner: this.owner,
      limit: this.batchSize,
      leaseMs: this.leaseMs,
      now: this.clock(),
    });
    await Promise.all(claimed.map((delivery) => this.deliver(delivery)));
    return claimed.length;
  }

  private async run(): Promise<void> {
    while (!this.stopping) {
      let claimed = 0;
      try {
        claimed = await this.deliverDue();
      } catch (error) {
        this.log.error({ err: error }, "webhook delivery round failed; retrying at the next poll");
      }
      if (claimed === 0 && !this.stopping) await this.idle();
    }
  }

  private idle(): Promise<void> {
    return new Promise<void>((resolve) => {
      const timer = setTimeout(done, this.pollMs);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.wake = done;
    }).finally(() => {
      this.wake = undefined;
    });
  }

  private async deliver(delivery: WebhookDelivery): Promise<void> {
    const outcome = await this.attempt(delivery);
    const settled = await this.backend.webhooks.settle(delivery.id, delivery.leaseToken, outcome);
    const fields = { delivery: delivery.id, url: delivery.url, attempt: delivery.attempts };
    if (settled) await this.recordAttempt(delivery, outcome);
    if (!settled) this.log.warn(fields, "webhook delivery lease lost before its outcome was recorded");
    else if (outcome.state === "dead") this.log.warn({ ...fields, error: outcome.error }, "webhook dead");
    else if (outcome.state === "pending") this.log.info({ ...fields, error: outcome.error }, "webhook retry");
  }

  /** Every attempt goes into the job's event log, where the job's history is read. */
  private async recordAttempt(delivery: WebhookDelivery, outcome: WebhookOutcome): Promise<void> {
    const data: EventDataByType["webhook.attempted"] = {
      deliveryId: delivery.id,
      url: delivery.url,
      eventSeq: delivery.event.seq,
      attempt: delivery.attempts,
      outcome: outcome.state === "pending" ? "retrying" : outcome.state,
      status: outcome.status,
    };
    if (outcome.state !== "delivered") data.error = outcome.error;
    if (outcome.state === "pending") data.nextAttemptAt = outcome.nextAttemptAt;
    try {
      await this.backend.transaction((tx) =>
        tx.appendEvents([
          {
            type: "webhook.attempted",
            jobId: delivery.event.jobId,
            step: null,
            part: null,
            attempt: null,
            workerId: null,
            at: Date.now(),
            data,
          },
        ]),
      );
    } catch (error) {
      // The delivery itself is settled; a missing history line must not make it be sent again.
      this.log.warn({ err: coerceError(error), delivery: delivery.id }, "could not record a webhook attempt");
    }
  }

  private async attempt(delivery: WebhookDelivery): Promise<WebhookOutcome> {
    // A delivery whose lease ran out repeatedly (its deliverers died while sending) is not sent forever.
    if (delivery.attempts > this.maxAttempts) {
      return this.dead(`gave up after ${this.maxAttempts} attempts`, null);
    }
    let secret: string;
    let url: URL;
    try {
      secret = await this.secretFor(delivery.tenant);
      url = new URL(delivery.url);
    } catch (error) {
      return this.retry(delivery, coerceError(error).message, null);
    }
    const body = webhookPayload(delivery);
    const timestamp = Math.floor(this.clock() / 1000);
    try {
      const response = await postWebhook(
        url,
        body,
        {
          "webhook-id": delivery.id,
          "webhook-timestamp": String(timestamp),
          "webhook-signature": signWebhook(secret, delivery.id, timestamp, body),
          "user-agent": "mediaflow-webhooks",
        },
        { timeoutMs: this.timeoutMs, allowPrivateAddresses: this.options.allowPrivateAddresses },
      );
      const { status } = response;
      if (status >= 200 && status < 300) return { state: "delivered", at: this.clock(), status };
      const error = `the receiver answered HTTP ${status}`;
      if (status === 408 || status === 429 || status >= 500) {
        return this.retry(delivery, error, status, response.retryAfterMs);
      }
      return this.dead(`${error}; not retried`, status);
    } catch (thrown) {
      if (thrown instanceof PrivateAddressError) {
        return this.dead(`${thrown.message} (MEDIAFLOW_ALLOW_PRIVATE_WEBHOOKS=1 allows it)`, null);
      }
      return this.retry(delivery, describeNetworkError(thrown), null);
    }
  }

  private retry(
    delivery: WebhookDelivery,
    error: string,
    status: number | null,
    retryAfterMs?: number,
  ): WebhookOutcome {
    const delay = nextRetryDelay(this.retryDelaysMs, delivery.attempts, this.random, retryAfterMs);
    if (delay === undefined)
      return this.dead(`gave up after ${delivery.attempts} attempts: ${error}`, status);
    return { state: "pending", nextAttemptAt: this.clock() + delay, error, status };
  }

  private dead(error: string, status: number | null): WebhookOutcome {
    return { state: "dead", at: this.clock(), error, status };
  }

  private async secretFor(tenant: string): Promise<string> {
    let secret = this.secrets.get(tenant);
    if (secret === undefined) {
      secret = await this.backend.webhooks.signingSecret(tenant, newWebhookSecret());
      this.secrets.set(tenant, secret);
    }
    return secret;
  }
}

function describeNetworkError(thrown: unknown): string {
  const error = coerceError(thrown);
  const code = (thrown as { code?: unknown } | null)?.code;
  return typeof code === "string" && !error.message.includes(code)
    ? `${code}: ${error.message}`
    : error.message;
}
