import type { Server } from "node:http";
import { ApiMetrics } from "../../api/metrics.js";
import { loadConfig } from "../../config/config.js";
import { checkMediaTools } from "../../runtime/check-media-tools.js";
import { createLogger } from "../../runtime/logger.js";
import { startMetricsServer } from "../../runtime/metrics-server.js";
import { openRuntime } from "../../runtime/open-runtime.js";
import { builtinCatalog } from "../../steps/builtin-steps.js";
import { parseCommandArgs, parseIntegerOption } from "../args.js";
import { CliError, ExitCodes } from "../cli-error.js";
import type { Command } from "../command.js";

const usage = "mediaflow worker [--concurrency N] [--lease 10s] [--id NAME] [--metrics-port PORT]";

/**
 * Runs a worker against the configured database and storage until SIGTERM/SIGINT: the first signal stops
 * claiming and lets running tasks finish within the grace period, handing the rest back; a second forces.
 */
export const workerCommand: Command = async (context) => {
  const { values, positionals } = parseCommandArgs(
    "worker",
    context.args,
    {
      concurrency: { type: "string" },
      lease: { type: "string" },
      id: { type: "string" },
      "shutdown-grace": { type: "string" },
      "metrics-port": { type: "string" },
    },
    usage,
  );
  if (positionals.length > 0)
    throw new CliError(`unexpected arguments: ${positionals.join(" ")}\nusage: ${usage}`);
  const config = loadConfig(context.env, {
    concurrency: values.concurrency,
    leaseMs: values.lease,
    shutdownGraceMs: values["shutdown-grace"],
  });
  const log = createLogger(config.logLevel);
  const runtime = await openRuntime(config, builtinCatalog(), log);
  try {
    await checkMediaTools(log);
    const worker = runtime.createWorker(values.id === undefined ? {} : { id: values.id });
    worker.start();
    const metricsPort = parseIntegerOption(values["metrics-port"], "metrics-port");
    let metricsServer: Server | undefined;
    if (metricsPort !== undefined) {
      const metrics = new ApiMetrics(runtime.engine);
      metrics.trackWorkerSlots(() => ({ busy: worker.activeTasks, total: config.concurrency }));
      metricsServer = await startMetricsServer(metrics, metricsPort, config.host);
      log.info({ port: metricsPort }, "metrics on /metrics");
    }
    await new Promise<void>((resolve) => {
      if (context.signal.aborted) resolve();
      context.signal.addEventListener("abort", () => resolve(), { once: true });
    });
    log.info("stopping: finishing running tasks (signal again to force)");
    void context.forced.then(() => worker.stop({ force: true }));
    await worker.stop();
    metricsServer?.close();
    return ExitCodes.ok;
  } finally {
    await runtime.close();
  }
};
