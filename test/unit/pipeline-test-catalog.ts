import { z } from "zod";
import { makeCatalog, type StepCatalog } from "../../src/steps/catalog.js";
import { defineStep } from "../../src/steps/step-type.js";
import { utilSteps } from "../../src/steps/util/index.js";

/**
 * Stand-ins for media step types, so pipeline tests can use realistic names (`video.transcode`) before the
 * real media steps exist. They are never run.
 */
const transcode = defineStep({
  type: "video.transcode",
  description: "test stand-in",
  params: z.strictObject({
    height: z.int().positive(),
    codec: z.enum(["h264", "av1"]).prefault("h264"),
    name: z.string().optional(),
    sizes: z.array(z.int()).optional(),
  }),
  async run() {
    return {};
  },
});

const probe = defineStep({
  type: "media.probe",
  description: "test stand-in",
  params: z.strictObject({}),
  async run() {
    return {};
  },
});

export function testCatalog(): StepCatalog {
  return makeCatalog([...utilSteps, transcode, probe]);
}
