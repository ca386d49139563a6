import { basename } from "node:path";
import { loadConfig } from "../../config/config.js";
import type { JobStatus } from "../../engine/projection.js";
import { parseParamAssignments } from "../../pipeline/resolve-pipeline.js";
import { createLogger } from "../../runtime/logger.js";
import { openRuntime, type Runtime } from "../../runtime/open-runtime.js";
import { builtinCatalog } from "../../steps/builtin-steps.js";
import { safeKeySegment } from "../../storage/keys.js";
import { contentTypeFor } from "../../util/content-type.js";
import { helpForAction, parseCommandArgs, parseIntegerOption, requirePositional } from "../args.js";
import { CliError, ExitCodes } from "../cli-error.js";
import type { Command, CommandContext } from "../command.js";
import { loadPipelineArg } from "../pipeline-arg.js";
import { describeEvent } from "../progress-view.js";

const usage = `mediaflow jobs list [--status S] [--pipeline P] [--limit N] [--json]
       mediaflow jobs show JOB [--json]
       mediaflow jobs events JOB [--after SEQ] [--follow] [--json]
       mediaflow jobs submit PIPELINE [INPUT] [--set key=value]... [--priority N] [--idempotency-key K]
       mediaflow jobs cancel JOB
       mediaflow jobs retry JOB [--step NAME]...`;

const statuses: readonly JobStatus[] = ["queued", "running", "succeeded", "failed", "cancelled"];

/** Inspects and steers jobs in the configured database (workers run elsewhere: `mediaflow worker`). */
export const jobsCommand: Command = async (context) => {
  const [action, ...args] = context.args;
  helpForAction(action, usage);
  const handler = action === undefined ? undefined : handlers[action];
  if (handler === undefined)
    throw new CliError(`unknown jobs command ${JSON.stringify(action ?? "")}\nusage: ${usage}`);
  const config = loadConfig(context.env);
  const runtime = await openRuntime(
    config,
    builtinCatalog(),
    createLogger(config.logLevel === "info" ? "warn" : config.logLevel),
  );
  try {
    return await handler(runtime, args, context);
  } finally {
    await runtime.close();
  }
};

type Handler = (runtime: Runtime, args: string[], context: CommandContext) => Promise<number>;

const handlers: Record<string, Handler> = {
  async list(runtime, args, { stdout }) {
    const { values } = parseCommandArgs(
      "jobs list",
      args,
      {
        status: { type: "string" },
        pipeline: { type: "string" },
        limit: { type: "string" },
        json: { type: "boolean" },
      },
      usage,
    );
    const status = values.status as JobStatus | undefined;
    if (status !== undefined && !statuses.includes(status)) {
      throw new CliError(`--status must be one of ${statuses.join(", ")}`);
    }
    const jobs = await runtime.engine.listJobs({
      status,
      pipeline: values.pipeline,
      limit: parseIntegerOption(values.limit, "limit") ?? 20,
    });
    if (values.json) {
      stdout.write(`${JSON.stringify(jobs, null, 2)}\n`);
      return ExitCodes.ok;
    }
    for (const job of jobs) {
      const progress = `${Math.round(job.progress * 100)}%`.padStart(4);
      const error = job.error === null ? "" : `  ${job.error.code}`;
      stdout.write(
        `${job.id}  ${job.status.padEnd(9)} ${progress}  ${job.pipelineName}  ${new Date(job.createdAt).toISOString()}${error}\n`,
      );
    }
    return ExitCodes.ok;
  },

  async show(runtime, args, { stdout }) {
    const { values, positionals } = parseCommandArgs("jobs show", args, { json: { type: "boolean" } }, usage);
    const id = requirePositional(positionals, 0, "JOB", usage);
    const state = await runtime.engine.getJob(id);
    if (state === undefined) throw new CliError(`job ${id} was not found`, ExitCodes.failed);
    if (values.json) {
      stdout.write(`${JSON.stringify(state, null, 2)}\n`);
      return ExitCodes.ok;
    }
    const { job } = state;
    stdout.write(`${job.id}  ${job.pipelineName}  ${job.status}\n`);
    if (job.error !== null)
      stdout.write(`error: ${job.error.code}: ${job.error.message} (step ${job.failedStep})\n`);
    for (const step of Object.values(state.steps)) {
      const error =
        step.error === null || step.status === "succeeded"
          ? ""
          : `  ${step.error.code}: ${step.error.message}`;
      stdout.write(`  ${step.name.padEnd(16)} ${step.status.padEnd(9)} attempts ${step.attempts}${error}\n`);
      for (const output of step.result?.outputs ?? []) {
        stdout.write(`      ${output.name}  ${output.contentType}  ${output.bytes} bytes  ${output.key}\n`);
      }
    }
    return ExitCodes.ok;
  },

  async events(runtime, args, { stdout, signal }) {
    const { values, positionals } = parseCommandArgs(
      "jobs events",
      args,
      { after: { type: "string" }, follow: { type: "boolean" }, json: { type: "boolean" } },
      usage,
    );
    const id = requirePositional(positionals, 0, "JOB", usage);
    if ((await runtime.engine.getJob(id)) === undefined)
      throw new CliError(`job ${id} was not found`, ExitCodes.failed);
    let after = parseIntegerOption(values.after, "after") ?? 0;
    for (;;) {
      const events = await runtime.engine.readEvents({ jobId: id, after, limit: 500 });
      for (const event of events) {
        stdout.write(
          values.json
            ? `${JSON.stringify(event)}\n`
            : `${new Date(event.at).toISOString()} ${describeEvent(event)}\n`,
        );
        after = event.seq;
      }
      const finished = events.some(
        (e) => e.type === "job.succeeded" || e.type === "job.failed" || e.type === "job.cancelled",
      );
      if (!values.follow || signal.aborted || (finished && events.length < 500)) return ExitCodes.ok;
      if (events.length < 500) await new Promise((resolve) => setTimeout(resolve, runtime.config.pollMs));
    }
  },

  async submit(runtime, args, { stdout }) {
    const { values, positionals } = parseCommandArgs(
      "jobs submit",
      args,
      {
        set: { type: "string", multiple: true, default: [] },
        priority: { type: "string" },
        "idempotency-key": { type: "string" },
      },
      usage,
    );
    const pipeline = await loadPipelineArg(
      requirePositional(positionals, 0, "PIPELINE", usage),
      runtime.catalog,
    );
    const inputPath = positionals[1];
    let input = null;
    if (inputPath !== undefined) {
      const filename = basename(inputPath);
      const key = `inputs/${Date.now().toString(36)}/${safeKeySegment(filename)}`;
      const info = await runtime.storage.putFile(key, inputPath, { contentType: contentTypeFor(filename) });
      input = { key, filename, contentType: contentTypeFor(filename), bytes: info.bytes };
    }
    const { job, created } = await runtime.engine.createJob({
      pipeline,
      input,
      params: parseParamAssignments(values.set),
      priority: parseIntegerOption(values.priority, "priority"),
      idempotencyKey: values["idempotency-key"] ?? null,
    });
    stdout.write(`${job.job.id}${created ? "" : " (existing job with this idempotency key)"}\n`);
    return ExitCodes.ok;
  },

  async cancel(runtime, args, { stdout }) {
    const { positionals } = parseCommandArgs("jobs cancel", args, {}, usage);
    const state = await runtime.engine.cancelJob(requirePositional(positionals, 0, "JOB", usage));
    stdout.write(`${state.job.id} ${state.job.status}\n`);
    return ExitCodes.ok;
  },

  async retry(runtime, args, { stdout }) {
    const { values, positionals } = parseCommandArgs(
      "jobs retry",
      args,
      { step: { type: "string", multiple: true } },
      usage,
    );
    const state = await runtime.engine.retryJob(requirePositional(positionals, 0, "JOB", usage), {
      steps: values.step,
    });
    stdout.write(`${state.job.id} ${state.job.status}\n`);
    return ExitCodes.ok;
  },
};
