import type { FastifyInstance } from "fastify";
import { isExpiredKey } from "../../engine/job-expiry.js";
import { ErrorCodes } from "../../errors/errors.js";
import type { ApiDependencies } from "../api-dependencies.js";
import { problemFor, sendProblem } from "../problem.js";

/**
 * Downloads through signed, expiring URLs (`/files/<token>/<key>`, see UrlSigner.scopeToken), streamed
 * from storage with Range support, so players and browsers can fetch outputs without an API key.
 */
export function registerFileRoutes(app: FastifyInstance, deps: ApiDependencies): void {
  app.get("/files/*", { schema: { hide: true } }, async (request, reply) => {
    const path = request.url.split("?")[0] ?? "";
    const [token = "", ...segments] = path.slice("/files/".length).split("/");
    let key: string;
    try {
      key = segments.map(decodeURIComponent).join("/");
    } catch {
      return sendProblem(reply, problemFor("not_found", 404, "no such file"));
    }
    // Clients resolve `..` before asking; one left in a key (or smuggled in as %2F..) could only try to
    // climb out of the signed scope, and no stored key has one, so it is refused outright.
    const climbs = key.split("/").some((segment) => segment === ".." || segment === "." || segment === "");
    const check = climbs ? "invalid" : deps.signer.checkScope(token, key, Date.now());
    if (check !== "valid") {
      const detail =
        check === "expired"
          ? "this link has expired; ask the API for a new one"
          : "the link's signature does not match";
      return sendProblem(reply, problemFor("forbidden", 403, detail));
    }
    if (await isExpiredKey(deps.engine.backend, key, Date.now())) {
      return sendProblem(
        reply,
        problemFor("gone", 410, "the job this file belongs to has expired; its files were deleted"),
      );
    }
    const info = await deps.storage.stat(key);
    if (info === undefined)
      return sendProblem(reply, problemFor("not_found", 404, "the file no longer exists"));

    const etag = `"${info.etag}"`;
    reply.header("etag", etag);
    reply.header("accept-ranges", "bytes");
    reply.header("content-type", info.contentType ?? "application/octet-stream");
    // Outputs never change under a key (each attempt writes its own), so they can be cached for as long as
    // the link lives.
    reply.header("cache-control", "private, max-age=3600, immutable");
    reply.header("last-modified", new Date(info.modifiedAt).toUTCString());
    if (request.headers["if-none-match"] === etag) return reply.code(304).send();

    const range = parseRange(request.headers.range, info.bytes);
    if (range === "unsatisfiable") {
      reply.header("content-range", `bytes */${info.bytes}`);
      return sendProblem(
        reply,
        problemFor(ErrorCodes.rangeNotSatisfiable, 416, `the file has ${info.bytes} bytes`),
      );
    }
    if (range === undefined) {
      reply.header("content-length", info.bytes);
      return reply.send(await deps.storage.get(key));
    }
    reply.code(206);
    reply.header("content-range", `bytes ${range.start}-${range.end}/${info.bytes}`);
    reply.header("content-length", range.end - range.start + 1);
    return reply.send(await deps.storage.get(key, { range }));
  });
}

/** One `bytes=` range (the only kind players send); several ranges are served whole. */
function parseRange(
  header: string | undefined,
  size: number,
): { start: number; end: number } | "unsatisfiable" | undefined {
  if (header === undefined) return undefined;
  const match = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (match === null) return undefined;
  const [, from = "", to = ""] = match;
  if (from === "" && to === "") return undefined;
  let start: number;
  let end: number;
  if (from === "") {
    const suffix = Number(to);
    if (suffix === 0) return "unsatisfiable";
    start = Math.max(0, size - suffix);
    end = size - 1;
  } else {
    start = Number(from);
    end = to === "" ? size - 1 : Math.min(Number(to), size - 1);
  }
  if (start >= size || start > end) return "unsatisfiable";
  return { start, end };
}
