import type { StepType } from "../step-type.js";

/** Image steps, on sharp (libvips). */
export const imageSteps: StepType[] = [];
