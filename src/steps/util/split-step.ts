import { z } from "zod";
import { durationSchema } from "../../util/duration.js";
import { defineStep, split } from "../step-type.js";
import { sleepWithProgress } from "./sleep-with-progress.js";

// Progress reports per part; enough for a smooth bar in the dashboard.
const progressSlices = 10;

export const splitStep = defineStep({
  type: "util.split",
  description: "A map step: splits into `parts` parts that each wait `duration` and return their input.",
  params: z.strictObject({
    // 1000 parts is far beyond any demo and keeps a typo from flooding the queue.
    parts: z.int().min(1).max(1000).prefault(3),
    duration: durationSchema.prefault(0).meta({ description: "How long each part takes." }),
  }),
  async run(ctx) {
    if (ctx.part === undefined) {
      return split(Array.from({ length: ctx.params.parts }, (_, index) => ({ index })));
    }
    const { duration } = ctx.params;
    await sleepWithProgress(ctx, duration, duration === 0 ? 1 : progressSlices);
    return { data: { part: ctx.part.index, input: ctx.part.input } };
  },
});
