import type { RetryPolicy } from "../pipeline/types.js";

/**
 * The delay before attempt `attempt + 1` after attempt `attempt` failed: exponential from the initial
 * delay, capped at the maximum, with the `jitter` fraction of it randomised downwards so that many tasks
 * failing together do not come back together. Bounds: [base * (1 - jitter), base].
 */
export function retryDelay(policy: RetryPolicy, attempt: number, random: () => number = Math.random): number {
  const exponent = Math.max(0, attempt - 1);
  const base = Math.min(policy.maxDelayMs, policy.initialDelayMs * 2 ** exponent);
  return Math.round(base * (1 - policy.jitter * random()));
}
