import { ErrorCodes, PermanentError } from "../../errors/errors.js";
import { assertValidKey } from "../keys.js";

/**
 * Where an S3 store lives, parsed from `s3://bucket/prefix?endpoint=...&region=...&forcePathStyle=true`.
 * Credentials never travel in the location: they come from the AWS SDK's default chain (environment,
 * shared config files, instance roles), so a location can be logged and shown without leaking a secret.
 */
export interface S3Location {
  bucket: string;
  /** Prepended to every key: empty, or one or more segments ending with `/`. */
  keyPrefix: string;
  /** An S3-compatible server (MinIO, R2, Ceph...); the SDK's default (AWS, or AWS_ENDPOINT_URL_S3) when absent. */
  endpoint?: string;
  /** When absent, the SDK's chain decides (AWS_REGION, shared config). */
  region?: string;
  /** Address buckets as `endpoint/bucket/key` rather than `bucket.endpoint/key`, as most self-hosted servers need. */
  forcePathStyle: boolean;
}

const knownParameters = new Set(["endpoint", "region", "forcePathStyle"]);

// S3's bucket naming rules, loosened to what S3-compatible servers also accept (underscores, capitals on
// some); what matters here is refusing what cannot be a host label or a path segment.
const bucketPattern = /^[A-Za-z0-9][A-Za-z0-9._-]{1,61}[A-Za-z0-9]$/;

const expectedForm = "s3://bucket/optional/prefix?endpoint=https://host:port&region=name&forcePathStyle=true";

/** Parses an `s3://` location. Messages name the problem but never echo the URL, which may hold secrets. */
export function parseS3Location(location: string): S3Location {
  let url: URL;
  try {
    url = new URL(location);
  } catch {
    // Not chained as the cause: URL's error carries the whole input, secrets and all.
    throw invalid("the s3:// location is not a valid URL");
  }
  if (url.protocol !== "s3:") throw invalid(`the location is not an s3:// URL`);
  if (url.username !== "" || url.password !== "") {
    throw invalid(
      "the s3:// location must not contain credentials; set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or another AWS credential source) instead",
    );
  }
  const bucket = decoded(url.hostname, "bucket");
  if (bucket === "") throw invalid("the s3:// location names no bucket");
  if (!bucketPattern.test(bucket) || bucket.includes("..")) {
    throw invalid(
      `the bucket name ${JSON.stringify(bucket)} is not valid: 3 to 63 letters, digits, dots, hyphens or underscores`,
    );
  }
  if (url.port !== "") throw invalid("the s3:// location has a port; put the server in ?endpoint= instead");
  const parsed: S3Location = { bucket, keyPrefix: keyPrefix(url.pathname), forcePathStyle: false };
  for (const [name, value] of url.searchParams) {
    if (!knownParameters.has(name)) {
      throw invalid(`unknown s3:// location parameter ${JSON.stringify(name)}`);
    }
    if (name === "endpoint") parsed.endpoint = endpoint(value);
    else if (name === "region") parsed.region = region(value);
    else parsed.forcePathStyle = flag(name, value);
  }
  return parsed;
}

function keyPrefix(pathname: string): string {
  const trimmed = decoded(pathname, "key prefix").replace(/^\/+|\/+$/g, "");
  if (trimmed === "") return "";
  try {
    assertValidKey(trimmed);
  } catch (error) {
    throw invalid(`the s3:// key prefix ${JSON.stringify(trimmed)} is not valid`, error);
  }
  return `${trimmed}/`;
}

function endpoint(value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw invalid("the s3:// endpoint parameter is not a URL (e.g. endpoint=http://127.0.0.1:9000)");
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw invalid("the s3:// endpoint parameter must be an http: or https: URL");
  }
  if (url.username !== "" || url.password !== "") {
    throw invalid("the s3:// endpoint parameter must not contain credentials");
  }
  return url.href.replace(/\/$/, "");
}

function region(value: string): string {
  if (!/^[a-z0-9-]{1,64}$/i.test(value)) {
    throw invalid("the s3:// region parameter must be letters, digits and hyphens (e.g. us-east-1)");
  }
  return value;
}

function flag(name: string, value: string): boolean {
  if (value === "true" || value === "") return true;
  if (value === "false") return false;
  throw invalid(`the s3:// ${name} parameter must be true or false`);
}

function decoded(text: string, what: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    throw invalid(`the s3:// ${what} has a malformed %-escape`);
  }
}

function invalid(problem: string, cause?: unknown): PermanentError {
  return new PermanentError(ErrorCodes.invalidArgument, `${problem}; expected ${expectedForm}`, {
    cause,
  });
}
