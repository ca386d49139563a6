import { createHash, timingSafeEqual } from "node:crypto";
import type { FastifyInstance } from "fastify";
import type { ZodTypeProvider } from "fastify-type-provider-zod";
import { z } from "zod";
import { s3EventSchema } from "../../triggers/s3-event.js";
import { handleS3Notification } from "../../triggers/s3-notification.js";
import { checkRulePipelines } from "../../triggers/trigger-rules.js";
import type { ApiDependencies } from "../api-dependencies.js";
import { problemFor, sendProblem } from "../problem.js";
import { problemSchema } from "../schemas.js";

const outcomeSchema = z.object({
  started: z.array(z.object({ key: z.string(), rule: z.string(), jobId: z.string(), created: z.boolean() })),
  ignored: z.array(z.object({ key: z.string(), reason: z.string() })),
});

/**
 * POST /v1/hooks/s3: bucket event notifications (S3, MinIO) start the pipelines of the watch rules. It is
 * called by the bucket, not by a tenant, so it sits outside the API-key authentication and checks a
 * shared secret instead; with no secret configured the route answers 404, as if it did not exist.
 */
export function registerHookRoutes(app: FastifyInstance, deps: ApiDependencies): void {
  const triggers = deps.triggers;
  if (triggers !== undefined && triggers.rules.length > 0) {
    checkRulePipelines(triggers.rules, deps.pipelines, triggers.rulesFile ?? "trigger rules");
  }
  const api = app.withTypeProvider<ZodTypeProvider>();
  api.post(
    "/v1/hooks/s3",
    {
      schema: {
        summary: "Receive an S3/MinIO bucket event notification (Authorization: Bearer <hook secret>)",
        security: [],
        body: s3EventSchema,
        response: { 200: outcomeSchema, 401: problemSchema, 404: problemSchema },
      },
      // The secret is checked before the body is validated: a stranger learns nothing about the format.
      onRequest: async (request, reply) => {
        const secret = triggers?.s3HookSecret;
        if (secret === undefined) {
          return sendProblem(reply, problemFor("not_found", 404, "no route POST /v1/hooks/s3"));
        }
        if (!sameSecret(tokenOf(request.headers.authorization), secret)) {
          return sendProblem(reply, problemFor("unauthorized", 401, "the hook secret is missing or wrong"));
        }
      },
    },
    async (request) =>
      handleS3Notification(request.body, {
        engine: deps.engine,
        storage: deps.storage,
        pipelines: deps.pipelines,
        rules: triggers?.rules ?? [],
        storeLocation: triggers?.storeLocation,
        log: deps.log,
      }),
  );
}

/** `Bearer <token>`, or the bare token: MinIO sends its webhook `auth_token` either way depending on version. */
function tokenOf(header: string | undefined): string {
  const value = header?.trim() ?? "";
  return /^Bearer\s+/i.test(value) ? value.replace(/^Bearer\s+/i, "") : value;
}

/** Compares digests so that neither the content nor the length of the secret leaks through timing. */
function sameSecret(given: string, expected: string): boolean {
  const digest = (text: string) => createHash("sha256").update(text).digest();
  return timingSafeEqual(digest(given), digest(expected)) && given.length > 0;
}
