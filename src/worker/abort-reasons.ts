import { ErrorCodes, MediaflowError } from "../errors/errors.js";

/**
 * Why a running step was told to stop. The worker reads the reason back from the AbortSignal to decide
 * what to record: nothing (the lease is gone), a failed attempt (timeout), or a hand-back (shutdown).
 */
export class StepTimeoutError extends MediaflowError {
  constructor(timeoutMs: number) {
    super(ErrorCodes.timeout, `the step ran longer than its ${timeoutMs} ms timeout`);
  }
}

/** The worker is shutting down and is giving the task back for another worker to run. */
export class WorkerShutdownError extends MediaflowError {
  constructor() {
    super("worker_shutdown", "the worker is shutting down; the task was handed back", { retryable: true });
  }
}
