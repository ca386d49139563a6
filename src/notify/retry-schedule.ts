/**
 * How long to wait after each failed delivery attempt: quick at first (a receiver restarting), then
 * spreading out to cover an outage of up to a day. Ten attempts in all over about 22.7 hours, after
 * which the delivery is dead. Close to what Standard Webhooks' reference implementation does.
 */
export const defaultRetryDelaysMs: readonly number[] = Object.freeze([
  5_000,
  30_000,
  2 * 60_000,
  10 * 60_000,
  30 * 60_000,
  60 * 60_000,
  3 * 60 * 60_000,
  6 * 60 * 60_000,
  12 * 60 * 60_000,
]);

/** A receiver's Retry-After is honoured up to this; beyond it we keep to our own schedule's last delay. */
export const maxRetryAfterMs = 6 * 60 * 60_000;

/**
 * The delay before the attempt after `attempts` failed ones, or undefined when there is none left. ±10%
 * jitter, so deliveries that failed together (a receiver's outage) do not all come back at once.
 */
export function nextRetryDelay(
  delays: readonly number[],
  attempts: number,
  random: () => number,
  retryAfterMs?: number,
): number | undefined {
  const base = delays[attempts - 1];
  if (base === undefined) return undefined;
  if (retryAfterMs !== undefined) return Math.min(retryAfterMs, maxRetryAfterMs);
  return Math.round(base * (0.9 + 0.2 * random()));
}
