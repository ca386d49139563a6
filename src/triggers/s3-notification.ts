import type { Logger } from "pino";
import type { Engine } from "../engine/engine.js";
import { coerceError } from "../errors/errors.js";
import type { PipelineSpec } from "../pipeline/types.js";
import type { BlobStore } from "../storage/blob-store.js";
import { createdObjects, type S3Event, storeKeyFor } from "./s3-event.js";
import { startTriggerJob } from "./start-trigger-job.js";
import type { TriggerRule } from "./trigger-rules.js";
import { matchRule } from "./trigger-rules.js";

export interface S3NotificationDependencies {
  engine: Engine;
  storage: BlobStore;
  pipelines: ReadonlyMap<string, PipelineSpec>;
  rules: readonly TriggerRule[];
  storeLocation: { bucket: string; keyPrefix: string } | undefined;
  log: Logger;
}

export interface S3NotificationOutcome {
  started: { key: string; rule: string; jobId: string; created: boolean }[];
  ignored: { key: string; reason: string }[];
}

/**
 * Starts a job for each created object a rule takes. The idempotency key `s3:<key>:<etag>` makes a
 * redelivered notification (buckets deliver at least once) find the job the first delivery made, while a
 * new upload under the same key (a new ETag) starts a new one.
 */
export async function handleS3Notification(
  event: S3Event,
  deps: S3NotificationDependencies,
): Promise<S3NotificationOutcome> {
  const outcome: S3NotificationOutcome = { started: [], ignored: [] };
  for (const object of createdObjects(event)) {
    const key = storeKeyFor(object, deps.storeLocation);
    if (key === undefined) {
      outcome.ignored.push({ key: object.key, reason: "outside the store's bucket and prefix" });
      continue;
    }
    const rule = matchRule(deps.rules, {
      key,
      ...(object.contentType ? { contentType: object.contentType } : {}),
    });
    if (rule === undefined) {
      deps.log.info({ key }, "bucket object matches no trigger rule; left alone");
      outcome.ignored.push({ key, reason: "matches no rule" });
      continue;
    }
    try {
      const info = await deps.storage.stat(key);
      if (info === undefined) {
        outcome.ignored.push({ key, reason: "not in the store (deleted since, or another bucket)" });
        continue;
      }
      const filename = key.split("/").at(-1) ?? key;
      const contentType = object.contentType ?? info.contentType;
      const job = await startTriggerJob(
        deps.engine,
        deps.pipelines,
        rule,
        { key, filename, bytes: info.bytes, ...(contentType === undefined ? {} : { contentType }) },
        `s3:${key}:${object.etag ?? info.etag}`,
      );
      deps.log.info(
        { key, rule: rule.name, jobId: job.jobId, created: job.created },
        "bucket object started a job",
      );
      outcome.started.push({ key, rule: rule.name, ...job });
    } catch (thrown) {
      const error = coerceError(thrown);
      // A database or store outage is worth a redelivery: the bucket retries on a 5xx.
      if (error.retryable) throw error;
      deps.log.warn({ key, rule: rule.name, err: error }, "bucket object refused");
      outcome.ignored.push({ key, reason: `${error.code}: ${error.message}` });
    }
  }
  return outcome;
}
