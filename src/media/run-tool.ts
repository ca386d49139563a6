import { spawn } from "node:child_process";
import { basename } from "node:path";
import { StringDecoder } from "node:string_decoder";
import { ErrorCodes, MediaflowError } from "../errors/errors.js";

/**
 * Runs one external program (ffmpeg, ffprobe) the way every media step must: no shell, an explicit
 * environment, stdin closed, bounded memory for its output, a timeout, an AbortSignal, and a kill that is
 * always followed by waiting for the exit, so no child outlives the promise that started it.
 */

export interface RunToolOptions {
  /** The executable: an absolute path (as `detectTools` returns) or a bare name looked up on PATH. */
  command: string;
  args: readonly string[];
  /** The name used in messages; defaults to the command's basename. */
  name?: string;
  /**
   * Variables for the child on top of PATH and LANG=C. Nothing else is inherited from this process:
   * a worker's environment holds database URLs and storage keys that ffmpeg has no business seeing.
   */
  env?: Readonly<Record<string, string>>;
  cwd?: string;
  /** Aborting stops the child; the signal's reason becomes the error's cause. */
  signal?: AbortSignal;
  /** Stops the child after this long (code `timeout`). Keep it shorter than the task's lease. */
  timeoutMs?: number;
  /**
   * Stops the child when stdout has been silent this long (code `timeout`, "stalled"). Meant for ffmpeg
   * with `-progress pipe:1`, which writes a block every 0.5 s while it is making progress.
   */
  inactivityMs?: number;
  /** How long to wait after SIGTERM before SIGKILL (default 2000 ms). */
  killGraceMs?: number;
  /** Receives stdout line by line (without the newline); stdout is then not collected. */
  onStdoutLine?: (line: string) => void;
  /** The most stdout collected, or the longest line passed on (default 4 MiB); more stops the child. */
  maxStdoutBytes?: number;
  /** How much of the end of stderr is kept for error messages (default 8 KiB). */
  stderrTailBytes?: number;
  /** Called once the child is running, with its pid (for logs, and for tests that check it is gone). */
  onSpawn?: (pid: number) => void;
}

export interface ToolResult {
  /** Everything written to stdout; empty when `onStdoutLine` consumed it. */
  stdout: string;
  /** The end of stderr (warnings a successful run printed). */
  stderrTail: string;
  elapsedMs: number;
}

export interface ToolErrorInit {
  tool: string;
  args: readonly string[];
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  stderrTail: string;
  retryable?: boolean;
  cause?: unknown;
  details?: Record<string, unknown>;
}

/**
 * A tool that could not start, failed, or was stopped. `code` is `tool_missing`, `tool_failed`,
 * `timeout` or `cancelled`; for `cancelled`, `cause` is the AbortSignal's reason, so a caller can tell a
 * user's cancel from a worker shutting down.
 */
export class ToolError extends MediaflowError {
  readonly tool: string;
  readonly args: readonly string[];
  readonly exitCode: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stderrTail: string;

  constructor(code: string, message: string, init: ToolErrorInit) {
    super(code, message, {
      retryable: init.retryable ?? true,
      cause: init.cause,
      details: {
        tool: init.tool,
        args: [...init.args],
        exitCode: init.exitCode,
        signal: init.signal,
        stderrTail: init.stderrTail,
        ...init.details,
      },
    });
    this.tool = init.tool;
    this.args = init.args;
    this.exitCode = init.exitCode;
    this.signal = init.signal;
    this.stderrTail = init.stderrTail;
  }
}

/** Long enough for ffmpeg to finish writing a trailer after SIGTERM, short enough not to hold up a shutdown. */
const DEFAULT_KILL_GRACE_MS = 2_000;
/** ffprobe's JSON for a file with hundreds of streams is a few hundred KiB; 4 MiB leaves room, not a leak. */
const DEFAULT_MAX_STDOUT_BYTES = 4 * 1024 * 1024;
/** Enough for ffmpeg's last few error lines, which is where the reason for a failure is. */
const DEFAULT_STDERR_TAIL_BYTES = 8 * 1024;
/**
 * After the child has exited, how long to wait for its pipes to close. They close at once unless a
 * grandchild inherited them; then we stop reading rather than wait for a process we did not start.
 */
const PIPE_CLOSE_WAIT_MS = 1_000;
/** Used only when this process has no PATH at all. */
const FALLBACK_PATH = "/usr/local/bin:/usr/bin:/bin";

/** Why we asked the child to stop; the first reason wins. */
type StopReason =
  | { kind: "timeout" }
  | { kind: "inactivity" }
  | { kind: "abort"; reason: unknown }
  | { kind: "stdout-limit" }
  | { kind: "callback"; error: unknown };

/**
 * Runs `command` and resolves when it exits with code 0. Rejects with a ToolError otherwise — or, when
 * `onStdoutLine` or `onSpawn` throws, with what it threw. Either way the child has exited before the promise settles.
 *
 * States: running → (timeout | inactivity | abort | stdout limit | callback error: SIGTERM sent) →
 * (grace elapsed: SIGKILL sent) → exited → pipes closed → settled. A spawn failure goes straight to settled.
 */
export function runTool(options: RunToolOptions): Promise<ToolResult> {
  const name = options.name ?? basename(options.command);
  const args = [...options.args];
  const killGraceMs = options.killGraceMs ?? DEFAULT_KILL_GRACE_MS;
  const maxStdoutBytes = options.maxStdoutBytes ?? DEFAULT_MAX_STDOUT_BYTES;
  const stderrTail = new TailBuffer(options.stderrTailBytes ?? DEFAULT_STDERR_TAIL_BYTES);
  const { signal } = options;

  if (signal?.aborted) {
    return Promise.reject(
      cancelledError(name, args, { exitCode: null, signal: null, stderrTail: "" }, signal.reason),
    );
  }

  return new Promise<ToolResult>((resolve, reject) => {
    const startedAt = Date.now();
    const child = spawn(options.command, args, {
      shell: false,
      detached: false,
      stdio: ["ignore", "pipe", "pipe"],
      cwd: options.cwd,
      env: { PATH: process.env.PATH ?? FALLBACK_PATH, LANG: "C", ...options.env },
      windowsHide: true,
    });

    let stopReason: StopReason | undefined;
    let spawnError: NodeJS.ErrnoException | undefined;
    let escalated = false;
    let settled = false;
    let exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
    const timers = new Set<NodeJS.Timeout>();
    let inactivityTimer: NodeJS.Timeout | undefined;

    const stdoutChunks: Buffer[] = [];
    let stdoutBytes = 0;
    const lines = options.onStdoutLine === undefined ? undefined : new LineSplitter();

    const later = (ms: number, action: () => void): NodeJS.Timeout => {
      const timer = setTimeout(() => {
        timers.delete(timer);
        action();
      }, ms);
      timers.add(timer);
      return timer;
    };

    const stop = (reason: StopReason): void => {
      if (stopReason !== undefined || exit !== undefined || spawnError !== undefined) return;
      stopReason = reason;
      child.kill("SIGTERM");
      later(killGraceMs, () => {
        if (exit !== undefined) return;
        escalated = true;
        child.kill("SIGKILL");
      });
    };

    const onAbort = (): void => stop({ kind: "abort", reason: signal?.reason });
    signal?.addEventListener("abort", onAbort, { once: true });

    if (options.timeoutMs !== undefined) later(options.timeoutMs, () => stop({ kind: "timeout" }));
    const inactivityMs = options.inactivityMs;
    const touch = (): void => {
      if (inactivityMs === undefined || stopReason !== undefined) return;
      if (inactivityTimer !== undefined) {
        clearTimeout(inactivityTimer);
        timers.delete(inactivityTimer);
      }
      inactivityTimer = later(inactivityMs, () => stop({ kind: "inactivity" }));
    };
    touch();

    const deliver = (line: string): void => {
      if (stopReason !== undefined) return;
      try {
        options.onStdoutLine?.(line);
      } catch (error) {
        stop({ kind: "callback", error });
      }
    };

    child.stdout.on("data", (chunk: Buffer) => {
      touch();
      if (lines !== undefined) {
        for (const line of lines.push(chunk)) deliver(line);
        if (lines.pendingLength > maxStdoutBytes) stop({ kind: "stdout-limit" });
        return;
      }
      stdoutBytes += chunk.length;
      if (stdoutBytes > maxStdoutBytes) stop({ kind: "stdout-limit" });
      else stdoutChunks.push(chunk);
    });
    child.stderr.on("data", (chunk: Buffer) => stderrTail.push(chunk));

    child.on("spawn", () => {
      try {
        if (child.pid !== undefined) options.onSpawn?.(child.pid);
      } catch (error) {
        stop({ kind: "callback", error });
      }
    });
    child.on("error", (error: NodeJS.ErrnoException) => {
      // After a successful spawn this only reports a failed kill() of a child that is exiting anyway.
      if (child.pid !== undefined) return;
      spawnError = error;
      finish();
    });
    child.on("exit", (code, exitSignal) => {
      exit = { code, signal: exitSignal };
      later(PIPE_CLOSE_WAIT_MS, () => {
        child.stdout.destroy();
        child.stderr.destroy();
        finish();
      });
    });
    child.on("close", () => finish());

    function finish(): void {
      if (settled) return;
      if (exit === undefined && spawnError === undefined) return;
      settled = true;
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
      signal?.removeEventListener("abort", onAbort);
      if (lines !== undefined && stopReason === undefined) {
        const last = lines.end();
        if (last !== undefined) deliver(last);
      }
      const outcome = settle();
      if (outcome instanceof Error) reject(outcome);
      else resolve(outcome);
    }

    function settle(): ToolResult | Error {
      const tail = stderrTail.text();
      if (spawnError !== undefined) return spawnFailure(name, options.command, args, spawnError);
      const facts = { exitCode: exit?.code ?? null, signal: exit?.signal ?? null, stderrTail: tail };
      const init = { tool: name, args, ...facts, details: { escalatedToSigkill: escalated } };
      switch (stopReason?.kind) {
        case undefined:
          break;
        case "abort":
          return cancelledError(name, args, facts, stopReason.reason, escalated);
        case "timeout":
          return new ToolError(
            ErrorCodes.timeout,
            `${name} ran longer than its ${options.timeoutMs} ms timeout and was stopped`,
            init,
          );
        case "inactivity":
          return new ToolError(
            ErrorCodes.timeout,
            `${name} stalled: it reported no progress for ${inactivityMs} ms and was stopped`,
            { ...init, details: { ...init.details, stalled: true } },
          );
        case "stdout-limit":
          return new ToolError(
            ErrorCodes.toolFailed,
            `${name} wrote more than ${maxStdoutBytes} bytes to stdout and was stopped`,
            { ...init, retryable: false },
          );
        case "callback":
          return stopReason.error instanceof Error
            ? stopReason.error
            : new ToolError(ErrorCodes.internal, String(stopReason.error), init);
      }
      if (facts.exitCode === 0) {
        return {
          stdout: Buffer.concat(stdoutChunks).toString("utf8"),
          stderrTail: tail,
          elapsedMs: Date.now() - startedAt,
        };
      }
      const how =
        facts.exitCode !== null ? `exited with code ${facts.exitCode}` : `was killed by ${facts.signal}`;
      const last = lastLine(tail);
      return new ToolError(
        ErrorCodes.toolFailed,
        last === "" ? `${name} ${how}` : `${name} ${how}: ${last}`,
        init,
      );
    }
  });
}

function cancelledError(
  name: string,
  args: readonly string[],
  facts: { exitCode: number | null; signal: NodeJS.Signals | null; stderrTail: string },
  reason: unknown,
  escalated = false,
): ToolError {
  const why = reason instanceof Error ? reason.message : "the operation was cancelled";
  return new ToolError(ErrorCodes.cancelled, `${name} was stopped: ${why}`, {
    tool: name,
    args,
    ...facts,
    cause: reason,
    // A shutdown is worth retrying elsewhere; a user's cancel is not. The reason knows which it is.
    retryable: reason instanceof MediaflowError ? reason.retryable : false,
    details: { escalatedToSigkill: escalated },
  });
}

function spawnFailure(
  name: string,
  command: string,
  args: readonly string[],
  error: NodeJS.ErrnoException,
): ToolError {
  const init = { tool: name, args, exitCode: null, signal: null, stderrTail: "", cause: error };
  if (error.code === "ENOENT") {
    return new ToolError(ErrorCodes.toolMissing, `${name} could not be started: ${command} does not exist`, {
      ...init,
      retryable: false,
    });
  }
  if (error.code === "EACCES") {
    return new ToolError(
      ErrorCodes.toolMissing,
      `${name} could not be started: ${command} is not executable`,
      {
        ...init,
        retryable: false,
      },
    );
  }
  // EAGAIN, ENOMEM and friends: the machine is short of something, which may pass.
  return new ToolError(ErrorCodes.toolFailed, `${name} could not be started: ${error.message}`, init);
}

function lastLine(text: string): string {
  const lines = text.split("\n").map((line) => line.trim());
  return lines.findLast((line) => line !== "") ?? "";
}

/** Keeps the last `limit` bytes written to it. */
class TailBuffer {
  private chunks: Buffer[] = [];
  private bytes = 0;
  private truncated = false;

  constructor(private readonly limit: number) {}

  push(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.bytes += chunk.length;
    if (this.bytes > this.limit * 2) this.compact();
  }

  text(): string {
    this.compact();
    const text = Buffer.concat(this.chunks).toString("utf8");
    if (!this.truncated) return text;
    // The cut probably fell inside a line (or a character): start at the next whole line.
    const newline = text.indexOf("\n");
    return newline === -1 ? text : text.slice(newline + 1);
  }

  private compact(): void {
    if (this.bytes <= this.limit) return;
    const all = Buffer.concat(this.chunks);
    this.chunks = [all.subarray(all.length - this.limit)];
    this.bytes = this.limit;
    this.truncated = true;
  }
}

/** Splits a byte stream into lines, decoding UTF-8 across chunk boundaries; accepts \n and \r\n. */
class LineSplitter {
  private readonly decoder = new StringDecoder("utf8");
  private pending = "";

  get pendingLength(): number {
    return this.pending.length;
  }

  push(chunk: Buffer): string[] {
    const text = this.pending + this.decoder.write(chunk);
    const parts = text.split("\n");
    this.pending = parts.pop() ?? "";
    return parts.map(stripCarriageReturn);
  }

  end(): string | undefined {
    const rest = this.pending + this.decoder.end();
    this.pending = "";
    return rest === "" ? undefined : stripCarriageReturn(rest);
  }
}

function stripCarriageReturn(line: string): string {
  return line.endsWith("\r") ? line.slice(0, -1) : line;
}
