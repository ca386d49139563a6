import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { UploadRecord } from "../../backend/backend.js";
import type { ApiDependencies } from "../api-dependencies.js";
import { principalOf } from "../principal.js";
import { type Problem, problemFor, sendProblem } from "../problem.js";
import { TusUploads } from "../tus/tus-uploads.js";

const tusVersion = "1.0.0";

/**
 * Resumable uploads with the tus protocol under `/v1/tus` (registered inside /v1, so the usual Bearer key
 * and rate limit apply). @tus/server speaks the protocol; this route adds the tenant check (another
 * tenant's upload is a 404, like one that does not exist), answers for uploads already moved to the
 * BlobStore, and turns the library's plain-text errors into problem+json.
 */
export function registerTusRoutes(v1: FastifyInstance, deps: ApiDependencies): void {
  const tus = new TusUploads(deps, deps.uploadTmpDir ?? join(tmpdir(), "mediaflow-tus"));
  v1.addHook("onClose", async () => tus.close());
  v1.register(async (scope) => {
    // The bytes stream to the tus store: never parsed, never buffered, whatever the content type.
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser("*", (_request, payload, done) => done(null, payload));
    const hidden = { schema: { hide: true } };
    scope.route({
      method: ["POST", "OPTIONS"],
      url: "/tus",
      ...hidden,
      handler: (request, reply) => forward(tus, request, reply),
    });
    scope.route({
      method: ["HEAD", "PATCH", "DELETE", "OPTIONS"],
      url: "/tus/:id",
      ...hidden,
      handler: async (request, reply) => {
        const { id } = request.params as { id: string };
        const upload = await deps.uploads.get(id);
        if (upload === undefined || upload.tenant !== principalOf(request).tenant) {
          return sendTusProblem(reply, problemFor("not_found", 404, `upload ${id} was not found`));
        }
        if (upload.state === "completed") return answerCompleted(request, reply, upload);
        await forward(tus, request, reply);
        // A terminated upload can never complete: its row says so, for POST /v1/jobs and for HEAD.
        if (request.method === "DELETE" && reply.statusCode === 204) {
          await deps.uploads.finish(id, { state: "failed" });
        }
        return reply;
      },
    });
  });
}

async function forward(tus: TusUploads, request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
  const response = await tus.handle(webRequestOf(request), { tenant: principalOf(request).tenant });
  const headers = Object.fromEntries(response.headers.entries());
  if (response.status < 400) {
    return reply
      .code(response.status)
      .headers(headers)
      .send(request.method === "HEAD" ? undefined : await response.text());
  }
  const body = await response.text();
  const problem = problemFromTus(response.status, body);
  if (problem.status === 500) request.log.error({ status: response.status, body }, "tus request failed");
  delete headers["content-type"];
  delete headers["content-length"];
  return sendProblem(reply.headers(headers), problem);
}

/**
 * The bytes of a completed upload are in the BlobStore and its partial file is gone, so tus alone would
 * say 404; a client that lost the last response asks with HEAD and must hear that it is done.
 */
function answerCompleted(request: FastifyRequest, reply: FastifyReply, upload: UploadRecord): FastifyReply {
  const bytes = String(upload.bytes ?? 0);
  reply.headers({
    "tus-resumable": tusVersion,
    "cache-control": "no-store",
    "mediaflow-upload-id": upload.id,
  });
  if (request.method === "HEAD") {
    return reply.code(200).headers({ "upload-offset": bytes, "upload-length": bytes }).send();
  }
  return sendTusProblem(
    reply.header("upload-offset", bytes),
    problemFor(
      "conflict",
      409,
      `upload ${upload.id} is complete; it is kept as a job input and can no longer be written or terminated`,
    ),
  );
}

function sendTusProblem(reply: FastifyReply, problem: Problem): FastifyReply {
  return sendProblem(reply.header("tus-resumable", tusVersion), problem);
}

/** Errors from our hooks are problem documents already; the library's own are one line of text. */
function problemFromTus(status: number, body: string): Problem {
  if (status >= 500 && status !== 501) {
    return problemFor("internal", 500, "an internal error occurred; it has been logged");
  }
  try {
    const parsed = JSON.parse(body) as Partial<Problem>;
    if (typeof parsed.code === "string" && parsed.status === status) return parsed as Problem;
  } catch {
    // Plain text: the library's own message.
  }
  return problemFor(codeByStatus[status] ?? "bad_request", status, body.trim());
}

const codeByStatus: Record<number, string> = {
  403: "forbidden",
  404: "not_found",
  409: "conflict",
  410: "gone",
  412: "precondition_failed",
  413: "payload_too_large",
  415: "unsupported_media_type",
  460: "checksum_mismatch",
  // Upload-Defer-Length: the size must be known when the upload is created.
  501: "not_implemented",
};

/** The same request as a web Request, its body still the unread socket stream. */
function webRequestOf(request: FastifyRequest): Request {
  const headers = new Headers();
  for (const [name, value] of Object.entries(request.raw.headers)) {
    if (value === undefined) continue;
    for (const one of Array.isArray(value) ? value : [value]) headers.append(name, one);
  }
  const url = new URL(request.url, `${request.protocol}://${request.host}`);
  const hasBody = request.method === "POST" || request.method === "PATCH";
  return new Request(url, {
    method: request.method,
    headers,
    ...(hasBody ? { body: Readable.toWeb(request.raw) as ReadableStream<Uint8Array>, duplex: "half" } : {}),
  } as RequestInit);
}
