#!/usr/bin/env node
import { MediaflowError, ValidationError } from "../errors/errors.js";
import { CliError, ExitCodes, HelpRequested } from "./cli-error.js";
import type { Command } from "./command.js";
import { jobsCommand } from "./commands/jobs.js";
import { keysCommand } from "./commands/keys.js";
import { pipelinesCommand } from "./commands/pipelines.js";
import { runCommand } from "./commands/run.js";
import { serveCommand } from "./commands/serve.js";
import { webhooksCommand } from "./commands/webhooks.js";
import { workerCommand } from "./commands/worker.js";

const commands: Record<string, Command> = {
  run: runCommand,
  serve: serveCommand,
  worker: workerCommand,
  keys: keysCommand,
  jobs: jobsCommand,
  pipelines: pipelinesCommand,
  webhooks: webhooksCommand,
};

const help = `mediaflow: media processing pipelines

usage:
  mediaflow run PIPELINE [INPUT] [--out DIR] [--set key=value]   run a pipeline end to end, here and now
  mediaflow serve [--port 8080] [--workers N | --no-workers]     the HTTP API, with an embedded worker
  mediaflow worker [--concurrency N]                             run a worker on the configured database
  mediaflow keys create --tenant NAME | list | revoke ID         API keys
  mediaflow jobs list|show|events|submit|cancel|retry ...        inspect and steer jobs
  mediaflow pipelines list|validate FILE|schema                  bundled pipelines, validation, JSON Schema
  mediaflow webhooks secret --tenant NAME | deliveries JOB_ID    webhook signing secret, delivery states

configuration (environment): MEDIAFLOW_DATA_DIR (./data), MEDIAFLOW_DATABASE_URL, MEDIAFLOW_STORAGE_URL,
  MEDIAFLOW_CONCURRENCY, MEDIAFLOW_LEASE, MEDIAFLOW_LOG_LEVEL
`;

async function main(argv: string[]): Promise<number> {
  const [name, ...args] = argv;
  if (name === undefined || name === "help" || name === "--help" || name === "-h") {
    process.stdout.write(help);
    return name === undefined ? ExitCodes.usage : ExitCodes.ok;
  }
  const command = commands[name];
  if (command === undefined) throw new CliError(`unknown command ${JSON.stringify(name)}\n\n${help}`);
  const controller = new AbortController();
  let forceStop: () => void = () => {};
  const forced = new Promise<void>((resolve) => {
    forceStop = resolve;
  });
  const onSignal = () => {
    if (controller.signal.aborted) forceStop();
    else controller.abort();
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  try {
    return await command({
      args,
      env: process.env,
      stdout: process.stdout,
      stderr: process.stderr,
      signal: controller.signal,
      forced,
    });
  } finally {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
  }
}

/** Errors become one line and an exit code; a stack trace only for what is truly unexpected. */
function exitCodeFor(error: unknown): number {
  if (error instanceof HelpRequested) {
    process.stdout.write(`${error.usage}\n`);
    return ExitCodes.ok;
  }
  if (error instanceof CliError) {
    process.stderr.write(`mediaflow: ${error.message}\n`);
    return error.exitCode;
  }
  if (error instanceof ValidationError) {
    process.stderr.write(`mediaflow: ${error.message}\n`);
    return ExitCodes.usage;
  }
  if (error instanceof MediaflowError) {
    process.stderr.write(`mediaflow: ${error.code}: ${error.message}\n`);
    return error.retryable ? ExitCodes.failed : ExitCodes.usage;
  }
  process.stderr.write(
    `mediaflow: unexpected error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
  );
  return ExitCodes.failed;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.exitCode = exitCodeFor(error);
  },
);
