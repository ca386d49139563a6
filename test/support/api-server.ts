import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { z } from "zod";
import type { ApiLimits } from "../../src/api/api-dependencies.js";
import { createApiKey } from "../../src/api/api-keys.js";
import { createApi } from "../../src/api/start-api.js";
import { type ConfigInput, loadConfig } from "../../src/config/config.js";
import { bundledPipelinesDir } from "../../src/pipeline/bundled-pipelines.js";
import { openRuntime, type Runtime } from "../../src/runtime/open-runtime.js";
import { builtinCatalog } from "../../src/steps/builtin-steps.js";
import { makeCatalog } from "../../src/steps/catalog.js";
import { defineStep } from "../../src/steps/step-type.js";
import { silentLog } from "./engine-fixture.js";

/** Stores a small text file as its output: something for download tests to fetch. */
const writeText = defineStep({
  type: "test.write",
  description: "stores `text` as an output named `name`",
  params: z.strictObject({ text: z.string(), name: z.string().default("note.txt") }),
  async run(ctx) {
    const path = join(ctx.workDir, "out");
    await writeFile(path, ctx.params.text);
    return { outputs: [await ctx.saveOutput(ctx.params.name, path)] };
  },
});

export interface TestServer {
  url: string;
  runtime: Runtime;
  keys: { alice: string; bob: string };
  /** fetch against the server with a tenant's key (or none). */
  request(path: string, init?: RequestInit & { key?: string | null }): Promise<Response>;
  close(): Promise<void>;
}

/** A real API server on a free loopback port, with a SQLite database, local storage and a worker. */
export async function startTestServer(
  dir: string,
  limits: Partial<ApiLimits> = {},
  settings: Partial<ConfigInput> = {},
): Promise<TestServer> {
  const config = loadConfig(
    {},
    {
      dataDir: dir,
      tmpDir: dir,
      pollMs: 50,
      leaseMs: 5_000,
      concurrency: 4,
      logLevel: "silent",
      ...settings,
    },
  );
  const catalog = makeCatalog([...builtinCatalog().values(), writeText]);
  const runtime = await openRuntime(config, catalog, silentLog);
  const worker = runtime.createWorker();
  const app = await createApi(runtime, {
    pipelinesDir: bundledPipelinesDir,
    limits,
    workerSlots: () => ({ busy: worker.activeTasks, total: config.concurrency }),
  });
  const address = await app.listen({ host: "127.0.0.1", port: 0 });
  worker.start();
  const alice = (await createApiKey(runtime.backend.apiKeys, "alice")).key;
  const bob = (await createApiKey(runtime.backend.apiKeys, "bob")).key;
  return {
    url: address,
    runtime,
    keys: { alice, bob },
    request(path, init = {}) {
      const { key = alice, ...rest } = init;
      const headers = new Headers(rest.headers);
      if (key !== null) headers.set("authorization", `Bearer ${key}`);
      if (typeof rest.body === "string" && !headers.has("content-type"))
        headers.set("content-type", "application/json");
      return fetch(`${address}${path}`, { ...rest, headers });
    },
    async close() {
      await app.close();
      await runtime.close();
    },
  };
}
