import type { StepType } from "../step-type.js";

/** Video steps that prepare delivery: packaging, thumbnails and storyboards, clips. */
export const videoDeliverySteps: StepType[] = [];
