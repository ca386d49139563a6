import { randomBytes } from "node:crypto";
import type { FastifyInstance } from "fastify";
import type { ZodTypeProvider } from "fastify-type-provider-zod";
import { z } from "zod";
import { coerceError, ErrorCodes } from "../../errors/errors.js";
import { safeKeySegment } from "../../storage/keys.js";
import { contentTypeFor } from "../../util/content-type.js";
import type { ApiDependencies } from "../api-dependencies.js";
import { principalOf } from "../principal.js";
import { problemFor, sendProblem } from "../problem.js";
import { problemSchema } from "../schemas.js";
import { checkSignedRequest } from "../url-signer.js";

const createUploadBody = z.strictObject({
  filename: z.string().min(1).max(255),
  contentType: z.string().min(1).max(255).optional(),
  bytes: z.int().min(1).describe("the exact size the client will send; more is refused"),
});

const uploadView = z.object({
  id: z.string(),
  method: z.literal("PUT"),
  url: z.string(),
  expiresAt: z.string(),
  maxBytes: z.number(),
});

/** `POST /v1/uploads`: asks for a signed upload URL; the file can then be named as a job's input. */
export function registerUploadRoutes(v1: FastifyInstance, deps: ApiDependencies): void {
  v1.withTypeProvider<ZodTypeProvider>().post(
    "/uploads",
    {
      schema: {
        summary: "Get a signed URL to upload one file",
        body: createUploadBody,
        response: { 201: uploadView, 413: problemSchema },
      },
    },
    async (request, reply) => {
      const { tenant } = principalOf(request);
      const { filename, bytes } = request.body;
      if (bytes > deps.limits.maxUploadBytes) {
        return sendProblem(
          reply,
          problemFor("payload_too_large", 413, `uploads are limited to ${deps.limits.maxUploadBytes} bytes`),
        );
      }
      const id = `upl_${randomBytes(12).toString("base64url")}`;
      const now = Date.now();
      const expiresAt = now + deps.limits.uploadUrlTtlMs;
      const key = `tenants/${tenant}/uploads/${id}/${safeKeySegment(filename)}`;
      const contentType = request.body.contentType ?? contentTypeFor(filename);
      await deps.uploads.insert({
        id,
        tenant,
        key,
        filename,
        contentType,
        maxBytes: bytes,
        state: "pending",
        bytes: null,
        createdAt: now,
        expiresAt,
        completedAt: null,
      });
      const path = `/uploads/${id}`;
      // On S3 the client puts the file into the bucket itself (the size and type are signed), and the
      // upload counts as complete once the object is there; otherwise it goes through PUT /uploads/:id.
      const url =
        deps.storage.directUrl === undefined
          ? `${path}?${deps.signer.sign("PUT", path, expiresAt)}`
          : await deps.storage.directUrl(key, { method: "PUT", expiresAt, contentType, bytes });
      return reply.code(201).send({
        id,
        method: "PUT" as const,
        url,
        expiresAt: new Date(expiresAt).toISOString(),
        maxBytes: bytes,
      });
    },
  );
}

/**
 * `PUT /uploads/:id?expires=&signature=`: the body streams straight to storage. Refused with 403 when the
 * signature does not match, the link expired or was used; with 413 as soon as the body passes the declared
 * size, before the rest is read.
 */
export function registerUploadTargetRoute(app: FastifyInstance, deps: ApiDependencies): void {
  app.register(async (scope) => {
    // The body is a stream for this route only: never parsed, never buffered.
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser("*", (_request, payload, done) => done(null, payload));
    scope.put("/uploads/:id", { schema: { hide: true } }, async (request, reply) => {
      const { path, check } = checkSignedRequest(deps.signer, request, Date.now());
      if (check !== "valid") {
        const detail =
          check === "expired" ? "this upload link has expired" : "the upload link's signature does not match";
        return sendProblem(reply, problemFor("forbidden", 403, detail));
      }
      const id = path.slice("/uploads/".length);
      const upload = await deps.uploads.get(id);
      if (upload === undefined) return sendProblem(reply, problemFor("forbidden", 403, "no such upload"));
      const declared = Number(request.headers["content-length"] ?? Number.NaN);
      if (Number.isFinite(declared) && declared > upload.maxBytes) {
        return sendProblem(
          reply,
          problemFor("payload_too_large", 413, `this upload was declared as ${upload.maxBytes} bytes`),
        );
      }
      if (!(await deps.uploads.begin(id, Date.now()))) {
        return sendProblem(
          reply,
          problemFor("forbidden", 403, "this upload link has already been used or has expired"),
        );
      }
      try {
        const info = await deps.storage.put(upload.key, request.raw, {
          maxBytes: upload.maxBytes,
          ...(upload.contentType === null ? {} : { contentType: upload.contentType }),
        });
        await deps.uploads.finish(id, { state: "completed", bytes: info.bytes, at: Date.now() });
        return reply.code(201).send({ id, bytes: info.bytes, etag: info.etag });
      } catch (thrown) {
        await deps.uploads.finish(id, { state: "failed" });
        const error = coerceError(thrown);
        if (error.code === ErrorCodes.inputTooLarge) {
          // Tell the client now and stop reading: the rest of the body is not wanted.
          reply.header("connection", "close");
          return sendProblem(
            reply,
            problemFor("payload_too_large", 413, `this upload was declared as ${upload.maxBytes} bytes`),
          );
        }
        throw error;
      }
    });
  });
}
