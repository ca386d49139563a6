import type { StepType } from "../step-type.js";

/** Audio steps, on ffmpeg. */
export const audioSteps: StepType[] = [];
