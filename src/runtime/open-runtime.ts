import type { Logger } from "pino";
import type { Backend } from "../backend/backend.js";
import { openBackend } from "../backend/open-backend.js";
import type { Config } from "../config/config.js";
import { Engine } from "../engine/engine.js";
import { RetentionSweeper, type RetentionSweeperOptions } from "../engine/retention.js";
import { WebhookDeliverer, type WebhookDelivererOptions } from "../notify/webhook-deliverer.js";
import type { PipelineSpec } from "../pipeline/types.js";
import type { StepCatalog } from "../steps/catalog.js";
import type { BlobStore } from "../storage/blob-store.js";
import { openBlobStore } from "../storage/open-blob-store.js";
import { InboxWatcher, type InboxWatcherOptions } from "../triggers/inbox-watcher.js";
import { loadTriggerSettings, type TriggerSettings } from "../triggers/trigger-settings.js";
import { Worker, type WorkerOptions } from "../worker/worker.js";

/** Everything a command needs, opened from the configuration, and closed in reverse order. */
export interface Runtime {
  config: Config;
  backend: Backend;
  storage: BlobStore;
  engine: Engine;
  catalog: StepCatalog;
  log: Logger;
  createWorker(overrides?: Partial<WorkerOptions>): Worker;
  /** Delivers the webhook outbox once started; stopped on close. */
  createWebhookDeliverer(overrides?: Partial<WebhookDelivererOptions>): WebhookDeliverer;
  /** Deletes the files of jobs past their retention once started; stopped on close. */
  createRetentionSweeper(overrides?: Partial<RetentionSweeperOptions>): RetentionSweeper;
  /** The watch rules file, read once (only by the processes that use it: a bad file stops those). */
  triggerSettings(): Promise<TriggerSettings>;
  /** Watches the inbox folder for the rules once started; stopped on close. */
  createInboxWatcher(
    settings: TriggerSettings,
    pipelines: ReadonlyMap<string, PipelineSpec>,
    overrides?: Partial<InboxWatcherOptions>,
  ): InboxWatcher;
  close(): Promise<void>;
}

export async function openRuntime(config: Config, catalog: StepCatalog, log: Logger): Promise<Runtime> {
  const backend = await openBackend(config.databaseUrl);
  let storage: BlobStore;
  try {
    storage = await openBlobStore(config.storageUrl);
  } catch (error) {
    await backend.close();
    throw error;
  }
  const engine = new Engine({ backend, catalog });
  const workers: Worker[] = [];
  const deliverers: WebhookDeliverer[] = [];
  const sweepers: RetentionSweeper[] = [];
  const watchers: InboxWatcher[] = [];
  let triggers: Promise<TriggerSettings> | undefined;
  let closing: Promise<void> | undefined;
  return {
    config,
    backend,
    storage,
    engine,
    catalog,
    log,
    createWorker(overrides = {}) {
      const worker = new Worker({
        engine,
        catalog,
        storage,
        log,
        concurrency: config.concurrency,
        leaseMs: config.leaseMs,
        pollMs: config.pollMs,
        shutdownGraceMs: config.shutdownGraceMs,
        tmpDir: config.tmpDir,
        defaultTimeoutMs: config.stepTimeoutMs,
        ...overrides,
      });
      workers.push(worker);
      return worker;
    },
    createWebhookDeliverer(overrides = {}) {
      const deliverer = new WebhookDeliverer({
        backend,
        log,
        allowPrivateAddresses: config.allowPrivateWebhooks,
        notifications: engine.notifications,
        ...overrides,
      });
      deliverers.push(deliverer);
      return deliverer;
    },
    createRetentionSweeper(overrides = {}) {
      const sweeper = new RetentionSweeper({ backend, storage, log, ...overrides });
      sweepers.push(sweeper);
      return sweeper;
    },
    triggerSettings() {
      triggers ??= loadTriggerSettings(config);
      return triggers;
    },
    createInboxWatcher(settings, pipelines, overrides = {}) {
      const watcher = new InboxWatcher({
        dir: settings.inboxDir,
        rules: settings.rules,
        pipelines,
        engine,
        storage,
        log,
        ...overrides,
      });
      watchers.push(watcher);
      return watcher;
    },
    close() {
      closing ??= closeAll(
        [
          ...workers.map((worker) => () => worker.stop()),
          ...deliverers.map((d) => () => d.stop()),
          ...sweepers.map((sweeper) => () => sweeper.stop()),
          ...watchers.map((watcher) => () => watcher.stop()),
        ],
        [() => storage.close(), () => backend.close()],
      );
      return closing;
    },
  };
}

async function closeAll(...groups: (() => Promise<void>)[][]): Promise<void> {
  const failures: unknown[] = [];
  for (const group of groups) {
    const results = await Promise.allSettled(group.map((close) => close()));
    for (const result of results) if (result.status === "rejected") failures.push(result.reason);
  }
  if (failures.length > 0) throw new AggregateError(failures, "closing did not finish cleanly");
}
