import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";

/**
 * Webhook signatures, in the style of Standard Webhooks: the HMAC-SHA256 of `id.timestamp.body`, keyed
 * with the tenant's secret (its UTF-8 bytes, prefix included), sent as `Webhook-Signature: v1=<hex>`.
 * Signing the id and the timestamp with the body lets a receiver refuse replays and old messages.
 */
export function signWebhook(secret: string, id: string, timestamp: number, body: string): string {
  return `v1=${createHmac("sha256", secret).update(`${id}.${timestamp}.${body}`).digest("hex")}`;
}

/** True when `header` carries a valid signature of this message (constant-time comparison). */
export function verifyWebhookSignature(
  secret: string,
  id: string,
  timestamp: number,
  body: string,
  header: string,
): boolean {
  const expected = Buffer.from(signWebhook(secret, id, timestamp, body));
  return header
    .split(" ")
    .map((part) => Buffer.from(part))
    .some((given) => given.length === expected.length && timingSafeEqual(given, expected));
}

/** A new signing secret: 24 random bytes (192 bits), base64url, with a prefix that says what it is. */
export function newWebhookSecret(): string {
  return `whsec_${randomBytes(24).toString("base64url")}`;
}
