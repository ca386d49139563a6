import type { StepType } from "../step-type.js";

/** Video steps that encode: transcode, ladder, transform, concat. */
export const videoEncodingSteps: StepType[] = [];
