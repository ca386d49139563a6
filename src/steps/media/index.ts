import type { StepType } from "../step-type.js";
import { probeStep } from "./probe-step.js";

/** Steps that inspect media of any kind. */
export const mediaSteps: StepType[] = [probeStep];
