import { access } from "node:fs/promises";
import { join } from "node:path";
import type { Config } from "../config/config.js";
import { parseS3Location } from "../storage/s3/s3-location.js";
import { loadTriggerRules, type TriggerRule } from "./trigger-rules.js";

/** The rules and the settings the inbox watcher and the bucket hook share, resolved once at start. */
export interface TriggerSettings {
  readonly rules: readonly TriggerRule[];
  /** Where the rules came from, for messages; undefined when there is no rules file. */
  readonly rulesFile: string | undefined;
  readonly inboxDir: string;
  /** Undefined: POST /v1/hooks/s3 answers 404. */
  readonly s3HookSecret: string | undefined;
  /** The bucket and prefix of an S3 store, which event keys are made relative to; undefined for local. */
  readonly storeLocation: { bucket: string; keyPrefix: string } | undefined;
}

/**
 * Reads the rules file the configuration names; with none named, `<dataDir>/triggers.yaml` when it
 * exists, else no rules (nothing is watched).
 */
export async function loadTriggerSettings(config: Config): Promise<TriggerSettings> {
  const defaultFile = join(config.dataDir, "triggers.yaml");
  const rulesFile = config.triggersFile ?? ((await exists(defaultFile)) ? defaultFile : undefined);
  const rules = rulesFile === undefined ? [] : await loadTriggerRules(rulesFile);
  const storeLocation = config.storageUrl.toLowerCase().startsWith("s3:")
    ? parseS3Location(config.storageUrl)
    : undefined;
  return Object.freeze({
    rules,
    rulesFile,
    inboxDir: config.inboxDir,
    s3HookSecret: config.s3HookSecret,
    storeLocation:
      storeLocation === undefined
        ? undefined
        : { bucket: storeLocation.bucket, keyPrefix: storeLocation.keyPrefix },
  });
}

async function exists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}
