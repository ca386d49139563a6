import { z } from "zod";
import type { PipelineSpec, StepSpec } from "../../src/pipeline/types.js";
import { makeCatalog, type StepCatalog } from "../../src/steps/catalog.js";
import { defineStep } from "../../src/steps/step-type.js";

/**
 * A step type for engine tests: its tasks are claimed and completed by the test itself, so `run` is never
 * called through it.
 */
const testWork = defineStep({
  type: "test.work",
  description: "a unit of work an engine test completes by hand",
  params: z.object({ label: z.string().optional() }),
  async run() {
    return {};
  },
});

const testOther = defineStep({
  type: "test.other",
  description: "a second step type, for filtering claims by type",
  params: z.object({}),
  async run() {
    return {};
  },
});

export const testCatalog: StepCatalog = makeCatalog([testWork, testOther]);

type StepInput = Partial<Omit<StepSpec, "retry">> & { retry?: Partial<StepSpec["retry"]> };

/** Builds a validated pipeline directly: `pipeline({ a: {}, b: { needs: ["a"] } })`. */
export function pipeline(steps: Record<string, StepInput>, name = "test"): PipelineSpec {
  const built: Record<string, StepSpec> = {};
  for (const [stepName, input] of Object.entries(steps)) {
    built[stepName] = {
      use: input.use ?? "test.work",
      needs: input.needs ?? [],
      with: input.with ?? {},
      retry: { attempts: 3, initialDelayMs: 1_000, maxDelayMs: 60_000, jitter: 0, ...input.retry },
      priority: input.priority ?? 0,
      join: input.join ?? "all-succeeded",
      ...(input.timeoutMs === undefined ? {} : { timeoutMs: input.timeoutMs }),
    };
  }
  return { name, params: {}, steps: built };
}
