import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";

/**
 * Webhook signatures as Standard Webhooks defines them, so its verification libraries work as they are:
 * the base64 HMAC-SHA256 of `id.timestamp.body`, keyed with the secret's bytes (the base64 after the
 * `whsec_` prefix), sent as `webhook-signature: v1,<base64>`. Signing the id and the timestamp with the
 * body lets a receiver refuse replays and old messages.
 */
export function signWebhook(secret: string, id: string, timestamp: number, body: string): string {
  return `v1,${createHmac("sha256", secretKey(secret)).update(`${id}.${timestamp}.${body}`).digest("base64")}`;
}

/** The key bytes of a `whsec_<base64>` secret. */
export function secretKey(secret: string): Buffer {
  return Buffer.from(secret.startsWith("whsec_") ? secret.slice("whsec_".length) : secret, "base64");
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

/** A new signing secret: 24 random bytes (192 bits), base64, with the prefix Standard Webhooks uses. */
export function newWebhookSecret(): string {
  return `whsec_${randomBytes(24).toString("base64")}`;
}
