import type { FastifyInstance } from "fastify";
import type { ZodTypeProvider } from "fastify-type-provider-zod";
import { z } from "zod";
import { NotFoundError } from "../../errors/errors.js";
import type { ApiDependencies } from "../api-dependencies.js";

/** The pipelines a tenant can run by name. */
export function registerPipelineRoutes(app: FastifyInstance, deps: ApiDependencies): void {
  const api = app.withTypeProvider<ZodTypeProvider>();
  api.get("/pipelines", { schema: { summary: "List pipelines" } }, async () => ({
    pipelines: [...deps.pipelines.values()].map((spec) => ({
      name: spec.name,
      description: spec.description ?? null,
      steps: Object.keys(spec.steps).length,
    })),
  }));
  api.get(
    "/pipelines/:name",
    { schema: { summary: "Get a pipeline", params: z.strictObject({ name: z.string() }) } },
    async (request) => {
      const spec = deps.pipelines.get(request.params.name);
      if (spec === undefined) throw new NotFoundError("pipeline", request.params.name);
      return spec;
    },
  );
}
