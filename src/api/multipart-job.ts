import { randomBytes } from "node:crypto";
import type { FastifyRequest } from "fastify";
import { ErrorCodes, ValidationError } from "../errors/errors.js";
import type { BlobStore } from "../storage/blob-store.js";
import { safeKeySegment } from "../storage/keys.js";
import { contentTypeFor } from "../util/content-type.js";
import { principalOf } from "./principal.js";

/**
 * Turns a `multipart/form-data` job request (a `file` part and `pipeline`, `params`, `priority`,
 * `idempotencyKey` fields) into the JSON body of `POST /v1/jobs`: the file is streamed to storage under the
 * tenant's prefix as it arrives and named as the job's input, so the one schema still validates the rest.
 */
export async function multipartJobBody(
  request: FastifyRequest,
  storage: BlobStore,
  maxBytes: number,
): Promise<Record<string, unknown>> {
  const { tenant } = principalOf(request);
  const body: Record<string, unknown> = {};
  let stored = false;
  for await (const part of request.parts()) {
    if (part.type === "file") {
      if (part.fieldname !== "file" || stored) {
        part.file.resume();
        throw fieldError(part.fieldname, "only one file part, named `file`, is accepted");
      }
      const id = `upl_${randomBytes(12).toString("base64url")}`;
      const key = `tenants/${tenant}/uploads/${id}/${safeKeySegment(part.filename || "input")}`;
      const contentType =
        part.mimetype === "application/octet-stream" ? contentTypeFor(part.filename) : part.mimetype;
      await storage.put(key, part.file, { maxBytes, contentType });
      body.input = { key };
      stored = true;
      continue;
    }
    const value = String(part.value);
    switch (part.fieldname) {
      case "pipeline":
        body.pipeline = value.trimStart().startsWith("{") ? parseJson(value, "pipeline") : value;
        break;
      case "params":
        body.params = parseJson(value, "params");
        break;
      case "priority":
        body.priority = Number(value);
        break;
      case "idempotencyKey":
        body.idempotencyKey = value;
        break;
      default:
        throw fieldError(part.fieldname, "is not a field of a job request");
    }
  }
  if (!stored) throw fieldError("file", "a multipart job request needs a `file` part");
  return body;
}

function parseJson(value: string, field: string): unknown {
  try {
    return JSON.parse(value);
  } catch {
    throw fieldError(field, "is not valid JSON");
  }
}

function fieldError(field: string, message: string): ValidationError {
  return new ValidationError(ErrorCodes.invalidArgument, [{ path: `body.${field}`, message }]);
}
