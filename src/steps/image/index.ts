import type { StepType } from "../step-type.js";
import { resizeStep } from "./resize-step.js";
import { transformStep } from "./transform-step.js";

/** Image steps, on sharp (libvips). */
export const imageSteps: StepType[] = [resizeStep, transformStep];
