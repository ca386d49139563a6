import type { StepType } from "../step-type.js";

/** Steps that inspect media of any kind. */
export const mediaSteps: StepType[] = [];
