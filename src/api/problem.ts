import type { FastifyError, FastifyReply, FastifyRequest } from "fastify";
import { hasZodFastifySchemaValidationErrors } from "fastify-type-provider-zod";
import { coerceError, MediaflowError, ValidationError } from "../errors/errors.js";
import { httpStatusByCode, httpStatusFor } from "../errors/http-status.js";

/**
 * Errors as RFC 9457 problem documents. `type` is stable per error code so clients can branch on it;
 * `detail` is for people; `errors` lists every invalid field for validation failures.
 */
export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  code: string;
  instance?: string;
  errors?: { path: string; message: string }[];
}

export const problemTypeBase = "https://mediaflow.dev/problems/";

export function problemFor(
  code: string,
  status: number,
  detail: string,
  extra: Partial<Problem> = {},
): Problem {
  return { type: `${problemTypeBase}${code}`, title: titleOf(code), status, detail, code, ...extra };
}

function titleOf(code: string): string {
  const words = code.replace(/_/g, " ");
  return words.charAt(0).toUpperCase() + words.slice(1);
}

export function sendProblem(reply: FastifyReply, problem: Problem): FastifyReply {
  return reply.code(problem.status).type("application/problem+json").send(problem);
}

/** The one error handler: nothing reaches a client as a stack trace. */
export function handleError(error: FastifyError, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  if (hasZodFastifySchemaValidationErrors(error)) {
    const errors = error.validation.map((issue) => ({
      path: [error.validationContext, ...issue.instancePath.split("/").filter(Boolean)].join("."),
      message: issue.message ?? "is invalid",
    }));
    const detail = errors.map((e) => `${e.path}: ${e.message}`).join("; ");
    return sendProblem(
      reply,
      problemFor("validation_failed", 422, detail, { errors, instance: request.url }),
    );
  }
  if (error instanceof ValidationError) {
    const errors = error.issues.map((issue) => ({ path: issue.path, message: issue.message }));
    return sendProblem(reply, problemFor(error.code, 422, error.message, { errors, instance: request.url }));
  }
  if (error instanceof MediaflowError) {
    return sendProblem(
      reply,
      problemFor(error.code, httpStatusFor(error.code), error.message, { instance: request.url }),
    );
  }
  // Fastify's own errors (body too large, bad JSON, unsupported content type) carry a status code.
  const status = typeof error.statusCode === "number" ? error.statusCode : 500;
  if (status >= 500) {
    request.log.error({ err: coerceError(error) }, "request failed");
    return sendProblem(reply, problemFor("internal", 500, "an internal error occurred; it has been logged"));
  }
  const code =
    httpStatusByCode[error.code] === status
      ? error.code
      : (fastifyCodes[error.code] ?? (status === 413 ? "payload_too_large" : "bad_request"));
  return sendProblem(reply, problemFor(code, status, error.message, { instance: request.url }));
}

const fastifyCodes: Record<string, string> = {
  FST_ERR_CTP_BODY_TOO_LARGE: "payload_too_large",
  FST_ERR_CTP_INVALID_MEDIA_TYPE: "unsupported_media_type",
  FST_ERR_CTP_EMPTY_JSON_BODY: "bad_request",
  FST_ERR_CTP_INVALID_JSON_BODY: "bad_request",
};
