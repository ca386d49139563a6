import type { Principal } from "./api-dependencies.js";

declare module "fastify" {
  interface FastifyRequest {
    /** Set by the /v1 authentication hook. */
    principal: Principal | undefined;
  }
}

/** The principal of an authenticated /v1 request (the auth hook guarantees it). */
export function principalOf(request: { principal: Principal | undefined }): Principal {
  if (request.principal === undefined) throw new Error("route reached without authentication");
  return request.principal;
}
