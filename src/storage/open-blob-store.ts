import { resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { ErrorCodes, PermanentError } from "../errors/errors.js";
import type { BlobStore } from "./blob-store.js";
import { createLocalBlobStore } from "./local/local-blob-store.js";
import { openS3BlobStore } from "./s3/s3-blob-store.js";

const acceptedForms =
  "a directory path (e.g. ./data/blobs), a file: URL (e.g. file:///var/lib/mediaflow/blobs) or s3://bucket/prefix?endpoint=...&region=...&forcePathStyle=true";

// A URL scheme is at least two characters here, so that a Windows drive (`C:\blobs`) reads as a path.
const schemePattern = /^([a-z][a-z0-9+.-]+):/i;

/**
 * Opens the blob store a configuration names: a directory path or a `file:` URL is the local store (the
 * directory is created when missing); `s3://` is an S3 bucket (see s3/s3-location.ts), checked at open.
 */
export async function openBlobStore(location: string): Promise<BlobStore> {
  if (location.trim() === "") {
    throw new PermanentError(
      ErrorCodes.invalidArgument,
      `the blob storage location is empty; use ${acceptedForms}`,
    );
  }
  const scheme = schemePattern.exec(location)?.[1]?.toLowerCase();
  if (scheme === undefined) return createLocalBlobStore(resolve(location));
  switch (scheme) {
    case "file":
      return createLocalBlobStore(filePath(location));
    case "s3":
      return openS3BlobStore(location);
    default:
      throw new PermanentError(
        ErrorCodes.invalidArgument,
        `unsupported blob storage location scheme "${scheme}:"; use ${acceptedForms}`,
      );
  }
}

function filePath(url: string): string {
  try {
    return fileURLToPath(url);
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    throw new PermanentError(ErrorCodes.invalidArgument, `${url} is not a usable file: URL: ${message}`, {
      cause: error,
    });
  }
}
