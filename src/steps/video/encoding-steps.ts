import type { StepType } from "../step-type.js";
import { ladderStep } from "./ladder-step.js";
import { transcodeStep } from "./transcode-step.js";
import { transformStep } from "./transform-step.js";

/** Steps that encode video: one rendition, a ladder of them, or a turned, flipped or scaled copy. */
export const videoEncodingSteps: StepType[] = [transcodeStep, ladderStep, transformStep];
