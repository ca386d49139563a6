/** Exit codes: scripts can tell "the job failed" from "you called me wrong". */
export const ExitCodes = {
  ok: 0,
  /** The job or the operation failed. */
  failed: 1,
  /** Bad arguments, a missing file, an invalid pipeline. */
  usage: 2,
  /** Stopped by SIGINT/SIGTERM. */
  interrupted: 130,
} as const;

/** A failure the CLI reports as one line, without a stack trace. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number = ExitCodes.usage,
  ) {
    super(message);
    this.name = "CliError";
  }
}

/** `--help` or `-h` after a command: its usage goes to standard output and the exit code is 0. */
export class HelpRequested extends Error {
  constructor(readonly usage: string) {
    super(usage);
    this.name = "HelpRequested";
  }
}
