import type { StepType } from "../step-type.js";
import { packageStep } from "./package-step.js";
import { thumbnailsStep } from "./thumbnails-step.js";

/** Video steps that prepare delivery: packaging, thumbnails and storyboards, clips. */
export const videoDeliverySteps: StepType[] = [packageStep, thumbnailsStep];
