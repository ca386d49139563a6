/**
 * The API server `bench/api.ts` measures, in a process of its own so that its memory is measured apart
 * from the load generator's: a real SQLite database, local storage and an embedded worker in the
 * directory named by the first argument. Speaks to its parent over the IPC channel (see ApiServerMessage).
 */
import { createApiKey } from "../src/api/api-keys.js";
import { createApi } from "../src/api/start-api.js";
import { loadConfig } from "../src/config/config.js";
import { bundledPipelinesDir } from "../src/pipeline/bundled-pipelines.js";
import { createLogger } from "../src/runtime/logger.js";
import { openRuntime } from "../src/runtime/open-runtime.js";
import { builtinCatalog } from "../src/steps/builtin-steps.js";

/** From the server to the bench. */
export type ApiServerMessage =
  | { type: "ready"; url: string; key: string }
  | { type: "rss"; beforeBytes: number; peakBytes: number; samples: number };

/** From the bench to the server. */
export type ApiBenchCommand = { type: "track-rss" } | { type: "report-rss" } | { type: "close" };

/** Resident memory is sampled this often while tracked: often enough to catch a buffer filling up. */
const rssSampleMs = 100;

/** High enough that the rate limiter never answers 429 while it is being measured, yet still runs. */
const requestsPerMinute = 10_000_000;

async function main(): Promise<void> {
  const dir = process.argv[2];
  const send = process.send?.bind(process);
  if (dir === undefined || send === undefined) throw new Error("usage: forked with a data directory");
  const config = loadConfig({}, { dataDir: dir, tmpDir: dir, logLevel: "silent" });
  const runtime = await openRuntime(config, builtinCatalog(), createLogger("silent"));
  const worker = runtime.createWorker();
  const app = await createApi(runtime, {
    pipelinesDir: bundledPipelinesDir,
    limits: { requestsPerMinute },
    workerSlots: () => ({ busy: worker.activeTasks, total: config.concurrency }),
  });
  const url = await app.listen({ host: "127.0.0.1", port: 0 });
  worker.start();
  const { key } = await createApiKey(runtime.backend.apiKeys, "bench");

  let tracking:
    | { beforeBytes: number; peakBytes: number; samples: number; timer: NodeJS.Timeout }
    | undefined;
  const sample = () => {
    if (tracking === undefined) return;
    tracking.peakBytes = Math.max(tracking.peakBytes, process.memoryUsage.rss());
    tracking.samples++;
  };
  process.on("message", async (command: ApiBenchCommand) => {
    if (command.type === "track-rss") {
      const beforeBytes = process.memoryUsage.rss();
      clearInterval(tracking?.timer);
      tracking = { beforeBytes, peakBytes: beforeBytes, samples: 1, timer: setInterval(sample, rssSampleMs) };
    } else if (command.type === "report-rss" && tracking !== undefined) {
      sample();
      clearInterval(tracking.timer);
      const { beforeBytes, peakBytes, samples } = tracking;
      tracking = undefined;
      send({ type: "rss", beforeBytes, peakBytes, samples } satisfies ApiServerMessage);
    } else if (command.type === "close") {
      clearInterval(tracking?.timer);
      await app.close();
      await runtime.close();
      process.disconnect();
    }
  });
  send({ type: "ready", url, key } satisfies ApiServerMessage);
}

main().catch((error: unknown) => {
  process.stderr.write(
    `bench api server failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
  );
  process.exitCode = 1;
  process.disconnect?.();
});
