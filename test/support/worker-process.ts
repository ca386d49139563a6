import { type ChildProcess, spawn } from "node:child_process";
import { fileURLToPath } from "node:url";

/** The compiled CLI (tests run from dist/test/...). */
export const cliPath = fileURLToPath(new URL("../../src/cli/main.js", import.meta.url));

/** Starts `mediaflow worker` as a real process on the given database and store. */
export function spawnWorker(env: Record<string, string>, args: string[] = []): ChildProcess {
  return spawn(process.execPath, [cliPath, "worker", ...args], {
    env: { PATH: process.env.PATH ?? "", MEDIAFLOW_LOG_LEVEL: "warn", ...env },
    stdio: ["ignore", "ignore", "pipe"],
  });
}

export function exited(child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  if (child.exitCode !== null || child.signalCode !== null) {
    return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  }
  return new Promise((resolve) => child.once("exit", (code, signal) => resolve({ code, signal })));
}
