import type { StepType } from "../step-type.js";
import { failStep } from "./fail-step.js";
import { flakyStep } from "./flaky-step.js";
import { noopStep } from "./noop-step.js";
import { sleepStep } from "./sleep-step.js";
import { splitStep } from "./split-step.js";
import { waitStep } from "./wait-step.js";

/** Steps that touch no media: for tests, demos and trying out retry, cancellation and fan-in. */
export const utilSteps: StepType[] = [noopStep, sleepStep, failStep, flakyStep, splitStep, waitStep];
