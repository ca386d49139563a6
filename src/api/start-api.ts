import { randomBytes } from "node:crypto";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { FastifyInstance } from "fastify";
import { loadPipelineDir } from "../pipeline/load-pipelines.js";
import type { Runtime } from "../runtime/open-runtime.js";
import { type ApiLimits, apiLimitDefaults } from "./api-dependencies.js";
import { apiKeyAuthenticator } from "./api-keys.js";
import { buildApi } from "./app.js";
import { ApiMetrics } from "./metrics.js";
import { UrlSigner } from "./url-signer.js";

/** Builds the API on a runtime: bundled pipelines, key authentication, URL signing, metrics. */
export async function createApi(
  runtime: Runtime,
  options: {
    pipelinesDir: string;
    limits?: Partial<ApiLimits>;
    /** The embedded worker's slots, reported in /metrics. */
    workerSlots?: () => { busy: number; total: number };
  },
): Promise<FastifyInstance> {
  const { config, engine, storage, catalog, backend, log } = runtime;
  const secret = config.secret ?? (await localSecret(config.dataDir));
  const metrics = new ApiMetrics(engine);
  if (options.workerSlots !== undefined) metrics.trackWorkerSlots(options.workerSlots);
  return buildApi({
    engine,
    storage,
    uploads: backend.uploads,
    catalog,
    pipelines: await loadPipelineDir(options.pipelinesDir, catalog),
    authenticate: apiKeyAuthenticator(backend.apiKeys),
    signer: new UrlSigner(Buffer.from(secret)),
    metrics,
    log,
    uploadTmpDir: join(config.tmpDir, "tus-uploads"),
    limits: {
      ...apiLimitDefaults,
      eventPollMs: config.pollMs,
      requestsPerMinute: config.rateLimitPerMinute,
      allowPrivateImports: config.allowPrivateImports,
      ...options.limits,
    },
    triggers: await runtime.triggerSettings(),
    async ready() {
      await backend.reads.jobCounts();
      await storage.stat("readiness-probe");
    },
  });
}

/**
 * The URL-signing secret of a single-machine install, made on first start and kept next to the data,
 * readable only by its owner. Deployments with several API processes set MEDIAFLOW_SECRET instead.
 */
async function localSecret(dataDir: string): Promise<string> {
  const path = join(dataDir, "url-signing-secret");
  try {
    return (await readFile(path, "utf8")).trim();
  } catch {
    await mkdir(dataDir, { recursive: true });
    const secret = randomBytes(32).toString("base64url");
    await writeFile(path, `${secret}\n`, { mode: 0o600, flag: "wx" }).catch(async () => undefined);
    return (await readFile(path, "utf8")).trim();
  }
}
