import { z } from "zod";
import { durationSchema } from "../../util/duration.js";
import { defineStep } from "../step-type.js";
import { sleepWithProgress } from "./sleep-with-progress.js";

export const sleepStep = defineStep({
  type: "util.sleep",
  description: "Waits for `duration`, reporting progress `steps` times; stops at once when cancelled.",
  params: z.strictObject({
    duration: durationSchema.prefault("1s"),
    // More than 1000 reports would only load the event log; fewer than 1 would never report.
    steps: z.int().min(1).max(1000).prefault(10).meta({ description: "How many progress reports to make." }),
  }),
  async run(ctx) {
    await sleepWithProgress(ctx, ctx.params.duration, ctx.params.steps);
    return { data: { sleptMs: ctx.params.duration } };
  },
});
