import type { ErrorInfo } from "../errors/errors.js";
import type { StepSpec } from "../pipeline/types.js";
import { finishedStepStatuses, type JobProjection, type StepState } from "./projection.js";

/**
 * What becomes of the pending steps whose parents have all finished. Pure: the engine turns the answer
 * into events inside the transaction that recorded the parents' results, which is what makes a fan-in
 * step enqueued exactly once.
 */
export interface StepDecision {
  step: string;
  action: "queue" | "skip";
  reason?: string;
}

export function decidePendingSteps(state: JobProjection): StepDecision[] {
  const decisions: StepDecision[] = [];
  // Statuses as they will be once the decisions apply, so a skip cascades in one pass over the order.
  const status = new Map(Object.values(state.steps).map((step) => [step.name, step.status]));
  let changed = true;
  while (changed) {
    changed = false;
    for (const [name, spec] of Object.entries(state.job.pipeline.steps)) {
      if (status.get(name) !== "pending") continue;
      const decision = decide(name, spec, status);
      if (decision === undefined) continue;
      decisions.push(decision);
      status.set(name, decision.action === "queue" ? "queued" : "skipped");
      changed = true;
    }
  }
  return decisions;
}

function decide(name: string, spec: StepSpec, status: Map<string, string>): StepDecision | undefined {
  const parents = spec.needs.map((parent) => ({ parent, status: status.get(parent) ?? "pending" }));
  if (parents.some((p) => !finishedStepStatuses.has(p.status as StepState["status"]))) return undefined;
  const unsuccessful = parents.filter((p) => p.status !== "succeeded");
  if (unsuccessful.length === 0) return { step: name, action: "queue" };
  if (spec.join === "some-succeeded" && unsuccessful.length < parents.length) {
    return { step: name, action: "queue" };
  }
  const reason = unsuccessful.map((p) => `${p.parent} ${p.status}`).join(", ");
  return { step: name, action: "skip", reason: `needs ${reason}` };
}

export type JobOutcome =
  | { status: "succeeded" }
  | { status: "failed"; step: string; error: ErrorInfo }
  | undefined;

/** Once every step has finished: failed if any step failed for good (the first in pipeline order). */
export function decideJobOutcome(state: JobProjection): JobOutcome {
  const steps = Object.values(state.steps);
  if (steps.some((step) => !finishedStepStatuses.has(step.status))) return undefined;
  const failed = steps.find((step) => step.status === "failed");
  if (failed !== undefined) {
    return {
      status: "failed",
      step: failed.name,
      error: failed.error ?? { code: "step_failed", message: `step ${failed.name} failed` },
    };
  }
  return { status: "succeeded" };
}
