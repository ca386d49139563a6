import type { FastifyInstance } from "fastify";
import type { ApiDependencies } from "../api-dependencies.js";
import { problemFor, sendProblem } from "../problem.js";

/** Liveness, readiness and Prometheus metrics; no API key, as probes and scrapers have none. */
export function registerHealthRoutes(app: FastifyInstance, deps: ApiDependencies): void {
  app.get("/healthz", { schema: { hide: true } }, async () => ({ status: "ok" }));
  app.get("/readyz", { schema: { hide: true } }, async (_request, reply) => {
    try {
      await deps.ready();
      return { status: "ready" };
    } catch (error) {
      const detail = error instanceof Error ? error.message : String(error);
      return sendProblem(reply, problemFor("not_ready", 503, `not ready: ${detail}`));
    }
  });
  app.get("/metrics", { schema: { hide: true } }, async (_request, reply) => {
    reply.type(deps.metrics.registry.contentType);
    return deps.metrics.registry.metrics();
  });
}
