import { isDeepStrictEqual } from "node:util";
import type { FastifyInstance } from "fastify";
import type { ZodTypeProvider } from "fastify-type-provider-zod";
import { z } from "zod";
import type { UploadRecord } from "../../backend/backend.js";
import { assertJobKept } from "../../engine/job-expiry.js";
import { type JobProjection, jobProgress } from "../../engine/projection.js";
import { ErrorCodes, NotFoundError, PermanentError } from "../../errors/errors.js";
import { parsePipeline } from "../../pipeline/parse-pipeline.js";
import type { PipelineSpec } from "../../pipeline/types.js";
import type { JobInput } from "../../steps/step-type.js";
import type { JsonValue } from "../../util/json.js";
import type { ApiDependencies } from "../api-dependencies.js";
import { jobSummaryView, jobView, withDirectLinks } from "../job-view.js";
import { multipartJobBody } from "../multipart-job.js";
import { principalOf } from "../principal.js";
import {
  createJobBody,
  jobIdParams,
  jobSummarySchema,
  jobViewSchema,
  listJobsQuery,
  problemSchema,
  retryJobBody,
} from "../schemas.js";
import { importFromUrl } from "../url-import.js";

/** Creating, reading, listing, cancelling and retrying jobs, each scoped to the caller's tenant. */
export function registerJobRoutes(app: FastifyInstance, deps: ApiDependencies): void {
  const api = app.withTypeProvider<ZodTypeProvider>();
  const view = (state: JobProjection) =>
    withDirectLinks(
      jobView(
        state,
        { signer: deps.signer, ttlMs: deps.limits.downloadUrlTtlMs, now: Date.now() },
        jobProgress(state),
      ),
      state,
      deps,
    );

  // Another tenant's job answers exactly like a job that does not exist; one past its retention, 410.
  const findJob = async (id: string, tenant: string) => {
    const state = await deps.engine.getJob(id, tenant);
    if (state === undefined) throw new NotFoundError("job", id);
    await assertJobKept(deps.engine.backend, id, Date.now());
    return state;
  };

  api.post(
    "/jobs",
    {
      // A multipart request (a file and fields) becomes the same JSON body before validation.
      preValidation: async (request) => {
        if (request.isMultipart()) {
          request.body = (await multipartJobBody(
            request,
            deps.storage,
            deps.limits.maxUploadBytes,
          )) as typeof request.body;
        }
      },
      schema: {
        summary: "Create a job (JSON, or multipart/form-data with a `file` part)",
        body: createJobBody,
        response: {
          200: jobViewSchema,
          202: jobViewSchema,
          404: problemSchema,
          409: problemSchema,
          422: problemSchema,
        },
      },
    },
    async (request, reply) => {
      const { tenant } = principalOf(request);
      const body = request.body;
      const pipeline = pipelineFor(body.pipeline, deps);
      const input = body.input === undefined ? null : await inputFor(body.input, tenant, deps);
      const params = (body.params ?? {}) as Record<string, JsonValue>;
      const { job, created } = await deps.engine.createJob({
        pipeline,
        input,
        params,
        priority: body.priority,
        idempotencyKey: body.idempotencyKey ?? null,
        tenant,
        ...(body.webhook === undefined ? {} : { webhook: body.webhook }),
      });
      // A repeated request imported its URL again; the job it gets back already has the file.
      if (!created && input !== null && input.sourceUrl !== undefined && job.job.input?.key !== input.key) {
        await deps.storage.delete(input.key);
      }
      if (!created && !sameRequest(job, pipeline, input, params)) {
        throw new PermanentError(
          ErrorCodes.conflict,
          `idempotency key ${JSON.stringify(body.idempotencyKey)} was used for a different job (${job.job.id})`,
        );
      }
      reply.header("location", `/v1/jobs/${job.job.id}`);
      return reply.code(created ? 202 : 200).send(await view(job));
    },
  );

  api.get(
    "/jobs/:id",
    {
      schema: {
        summary: "Get a job",
        params: jobIdParams,
        response: { 200: jobViewSchema, 404: problemSchema, 410: problemSchema },
      },
    },
    async (request) => view(await findJob(request.params.id, principalOf(request).tenant)),
  );

  api.get(
    "/jobs",
    {
      schema: {
        summary: "List jobs, newest first (jobs past their retention are left out)",
        querystring: listJobsQuery,
        response: { 200: z.object({ jobs: z.array(jobSummarySchema), nextCursor: z.string().nullable() }) },
      },
    },
    async (request) => {
      const { status, pipeline, limit, cursor } = request.query;
      const jobs = await deps.engine.listJobs({
        tenant: principalOf(request).tenant,
        status,
        pipeline,
        limit,
        before: cursor === undefined ? undefined : Number(cursor),
        retainedAt: Date.now(),
      });
      const last = jobs.at(-1);
      return {
        jobs: jobs.map(jobSummaryView),
        nextCursor: jobs.length === limit && last !== undefined ? String(last.createdSeq) : null,
      };
    },
  );

  api.delete(
    "/jobs/:id",
    {
      schema: {
        summary: "Cancel a job",
        params: jobIdParams,
        response: { 202: jobViewSchema, 404: problemSchema, 410: problemSchema },
      },
    },
    async (request, reply) => {
      await findJob(request.params.id, principalOf(request).tenant);
      const state = await deps.engine.cancelJob(request.params.id, "cancelled through the API");
      return reply.code(202).send(await view(state));
    },
  );

  api.post(
    "/jobs/:id/retry",
    {
      schema: {
        summary: "Retry a job's failed, skipped and cancelled steps",
        params: jobIdParams,
        body: retryJobBody,
        response: { 202: jobViewSchema, 404: problemSchema, 409: problemSchema, 410: problemSchema },
      },
    },
    async (request, reply) => {
      await findJob(request.params.id, principalOf(request).tenant);
      const state = await deps.engine.retryJob(request.params.id, { steps: request.body?.steps });
      return reply.code(202).send(await view(state));
    },
  );
}

function pipelineFor(pipeline: string | Record<string, unknown>, deps: ApiDependencies): PipelineSpec {
  if (typeof pipeline === "string") {
    const found = deps.pipelines.get(pipeline);
    if (found === undefined) {
      throw new PermanentError(
        ErrorCodes.invalidPipeline,
        `there is no pipeline named ${JSON.stringify(pipeline)}`,
      );
    }
    return found;
  }
  return parsePipeline(JSON.stringify(pipeline), "body.pipeline", deps.catalog);
}

/** A client may only name files under its own tenant's prefix. */
async function inputFor(
  input: { key: string } | { uploadId: string } | { url: string },
  tenant: string,
  deps: ApiDependencies,
): Promise<JobInput> {
  if ("url" in input) return importFromUrl(input.url, tenant, deps);
  if ("uploadId" in input) {
    const upload = await deps.uploads.get(input.uploadId);
    if (upload === undefined || upload.tenant !== tenant) throw new NotFoundError("upload", input.uploadId);
    if (upload.state === "pending" && deps.storage.directUrl !== undefined) {
      return completeDirectUpload(upload, deps);
    }
    if (upload.state !== "completed" || upload.bytes === null) {
      throw new PermanentError(ErrorCodes.conflict, `upload ${input.uploadId} has not been completed`);
    }
    const result: JobInput = { key: upload.key, filename: upload.filename, bytes: upload.bytes };
    if (upload.contentType !== null) result.contentType = upload.contentType;
    return result;
  }
  const prefix = `tenants/${tenant}/`;
  const info = input.key.startsWith(prefix) ? await deps.storage.stat(input.key) : undefined;
  if (info === undefined) throw new NotFoundError("file", input.key);
  const filename = input.key.split("/").at(-1) ?? "input";
  const result: JobInput = { key: input.key, filename, bytes: info.bytes };
  if (info.contentType !== undefined) result.contentType = info.contentType;
  return result;
}

/**
 * An upload that went straight to the bucket: complete once its object is there with no more than the
 * declared size (S3 enforces the signed length; this also guards stores that do not).
 */
async function completeDirectUpload(upload: UploadRecord, deps: ApiDependencies): Promise<JobInput> {
  const info = await deps.storage.stat(upload.key);
  if (info === undefined) {
    throw new PermanentError(ErrorCodes.conflict, `upload ${upload.id} has not been completed`);
  }
  if (info.bytes > upload.maxBytes) {
    await deps.storage.delete(upload.key);
    throw new PermanentError(ErrorCodes.inputTooLarge, `upload ${upload.id} is larger than it declared`);
  }
  // begin() makes completing it a one-time transition, as for uploads through the API. Its expiry check
  // is passed with 0: S3 enforced the link's expiry when the object was put.
  if (await deps.uploads.begin(upload.id, 0)) {
    await deps.uploads.finish(upload.id, { state: "completed", bytes: info.bytes, at: Date.now() });
  }
  const result: JobInput = { key: upload.key, filename: upload.filename, bytes: info.bytes };
  if (upload.contentType !== null) result.contentType = upload.contentType;
  return result;
}

/** What a job's input was made from: an import is the same input when it came from the same URL. */
function sourceOf(input: JobInput | null): string | null {
  return input === null ? null : (input.sourceUrl ?? input.key);
}

function sameRequest(
  existing: JobProjection,
  pipeline: PipelineSpec,
  input: JobInput | null,
  params: Record<string, JsonValue>,
): boolean {
  return (
    existing.job.pipelineName === pipeline.name &&
    isDeepStrictEqual(sourceOf(existing.job.input), sourceOf(input)) &&
    isDeepStrictEqual(existing.job.params, params)
  );
}
