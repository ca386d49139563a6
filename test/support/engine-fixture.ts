import { join } from "node:path";
import { pino } from "pino";
import type { Backend } from "../../src/backend/backend.js";
import { openSqliteBackend } from "../../src/backend/sqlite/sqlite-backend.js";
import { Engine } from "../../src/engine/engine.js";
import { finishedJobStatuses, type JobProjection } from "../../src/engine/projection.js";
import type { StepCatalog } from "../../src/steps/catalog.js";
import type { BlobStore } from "../../src/storage/blob-store.js";
import { createLocalBlobStore } from "../../src/storage/local/local-blob-store.js";
import { Worker, type WorkerOptions } from "../../src/worker/worker.js";

export interface EngineFixture {
  dir: string;
  databasePath: string;
  backend: Backend;
  storage: BlobStore;
  engine: Engine;
  worker(options?: Partial<WorkerOptions>): Worker;
  close(): Promise<void>;
}

export const silentLog = pino({ level: "silent" });

/** A real SQLite database and local store in `dir`, an engine, and workers that are all stopped on close. */
export async function openEngineFixture(dir: string, catalog: StepCatalog): Promise<EngineFixture> {
  const databasePath = join(dir, "mediaflow.db");
  const backend = await openSqliteBackend(databasePath);
  const storage = await createLocalBlobStore(join(dir, "blobs"));
  const engine = new Engine({ backend, catalog });
  const workers: Worker[] = [];
  return {
    dir,
    databasePath,
    backend,
    storage,
    engine,
    worker(options = {}) {
      const worker = new Worker({
        engine,
        catalog,
        storage,
        log: silentLog,
        concurrency: 4,
        leaseMs: 5_000,
        pollMs: 50,
        shutdownGraceMs: 5_000,
        tmpDir: dir,
        defaultTimeoutMs: 60_000,
        ...options,
      });
      workers.push(worker);
      return worker;
    },
    async close() {
      await Promise.all(workers.map((worker) => worker.stop({ force: true })));
      await storage.close();
      await backend.close();
    },
  };
}

/** Polls until the job has finished (or the time runs out) and returns its final state. */
export async function waitForJob(engine: Engine, jobId: string, timeoutMs = 20_000): Promise<JobProjection> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const state = await engine.getJob(jobId);
    if (state !== undefined && finishedJobStatuses.has(state.job.status)) return state;
    if (Date.now() > deadline)
      throw new Error(`job ${jobId} did not finish in ${timeoutMs} ms: ${state?.job.status}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
