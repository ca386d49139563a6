import type { Logger } from "pino";
import type { UploadStore } from "../backend/backend.js";
import type { Engine } from "../engine/engine.js";
import type { PipelineSpec } from "../pipeline/types.js";
import type { StepCatalog } from "../steps/catalog.js";
import type { BlobStore } from "../storage/blob-store.js";
import type { TriggerSettings } from "../triggers/trigger-settings.js";
import type { ApiMetrics } from "./metrics.js";
import type { UrlSigner } from "./url-signer.js";

/** Who a request acts for, from its API key. */
export interface Principal {
  tenant: string;
  keyId: string;
}

export type Authenticate = (token: string) => Promise<Principal | undefined>;

export interface ApiLimits {
  /** The largest JSON body accepted. */
  bodyBytes: number;
  /** Requests per minute per API key. */
  requestsPerMinute: number;
  /** How long a signed download URL stays valid. */
  downloadUrlTtlMs: number;
  /** How often an event stream looks for events written by other processes. */
  eventPollMs: number;
  /** How long a signed upload URL stays valid: short, as it lets anyone holding it write. */
  uploadUrlTtlMs: number;
  /** The largest upload a client may declare (also the most a URL import stores). */
  maxUploadBytes: number;
  /** How long importing an input from a URL may take, download included. */
  importTimeoutMs: number;
  /** Let URL imports reach loopback, private and link-local addresses. */
  allowPrivateImports: boolean;
}

export const apiLimitDefaults: ApiLimits = Object.freeze({
  bodyBytes: 1024 * 1024,
  requestsPerMinute: 1200,
  downloadUrlTtlMs: 60 * 60_000,
  eventPollMs: 500,
  uploadUrlTtlMs: 15 * 60_000,
  maxUploadBytes: 20 * 1024 ** 3,
  importTimeoutMs: 10 * 60_000,
  allowPrivateImports: false,
});

/** Everything the HTTP API uses, passed in explicitly so tests can build it on real parts. */
export interface ApiDependencies {
  engine: Engine;
  storage: BlobStore;
  uploads: UploadStore;
  catalog: StepCatalog;
  /** Pipelines every tenant may run by name. */
  pipelines: ReadonlyMap<string, PipelineSpec>;
  authenticate: Authenticate;
  signer: UrlSigner;
  metrics: ApiMetrics;
  log: Logger;
  limits: ApiLimits;
  /**
   * Where unfinished tus uploads wait, on this machine (default: the OS temp directory). Several API
   * machines behind a load balancer need sticky sessions for /v1/tus, or a shared store.
   */
  uploadTmpDir?: string;
  /** Checks the database and storage answer, for /readyz. */
  ready(): Promise<void>;
  /** Watch rules and the bucket hook's secret; undefined: POST /v1/hooks/s3 answers 404. */
  triggers?: TriggerSettings;
}
