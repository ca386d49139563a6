import { createWriteStream } from "node:fs";
import { copyFile, mkdir, mkdtemp, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { basename, dirname, join, resolve } from "node:path";
import { pipeline as pipeStreams } from "node:stream/promises";
import { loadConfig } from "../../config/config.js";
import { type JobEvent, jobEndEventTypes } from "../../engine/events.js";
import { finishedJobStatuses, type JobProjection } from "../../engine/projection.js";
import { parseParamAssignments } from "../../pipeline/resolve-pipeline.js";
import { createLogger } from "../../runtime/logger.js";
import { openRuntime, type Runtime } from "../../runtime/open-runtime.js";
import { builtinCatalog } from "../../steps/builtin-steps.js";
import type { JobInput } from "../../steps/step-type.js";
import { safeKeySegment } from "../../storage/keys.js";
import { contentTypeFor } from "../../util/content-type.js";
import { parseCommandArgs } from "../args.js";
import { CliError, ExitCodes } from "../cli-error.js";
import type { Command } from "../command.js";
import { loadPipelineArg } from "../pipeline-arg.js";
import { createProgressView } from "../progress-view.js";

const usage = "mediaflow run PIPELINE [INPUT] [--out DIR] [--set key=value]... [--concurrency N]";

/**
 * Runs one pipeline end to end in this process, on a temporary embedded database and store, and copies
 * the outputs to --out. Exit code 0 when the job succeeded.
 */
export const runCommand: Command = async (context) => {
  const { values, positionals } = parseCommandArgs(
    "run",
    context.args,
    {
      out: { type: "string", default: "out" },
      set: { type: "string", multiple: true, default: [] },
      concurrency: { type: "string" },
      "log-level": { type: "string" },
    },
    usage,
  );
  const [pipelineArg, inputArg, ...extra] = positionals;
  if (pipelineArg === undefined) throw new CliError(`missing PIPELINE\nusage: ${usage}`);
  if (extra.length > 0) throw new CliError(`unexpected arguments: ${extra.join(" ")}\nusage: ${usage}`);
  if (inputArg !== undefined) await assertReadableFile(inputArg);

  const scratch = await mkdtemp(join(tmpdir(), "mediaflow-run-"));
  const config = loadConfig(context.env, {
    databaseUrl: join(scratch, "mediaflow.db"),
    storageUrl: join(scratch, "blobs"),
    concurrency: values.concurrency,
    logLevel: (values["log-level"] as "warn" | undefined) ?? "warn",
  });
  const catalog = builtinCatalog();
  const pipeline = await loadPipelineArg(pipelineArg, catalog);
  const params = parseParamAssignments(values.set);
  const runtime = await openRuntime(config, catalog, createLogger(config.logLevel));
  try {
    const input = inputArg === undefined ? null : await storeInput(runtime, inputArg);
    const { job } = await runtime.engine.createJob({ pipeline, input, params });
    const worker = runtime.createWorker();
    worker.start();
    const final = await watchJob(runtime, job.job.id, context);
    await worker.stop();
    return await report(runtime, final, resolve(values.out), context.stdout);
  } finally {
    await runtime.close();
    await rm(scratch, { recursive: true, force: true });
  }
};

async function assertReadableFile(path: string): Promise<void> {
  const info = await stat(path).catch(() => undefined);
  if (info === undefined) throw new CliError(`input file ${JSON.stringify(path)} does not exist`);
  if (!info.isFile()) throw new CliError(`input ${JSON.stringify(path)} is not a file`);
}

async function storeInput(runtime: Runtime, path: string): Promise<JobInput> {
  const filename = basename(path);
  const key = `inputs/run/${safeKeySegment(filename)}`;
  const contentType = contentTypeFor(filename);
  const info = await runtime.storage.putFile(key, path, { contentType });
  return { key, filename, contentType, bytes: info.bytes };
}

/** Follows the job's events until it finishes; the first signal cancels it, a second stops waiting. */
async function watchJob(
  runtime: Runtime,
  jobId: string,
  context: Parameters<Command>[0],
): Promise<JobProjection> {
  const view = createProgressView(context.stdout);
  const { engine } = runtime;
  return new Promise<JobProjection>((resolvePromise, reject) => {
    let finished = false;
    // Finished once the job's last event is announced, not when the database first shows it finished: a
    // commit is visible a moment before it is durable and announced, and its events would go unprinted.
    const check = async (ended: boolean) => {
      const state = await engine.getJob(jobId);
      if (state === undefined || finished) return;
      if (ended && finishedJobStatuses.has(state.job.status)) {
        finished = true;
        engine.notifications.off("events", onEvents);
        view.finish(state);
        resolvePromise(state);
      }
      return state;
    };
    const onEvents = (events: JobEvent[]) => {
      const mine = events.filter((event) => event.jobId === jobId);
      if (mine.length === 0) return;
      check(mine.some((event) => jobEndEventTypes.has(event.type)))
        .then((state) => {
          if (!finished) view.onEvents(mine, state);
          else view.onEvents(mine, undefined);
        })
        .catch(reject);
    };
    engine.notifications.on("events", onEvents);
    context.signal.addEventListener("abort", () => {
      engine.cancelJob(jobId, "interrupted").catch(reject);
    });
    void check(true).catch(reject);
  });
}

async function report(runtime: Runtime, state: JobProjection, outDir: string, stdout: NodeJS.WriteStream) {
  const jobDir = join(outDir, state.job.id);
  const lines: string[] = [];
  for (const step of Object.values(state.steps)) {
    for (const output of step.result?.outputs ?? []) {
      const target = join(jobDir, step.name, output.name);
      await mkdir(dirname(target), { recursive: true });
      const local = runtime.storage.localPath(output.key);
      if (local !== undefined) await copyFile(local, target);
      else await pipeStreams(await runtime.storage.get(output.key), createWriteStream(target));
      lines.push(`  ${step.name}/${output.name}  ${output.contentType}  ${output.bytes} bytes  -> ${target}`);
    }
  }
  if (lines.length > 0) stdout.write(`outputs:\n${lines.join("\n")}\n`);
  if (state.job.status === "succeeded") {
    stdout.write(`job ${state.job.id} succeeded\n`);
    return ExitCodes.ok;
  }
  if (state.job.status === "cancelled") {
    stdout.write(`job ${state.job.id} cancelled\n`);
    return ExitCodes.interrupted;
  }
  const error = state.job.error;
  throw new CliError(
    `job ${state.job.id} failed at step ${state.job.failedStep ?? "?"}: ${error?.code ?? "failed"}: ${error?.message ?? ""}`,
    ExitCodes.failed,
  );
}
