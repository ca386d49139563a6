import type { Engine } from "../engine/engine.js";
import { ErrorCodes, PermanentError } from "../errors/errors.js";
import type { PipelineSpec } from "../pipeline/types.js";
import type { JobInput } from "../steps/step-type.js";
import type { TriggerRule } from "./trigger-rules.js";

export interface TriggeredJob {
  jobId: string;
  /** false: an earlier delivery of the same file already made this job. */
  created: boolean;
}

/**
 * Starts the rule's pipeline on a landed file. The idempotency key is derived from the file itself, so a
 * file seen twice (a restart, a redelivered notification) finds the job the first sighting made.
 */
export async function startTriggerJob(
  engine: Engine,
  pipelines: ReadonlyMap<string, PipelineSpec>,
  rule: TriggerRule,
  input: JobInput,
  idempotencyKey: string,
): Promise<TriggeredJob> {
  const pipeline = pipelines.get(rule.pipeline);
  if (pipeline === undefined) {
    throw new PermanentError(
      ErrorCodes.notFound,
      `rule "${rule.name}" names pipeline "${rule.pipeline}", which is not registered`,
    );
  }
  const { job, created } = await engine.createJob({
    pipeline,
    input,
    params: { ...rule.params },
    tenant: rule.tenant,
    idempotencyKey,
  });
  return { jobId: job.job.id, created };
}
