import { z } from "zod";
import { defineStep } from "../step-type.js";

export const noopStep = defineStep({
  type: "util.noop",
  description: "Does nothing and succeeds; `data`, when given, becomes the step's result data.",
  params: z.strictObject({
    data: z.json().optional().meta({ description: "Any JSON value, returned as the step's result data." }),
  }),
  async run(ctx) {
    return ctx.params.data === undefined ? {} : { data: ctx.params.data };
  },
});
