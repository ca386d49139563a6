import { z } from "zod";
import { ErrorCodes, RetryLaterError } from "../../errors/errors.js";
import { durationSchema } from "../../util/duration.js";
import { defineStep } from "../step-type.js";

const epochMs = z.int().nonnegative();

export const waitStep = defineStep({
  type: "util.wait",
  description:
    "Waits for something that becomes available at `readyAt`: until then it asks to run again later " +
    "(RetryLaterError), and fails with `code` if `deadline` passes first.",
  params: z.strictObject({
    readyAt: epochMs.meta({ description: "Epoch milliseconds when the awaited thing becomes available." }),
    deadline: epochMs.optional().meta({
      description: "Epoch milliseconds after which waiting stops; default: one poll after readyAt.",
    }),
    pollEvery: durationSchema.prefault("200ms"),
    code: z.string().min(1).prefault(ErrorCodes.notAvailable),
  }),
  async run(ctx) {
    const { readyAt, pollEvery, code } = ctx.params;
    const now = Date.now();
    if (now >= readyAt) return { data: { readyAt, attempt: ctx.step.attempt } };
    throw new RetryLaterError({
      // No later than readyAt itself, so a long poll interval does not delay a step that could run.
      delayMs: Math.max(1, Math.min(pollEvery, readyAt - now)),
      // Without a deadline the wait ends at readyAt anyway; one poll of slack covers a late run.
      deadline: ctx.params.deadline ?? readyAt + pollEvery,
      code,
      message: `not available until ${new Date(readyAt).toISOString()}`,
    });
  },
});
