import type { Writable } from "node:stream";

/** What a command gets: its arguments and where to write; it returns the exit code. */
export interface CommandContext {
  args: string[];
  env: NodeJS.ProcessEnv;
  stdout: NodeJS.WriteStream;
  stderr: Writable;
  /** Aborted on the first SIGINT/SIGTERM. */
  signal: AbortSignal;
  /** Resolves on a second SIGINT/SIGTERM: stop now. */
  forced: Promise<void>;
}

export type Command = (context: CommandContext) => Promise<number>;
