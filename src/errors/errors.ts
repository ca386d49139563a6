/**
 * Error classes with stable codes. A code is part of the public contract: it is what the CLI prints, what
 * the event log records and what the HTTP API will put in `type`. Messages are for people; codes are for programs.
 */

/** Codes the engine itself produces. Steps may use their own codes too (e.g. `util.fail`). */
export const ErrorCodes = {
  invalidPipeline: "invalid_pipeline",
  invalidParams: "invalid_params",
  invalidArgument: "invalid_argument",
  notFound: "not_found",
  conflict: "conflict",
  leaseLost: "lease_lost",
  leaseExpired: "lease_expired",
  attemptsExhausted: "attempts_exhausted",
  deadlineExceeded: "deadline_exceeded",
  timeout: "timeout",
  cancelled: "cancelled",
  invalidKey: "invalid_key",
  schemaTooNew: "schema_too_new",
  toolMissing: "tool_missing",
  toolFailed: "tool_failed",
  unsupportedMedia: "unsupported_media",
  corruptMedia: "corrupt_media",
  inputTooLarge: "input_too_large",
  outOfRange: "out_of_range",
  rangeNotSatisfiable: "range_not_satisfiable",
  notAvailable: "not_available",
  privateAddress: "private_address",
  internal: "internal",
} as const;

export type KnownErrorCode = (typeof ErrorCodes)[keyof typeof ErrorCodes];

export interface ErrorInfo {
  code: string;
  message: string;
}

export interface MediaflowErrorOptions {
  /** false: retrying cannot help (bad input, bad parameters). Defaults to true. */
  retryable?: boolean;
  cause?: unknown;
  details?: Record<string, unknown>;
}

export class MediaflowError extends Error {
  readonly code: string;
  readonly retryable: boolean;
  readonly details: Record<string, unknown> | undefined;

  constructor(code: string, message: string, options: MediaflowErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.retryable = options.retryable ?? true;
    this.details = options.details;
  }

  toInfo(): ErrorInfo {
    return { code: this.code, message: this.message };
  }
}

/** Retrying cannot help: the step fails at once, whatever its retry policy says. */
export class PermanentError extends MediaflowError {
  constructor(code: string, message: string, options: Omit<MediaflowErrorOptions, "retryable"> = {}) {
    super(code, message, { ...options, retryable: false });
  }
}

export interface ValidationIssue {
  /** Where the problem is, e.g. `steps.thumb.with.width`. Empty for the whole document. */
  path: string;
  message: string;
}

/** Input that does not match its schema: a pipeline file, step parameters, CLI arguments, an API body. */
export class ValidationError extends PermanentError {
  readonly issues: readonly ValidationIssue[];
  /** The file or source the input came from, when there is one. */
  readonly source: string | undefined;

  constructor(code: string, issues: readonly ValidationIssue[], source?: string) {
    super(code, formatIssues(issues, source));
    this.issues = issues;
    this.source = source;
  }
}

function formatIssues(issues: readonly ValidationIssue[], source: string | undefined): string {
  const prefix = source === undefined ? "" : `${source}: `;
  const lines = issues.map((issue) =>
    issue.path === "" ? issue.message : `${issue.path}: ${issue.message}`,
  );
  if (lines.length === 1) return `${prefix}${lines[0]}`;
  return `${prefix}${lines.length} problems\n${lines.map((line) => `  - ${line}`).join("\n")}`;
}

export class NotFoundError extends PermanentError {
  constructor(what: string, id: string) {
    super(ErrorCodes.notFound, `${what} ${id} was not found`);
  }
}

/**
 * The worker no longer holds the task's lease (it expired and another worker took the task, or the job was
 * cancelled). Whatever the stale worker wanted to record is rejected.
 */
export class LeaseLostError extends MediaflowError {
  constructor(taskId: string, reason: string) {
    super(ErrorCodes.leaseLost, `lease on task ${taskId} was lost: ${reason}`, { retryable: false });
  }
}

/** Turns anything thrown into a MediaflowError, so every catch handles one shape. */
export function coerceError(thrown: unknown): MediaflowError {
  if (thrown instanceof MediaflowError) return thrown;
  if (thrown instanceof Error) {
    if (thrown.name === "AbortError") {
      return new MediaflowError(ErrorCodes.cancelled, thrown.message, { cause: thrown, retryable: false });
    }
    return new MediaflowError(ErrorCodes.internal, thrown.message, { cause: thrown });
  }
  return new MediaflowError(ErrorCodes.internal, String(thrown));
}

export interface RetryLaterOptions {
  /** How long to wait before the next run. */
  delayMs: number;
  /** Epoch milliseconds after which waiting stops and the step fails with `code`. */
  deadline: number;
  /** The code to fail with once the deadline has passed (default `deadline_exceeded`). */
  code?: string;
  message: string;
}

/**
 * Thrown by a step that is waiting for something to become available (e.g. a recording that has not
 * arrived yet): the step runs again after `delayMs` and the attempt does not count as a failure.
 */
export class RetryLaterError extends MediaflowError {
  readonly delayMs: number;
  readonly deadline: number;
  readonly deadlineCode: string;

  constructor(options: RetryLaterOptions) {
    super("retry_later", options.message);
    this.delayMs = options.delayMs;
    this.deadline = options.deadline;
    this.deadlineCode = options.code ?? ErrorCodes.deadlineExceeded;
  }
}
