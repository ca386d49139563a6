import { availableParallelism } from "node:os";
import { join, resolve } from "node:path";
import { z } from "zod";
import { ErrorCodes, ValidationError } from "../errors/errors.js";
import { parseDuration } from "../util/duration.js";

/**
 * Configuration: one schema for the environment and the flags, defaults in one object, resolved once into
 * a frozen value that is passed to whoever needs it. Nothing else reads process.env.
 */
export const configDefaults = Object.freeze({
  dataDir: "./data",
  /**
   * 10 s: a crashed worker's task is taken over within about 10-15 s, and a step is only considered hung
   * after 10 s without progress (ffmpeg reports twice a second).
   */
  leaseMs: 10_000,
  /** Idle workers look for work from other processes this often; work from this process wakes them at once. */
  pollMs: 500,
  shutdownGraceMs: 30_000,
  /** One attempt of a step may run this long unless its pipeline or type says otherwise. */
  stepTimeoutMs: 60 * 60_000,
  concurrency: Math.max(1, availableParallelism()),
  logLevel: "info",
  port: 8080,
  // 20 requests a second per key: plenty for a product's backend, a brake on a runaway client.
  rateLimitPerMinute: 1200,
  /** Loopback unless told otherwise: exposing the API is a decision, not a default. */
  host: "127.0.0.1",
});

const durationMs = z.union([z.number(), z.string()]).transform((value, ctx) => {
  const ms = parseDuration(value);
  if (ms === undefined) {
    ctx.addIssue({ code: "custom", message: `"${value}" is not a duration (e.g. 500ms, 10s, 5m)` });
    return z.NEVER;
  }
  return ms;
});

/** An on/off setting: `1`/`true` or `0`/`false` in the environment. */
const flag = z
  .union([z.boolean(), z.enum(["1", "0", "true", "false"])])
  .transform((value) => value === true || value === "1" || value === "true")
  .default(false);

const configSchema = z.object({
  dataDir: z.string().min(1).default(configDefaults.dataDir),
  databaseUrl: z.string().min(1).optional(),
  storageUrl: z.string().min(1).optional(),
  leaseMs: durationMs.pipe(z.number().min(500, "must be at least 500ms")).default(configDefaults.leaseMs),
  pollMs: durationMs.pipe(z.number().min(10)).default(configDefaults.pollMs),
  shutdownGraceMs: durationMs.default(configDefaults.shutdownGraceMs),
  stepTimeoutMs: durationMs.pipe(z.number().min(1)).default(configDefaults.stepTimeoutMs),
  concurrency: z.coerce.number().int().min(1).max(1024).default(configDefaults.concurrency),
  logLevel: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
  tmpDir: z.string().min(1).optional(),
  port: z.coerce.number().int().min(0).max(65535).default(configDefaults.port),
  rateLimitPerMinute: z.coerce
    .number()
    .int()
    .min(1)
    .max(10_000_000)
    .default(configDefaults.rateLimitPerMinute),
  host: z.string().min(1).default(configDefaults.host),
  /** Signs download and upload URLs; every API process of one deployment must share it. */
  secret: z.string().min(32, "must be at least 32 characters").optional(),
  /** Webhook URLs may reach loopback, private and link-local addresses (off: an API client could reach internal services). */
  allowPrivateWebhooks: flag,
  allowPrivateImports: flag,
  triggersFile: z.string().min(1).optional(),
  inboxDir: z.string().min(1).optional(),
  /** Shared with the bucket's notification target; long enough that guessing it is hopeless. */
  s3HookSecret: z.string().min(16, "must be at least 16 characters").optional(),
});

export type ConfigInput = z.input<typeof configSchema>;

export interface Config {
  readonly dataDir: string;
  /** A SQLite file path (later also a postgres:// URL). */
  readonly databaseUrl: string;
  /** A directory (later also an s3:// URL). */
  readonly storageUrl: string;
  readonly leaseMs: number;
  readonly pollMs: number;
  readonly shutdownGraceMs: number;
  readonly stepTimeoutMs: number;
  readonly concurrency: number;
  readonly logLevel: "fatal" | "error" | "warn" | "info" | "debug" | "trace" | "silent";
  readonly tmpDir: string;
  readonly port: number;
  readonly host: string;
  /** Undefined: one is generated and kept in the data directory. */
  readonly secret: string | undefined;
  readonly allowPrivateWebhooks: boolean;
  /** Let inputs be imported from loopback, private and link-local addresses. */
  readonly allowPrivateImports: boolean;
  /** API requests per minute per key. */
  readonly rateLimitPerMinute: number;
  /** The watch rules file; undefined: `<dataDir>/triggers.yaml` when it exists, else no rules. */
  readonly triggersFile: string | undefined;
  /** The folder watched for dropped files (default `<dataDir>/inbox`). */
  readonly inboxDir: string;
  /** Authenticates POST /v1/hooks/s3; undefined: the hook is off. */
  readonly s3HookSecret: string | undefined;
}

/** The environment variables each setting is read from. */
export const environmentNames: Readonly<Record<keyof ConfigInput, string>> = Object.freeze({
  dataDir: "MEDIAFLOW_DATA_DIR",
  databaseUrl: "MEDIAFLOW_DATABASE_URL",
  storageUrl: "MEDIAFLOW_STORAGE_URL",
  leaseMs: "MEDIAFLOW_LEASE",
  pollMs: "MEDIAFLOW_POLL_INTERVAL",
  shutdownGraceMs: "MEDIAFLOW_SHUTDOWN_GRACE",
  stepTimeoutMs: "MEDIAFLOW_STEP_TIMEOUT",
  concurrency: "MEDIAFLOW_CONCURRENCY",
  logLevel: "MEDIAFLOW_LOG_LEVEL",
  tmpDir: "MEDIAFLOW_TMP_DIR",
  port: "MEDIAFLOW_PORT",
  host: "MEDIAFLOW_HOST",
  secret: "MEDIAFLOW_SECRET",
  allowPrivateWebhooks: "MEDIAFLOW_ALLOW_PRIVATE_WEBHOOKS",
  allowPrivateImports: "MEDIAFLOW_ALLOW_PRIVATE_IMPORTS",
  rateLimitPerMinute: "MEDIAFLOW_RATE_LIMIT",
  triggersFile: "MEDIAFLOW_TRIGGERS",
  inboxDir: "MEDIAFLOW_INBOX_DIR",
  s3HookSecret: "MEDIAFLOW_S3_HOOK_SECRET",
});

/**
 * Resolves the configuration from the environment and flags (flags win). Throws a ValidationError naming
 * the variable or flag that is wrong.
 */
export function loadConfig(env: NodeJS.ProcessEnv, flags: Partial<ConfigInput> = {}): Config {
  const fromEnv: Record<string, string> = {};
  for (const [key, name] of Object.entries(environmentNames)) {
    const value = env[name];
    if (value !== undefined && value !== "") fromEnv[key] = value;
  }
  const defined = Object.fromEntries(Object.entries(flags).filter(([, value]) => value !== undefined));
  const parsed = configSchema.safeParse({ ...fromEnv, ...defined });
  if (!parsed.success) {
    const issues = parsed.error.issues.map((issue) => {
      const key = String(issue.path[0] ?? "");
      const where = key in defined ? `--${kebab(key)}` : (environmentNames[key as keyof ConfigInput] ?? key);
      return { path: where, message: issue.message };
    });
    throw new ValidationError(ErrorCodes.invalidArgument, issues, "configuration");
  }
  const value = parsed.data;
  const dataDir = resolve(value.dataDir);
  return Object.freeze({
    ...value,
    dataDir,
    databaseUrl: value.databaseUrl ?? join(dataDir, "mediaflow.db"),
    storageUrl: value.storageUrl ?? join(dataDir, "blobs"),
    // Beside the data, not in the OS temp dir: outputs are then renamed into a local store on the same
    // disk instead of copied, and a long video's intermediates never land in a RAM-backed /tmp.
    tmpDir: value.tmpDir === undefined ? join(dataDir, "tmp") : resolve(value.tmpDir),
    secret: value.secret,
    triggersFile: value.triggersFile === undefined ? undefined : resolve(value.triggersFile),
    inboxDir: resolve(value.inboxDir ?? join(dataDir, "inbox")),
    s3HookSecret: value.s3HookSecret,
  });
}

function kebab(name: string): string {
  return name.replace(/[A-Z]/g, (letter) => `-${letter.toLowerCase()}`);
}
