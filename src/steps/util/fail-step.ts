import { z } from "zod";
import { MediaflowError, PermanentError } from "../../errors/errors.js";
import { defineStep } from "../step-type.js";

export const failStep = defineStep({
  type: "util.fail",
  description: "Always fails with the given code and message; `retryable` decides whether retries happen.",
  params: z.strictObject({
    code: z.string().min(1).prefault("step_failed"),
    message: z.string().prefault("this step always fails"),
    retryable: z.boolean().prefault(false).meta({ description: "true: the retry policy applies." }),
  }),
  async run(ctx) {
    const { code, message, retryable } = ctx.params;
    if (retryable) throw new MediaflowError(code, message, { retryable: true });
    throw new PermanentError(code, message);
  },
});
