import type { Backend, JobExpiry } from "../backend/backend.js";
import { PermanentError } from "../errors/errors.js";

/** The error code of a job (or a file of one) whose retention has ended: HTTP 410 Gone. */
export const goneCode = "gone";

/** The job's retention has ended: its files are deleted (or about to be) and it is no longer served. */
export class JobGoneError extends PermanentError {
  constructor(jobId: string, expiredSince: number) {
    super(
      goneCode,
      `job ${jobId} expired at ${new Date(expiredSince).toISOString()}: its retention period ended and its files were deleted`,
      { details: { jobId, expiredAt: expiredSince } },
    );
  }
}

/**
 * When the job stopped being kept, or undefined while it is kept. A job is gone from the moment its
 * retention ends, before a sweeper has deleted its files, so that nobody is served what is about to go.
 */
export function expiredSince(expiry: JobExpiry, now: number): number | undefined {
  if (expiry.expiresAt !== null && expiry.expiresAt <= now) return expiry.expiresAt;
  // Only a job retried outside the API after it was swept: its files are gone all the same.
  return expiry.expiredAt ?? undefined;
}

/** Throws JobGoneError when the job's retention has ended; does nothing for a missing job. */
export async function assertJobKept(backend: Backend, jobId: string, now: number): Promise<void> {
  const expiry = await backend.retention.expiryOf(jobId);
  if (expiry === undefined) return;
  const since = expiredSince(expiry, now);
  if (since !== undefined) throw new JobGoneError(jobId, since);
}

const jobKeyPattern = /^jobs\/([^/]+)\//;

/** The job whose files live under a storage key (`jobs/<id>/...`), or undefined for any other key. */
export function jobOfKey(key: string): string | undefined {
  return jobKeyPattern.exec(key)?.[1];
}

/**
 * Whether a storage key belongs to a job whose retention has ended: download routes answer 410 for it.
 * Keys outside `jobs/<id>/` (a tenant's uploads) belong to no job and are never expired here.
 */
export async function isExpiredKey(backend: Backend, key: string, now: number): Promise<boolean> {
  const jobId = jobOfKey(key);
  if (jobId === undefined) return false;
  const expiry = await backend.retention.expiryOf(jobId);
  return expiry !== undefined && expiredSince(expiry, now) !== undefined;
}
