import type { StepType } from "../step-type.js";
import { clipStep } from "./clip-step.js";
import { concatStep } from "./concat-step.js";

/** Cutting windows out of videos and timestamped recordings, and joining videos. */
export const videoEditingSteps: StepType[] = [clipStep, concatStep];
