import { randomBytes } from "node:crypto";

const alphabet = "0123456789abcdefghjkmnpqrstvwxyz";

/**
 * A job id such as `job_01jd8x3k5v9q7r2m4n6p8s0t2w`: a millisecond timestamp then random bits, in
 * Crockford base32, so ids sort by creation time and cannot be guessed.
 */
export function newJobId(now: number = Date.now()): string {
  let time = "";
  let rest = now;
  for (let i = 0; i < 10; i++) {
    time = alphabet[rest % 32] + time;
    rest = Math.floor(rest / 32);
  }
  const random = Array.from(randomBytes(16), (byte) => alphabet[byte % 32]).join("");
  return `job_${time}${random}`;
}
