import { randomFillSync } from "node:crypto";

const alphabet = "0123456789abcdefghjkmnpqrstvwxyz";

/** Three base32 characters: ids made in one millisecond by one process, far more than it can make. */
const sequenceChars = 3;
const sequenceLimit = 32 ** sequenceChars;

let lastTime = -1;
let sequence = 0;

/**
 * Random bytes drawn a few hundred ids at a time: each call into the random generator costs microseconds
 * whatever its size, several percent of what a quick job costs the engine.
 */
const randomChars = 13;
const randomPool = Buffer.alloc(randomChars * 256);
let randomOffset = randomPool.length;

/**
 * A job id such as `job_01jd8x3k5v0009q7r2m4n6p8s0`: a millisecond timestamp, a sequence number within
 * that millisecond, then 65 random bits, in Crockford base32. Ids sort by creation time, in the order
 * this process made them even within one millisecond, and cannot be guessed.
 *
 * The order matters to the database: a job's rows in the indexes keyed by job id (its steps, its events)
 * then sit beside those of the jobs created just before and after it, which are the ones processed with
 * it. With random order inside a millisecond, a worker finishing ten jobs of a batch created together
 * dirtied ten index pages instead of one or two, and each is written again at every commit.
 */
export function newJobId(now: number = Date.now()): string {
  if (now === lastTime) sequence = (sequence + 1) % sequenceLimit;
  else {
    lastTime = now;
    sequence = 0;
  }
  if (randomOffset === randomPool.length) {
    randomFillSync(randomPool);
    randomOffset = 0;
  }
  let random = "";
  for (let i = 0; i < randomChars; i++) random += alphabet[(randomPool[randomOffset + i] ?? 0) % 32];
  randomOffset += randomChars;
  return `job_${base32(now, 10)}${base32(sequence, sequenceChars)}${random}`;
}

function base32(value: number, length: number): string {
  let text = "";
  let rest = value;
  for (let i = 0; i < length; i++) {
    text = alphabet[rest % 32] + text;
    rest = Math.floor(rest / 32);
  }
  return text;
}
