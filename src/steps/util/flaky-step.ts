import { z } from "zod";
import { MediaflowError } from "../../errors/errors.js";
import { defineStep } from "../step-type.js";

export const flakyStep = defineStep({
  type: "util.flaky",
  description:
    "Fails (retryably) on its first `failures` attempts, then succeeds: for trying retry policies.",
  params: z.strictObject({
    failures: z.int().min(0).prefault(1).meta({ description: "How many attempts fail before one succeeds." }),
    code: z.string().min(1).prefault("flaky"),
    message: z.string().optional(),
  }),
  async run(ctx) {
    const { failures, code, message } = ctx.params;
    const attempt = ctx.step.attempt;
    if (attempt <= failures) {
      throw new MediaflowError(
        code,
        message ?? `attempt ${attempt} fails on purpose (the first ${failures} do)`,
        {
          retryable: true,
        },
      );
    }
    return { data: { attempt } };
  },
});
