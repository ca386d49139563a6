import type { StepType } from "../step-type.js";
import { extractAudioStep } from "./extract-step.js";

/** Steps that work on sound alone. */
export const audioSteps: StepType[] = [extractAudioStep];
