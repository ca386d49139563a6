import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { createApiKey } from "../../api/api-keys.js";
import { createApi } from "../../api/start-api.js";
import { loadConfig } from "../../config/config.js";
import { bundledPipelinesDir } from "../../pipeline/bundled-pipelines.js";
import { loadPipelineDir } from "../../pipeline/load-pipelines.js";
import { checkMediaTools } from "../../runtime/check-media-tools.js";
import { createLogger } from "../../runtime/logger.js";
import { openRuntime, type Runtime } from "../../runtime/open-runtime.js";
import { builtinCatalog } from "../../steps/builtin-steps.js";
import type { InboxWatcher } from "../../triggers/inbox-watcher.js";
import { checkRulePipelines } from "../../triggers/trigger-rules.js";
import { parseCommandArgs, parseIntegerOption } from "../args.js";
import { CliError, ExitCodes } from "../cli-error.js";
import type { Command } from "../command.js";

const usage =
  "mediaflow serve [--port 8080] [--host 127.0.0.1] [--workers N | --no-workers] [--pipelines DIR]";

/**
 * The HTTP API with the bundled pipelines and, unless --no-workers, an embedded worker running N tasks at
 * once. On first start with no API key it makes one for tenant `default`, prints it once and keeps it in a
 * file only its owner can read.
 */
export const serveCommand: Command = async (context) => {
  const { values, positionals } = parseCommandArgs(
    "serve",
    context.args,
    {
      port: { type: "string" },
      host: { type: "string" },
      workers: { type: "string" },
      "no-workers": { type: "boolean" },
      pipelines: { type: "string" },
    },
    usage,
  );
  if (positionals.length > 0)
    throw new CliError(`unexpected arguments: ${positionals.join(" ")}\nusage: ${usage}`);
  const workers = parseIntegerOption(values.workers, "workers");
  if (workers !== undefined && workers < 1)
    throw new CliError("--workers must be at least 1 (or use --no-workers)");
  const config = loadConfig(context.env, { port: values.port, host: values.host, concurrency: workers });
  const log = createLogger(config.logLevel);
  const runtime = await openRuntime(config, builtinCatalog(), log);
  try {
    const worker = values["no-workers"] ? undefined : runtime.createWorker();
    const pipelinesDir = values.pipelines ?? bundledPipelinesDir;
    const app = await createApi(runtime, {
      pipelinesDir,
      ...(worker === undefined
        ? {}
        : { workerSlots: () => ({ busy: worker.activeTasks, total: config.concurrency }) }),
    });
    await firstKey(runtime, context.stdout);
    const address = await app.listen({ port: config.port, host: config.host });
    if (worker !== undefined) await checkMediaTools(log);
    worker?.start();
    // Webhooks go out from the API process: every job's events reach the outbox wherever it runs.
    const webhooks = runtime.createWebhookDeliverer();
    webhooks.start();
    // So does retention: one sweeper per API process; claims keep several from deleting the same job.
    const retention = runtime.createRetentionSweeper();
    retention.start();
    // And the inbox: files dropped into it start the pipelines of the watch rules.
    const inbox = await startInbox(runtime, pipelinesDir);
    context.stdout.write(
      `mediaflow API listening on ${address} (${worker === undefined ? "no embedded workers" : `embedded worker, ${config.concurrency} at once`})\n`,
    );
    await new Promise<void>((resolve) => {
      if (context.signal.aborted) resolve();
      context.signal.addEventListener("abort", () => resolve(), { once: true });
    });
    log.info("stopping: no new requests, finishing running tasks (signal again to force)");
    void context.forced.then(() => worker?.stop({ force: true }));
    await app.close();
    await worker?.stop();
    await webhooks.stop();
    await retention.stop();
    await inbox?.stop();
    return ExitCodes.ok;
  } finally {
    await runtime.close();
  }
};

async function firstKey(runtime: Runtime, stdout: NodeJS.WriteStream): Promise<void> {
  if ((await runtime.backend.apiKeys.list()).length > 0) return;
  const { key } = await createApiKey(runtime.backend.apiKeys, "default", "created on first start");
  await mkdir(runtime.config.dataDir, { recursive: true });
  const path = join(runtime.config.dataDir, "initial-api-key");
  await writeFile(path, `${key}\n`, { mode: 0o600 });
  stdout.write(
    `No API key existed, so one was made for tenant "default":\n\n  ${key}\n\nIt is shown once; a copy is kept in ${path} (readable only by its owner).\n`,
  );
}

/** Watches the inbox when there are watch rules; nothing to watch otherwise. */
async function startInbox(runtime: Runtime, pipelinesDir: string): Promise<InboxWatcher | undefined> {
  const settings = await runtime.triggerSettings();
  if (settings.rules.length === 0) return undefined;
  const pipelines = await loadPipelineDir(pipelinesDir, runtime.catalog);
  checkRulePipelines(settings.rules, pipelines, settings.rulesFile ?? "trigger rules");
  await mkdir(settings.inboxDir, { recursive: true });
  const watcher = runtime.createInboxWatcher(settings, pipelines);
  watcher.start();
  runtime.log.info({ inbox: settings.inboxDir, rules: settings.rules.length }, "watching the inbox");
  return watcher;
}
