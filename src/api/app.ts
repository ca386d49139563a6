import multipart from "@fastify/multipart";
import rateLimit from "@fastify/rate-limit";
import swagger from "@fastify/swagger";
import Fastify, { type FastifyBaseLogger, type FastifyInstance, LogController } from "fastify";
import { jsonSchemaTransform, serializerCompiler, validatorCompiler } from "fastify-type-provider-zod";
import type { ApiDependencies } from "./api-dependencies.js";
import "./principal.js";
import { handleError, problemFor, sendProblem } from "./problem.js";
import { registerDashboardRoutes } from "./routes/dashboard.js";
import { registerEventRoutes } from "./routes/events.js";
import { registerFileRoutes } from "./routes/files.js";
import { registerHealthRoutes } from "./routes/health.js";
import { registerHookRoutes } from "./routes/hooks.js";
import { registerJobRoutes } from "./routes/jobs.js";
import { registerPipelineRoutes } from "./routes/pipelines.js";
import { registerTusRoutes } from "./routes/tus.js";
import { registerUploadRoutes, registerUploadTargetRoute } from "./routes/uploads.js";

export type Api = FastifyInstance;

/**
 * The HTTP API: Fastify with one zod schema per body, errors as problem+json, an OpenAPI document made
 * from the same schemas at /v1/openapi.json. Every /v1 route needs `Authorization: Bearer <key>`; signed
 * file URLs under /files carry their own authorisation.
 */
export async function buildApi(deps: ApiDependencies): Promise<FastifyInstance> {
  const app = Fastify({
    // pino's Logger is Fastify's logger; the cast only narrows the generic Fastify carries around.
    loggerInstance: deps.log as FastifyBaseLogger,
    bodyLimit: deps.limits.bodyBytes,
    // Requests are measured in /metrics; a log line for each would drown the rest.
    logController: new LogController({ disableRequestLogging: true }),
    // Job ids and keys never need more; longer URLs are refused before routing.
    routerOptions: { maxParamLength: 1024 },
  });
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  app.setErrorHandler(handleError);
  app.setNotFoundHandler((request, reply) =>
    sendProblem(
      reply,
      problemFor("not_found", 404, `no route ${request.method} ${request.url.split("?")[0]}`),
    ),
  );
  app.decorateRequest("principal", undefined);

  await app.register(swagger, {
    openapi: {
      info: { title: "mediaflow", version: "1", description: "Media processing pipelines over HTTP" },
      components: { securitySchemes: { apiKey: { type: "http", scheme: "bearer" } } },
      security: [{ apiKey: [] }],
    },
    transform: jsonSchemaTransform,
  });

  app.addHook("onResponse", async (request, reply) => {
    const route = request.routeOptions.url ?? "unmatched";
    deps.metrics.httpDuration.observe(
      { method: request.method, route, status: String(reply.statusCode) },
      reply.elapsedTime / 1000,
    );
  });

  registerHealthRoutes(app, deps);
  registerFileRoutes(app, deps);
  registerUploadTargetRoute(app, deps);
  registerHookRoutes(app, deps);

  await app.register(
    async (v1) => {
      v1.addHook("onRequest", async (request, reply) => {
        if (request.url.startsWith("/v1/openapi.json")) return;
        const header = request.headers.authorization ?? "";
        const match = /^Bearer\s+(\S+)$/i.exec(header);
        const principal = match?.[1] === undefined ? undefined : await deps.authenticate(match[1]);
        if (principal === undefined) {
          reply.header("www-authenticate", 'Bearer realm="mediaflow"');
          return sendProblem(
            reply,
            problemFor(
              "unauthorized",
              401,
              match === null
                ? "an API key is required: Authorization: Bearer <key>"
                : "the API key is not valid",
            ),
          );
        }
        request.principal = principal;
      });
      await v1.register(rateLimit, {
        max: deps.limits.requestsPerMinute,
        timeWindow: 60_000,
        keyGenerator: (request) => request.principal?.keyId ?? request.ip,
        allowList: (request) => request.url.startsWith("/v1/openapi.json"),
        errorResponseBuilder: (_request, context) => ({
          ...problemFor(
            "rate_limited",
            429,
            `too many requests: at most ${context.max} a minute; retry after ${context.after}`,
          ),
          statusCode: 429,
        }),
      });
      await v1.register(multipart, {
        limits: {
          files: 1,
          fields: 10,
          fieldSize: deps.limits.bodyBytes,
          fileSize: deps.limits.maxUploadBytes,
        },
      });
      v1.get("/openapi.json", { schema: { hide: true } }, async () => app.swagger());
      registerJobRoutes(v1, deps);
      registerEventRoutes(v1, deps);
      registerPipelineRoutes(v1, deps);
      registerUploadRoutes(v1, deps);
      registerTusRoutes(v1, deps);
    },
    { prefix: "/v1" },
  );
  await registerDashboardRoutes(app);
  return app;
}
