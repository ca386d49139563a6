import { z } from "zod";
import { jobEventTypes } from "../engine/events.js";
import { defaultWebhookEvents } from "../notify/webhook-events.js";

/** The API's request and response schemas: validation and the OpenAPI document both come from these. */

const jsonValue: z.ZodType<unknown> = z.unknown();

export const jobInputSchema = z.union([
  z.strictObject({
    key: z.string().min(1).max(1024).describe("a file already in storage, under tenants/<tenant>/"),
  }),
  z.strictObject({ uploadId: z.string().min(1).max(200).describe("a completed upload") }),
  z.strictObject({
    url: z
      .string()
      .min(1)
      .max(4096)
      .describe("an http(s) URL to import; loopback, private and link-local addresses are refused"),
  }),
]);

export const webhookSchema = z.strictObject({
  url: z
    .url({ protocol: /^https?$/, error: "must be an http:// or https:// URL" })
    .max(2000)
    .describe("receives a signed POST for each of the events (see docs/webhooks.md)"),
  events: z
    .array(z.enum(jobEventTypes))
    .min(1)
    .max(jobEventTypes.length)
    .default([...defaultWebhookEvents])
    .describe("the event types to send; default job.succeeded, job.failed and job.cancelled"),
});

export const createJobBody = z.strictObject({
  pipeline: z
    .union([z.string().min(1).max(200), z.record(z.string(), jsonValue)])
    .describe("a registered pipeline's name, or an inline pipeline definition"),
  input: jobInputSchema.optional(),
  params: z.record(z.string(), jsonValue).optional(),
  priority: z.int().min(-1000).max(1000).optional(),
  idempotencyKey: z.string().min(1).max(200).optional(),
  webhook: webhookSchema.optional(),
});

export const errorInfoSchema = z.object({ code: z.string(), message: z.string() });

export const jobViewSchema = z.object({
  id: z.string(),
  pipeline: z.string(),
  status: z.enum(["queued", "running", "succeeded", "failed", "cancelled"]),
  progress: z.number(),
  createdAt: z.string(),
  startedAt: z.string().nullable(),
  finishedAt: z.string().nullable(),
  steps: z.array(
    z.object({
      name: z.string(),
      use: z.string(),
      status: z.string(),
      attempts: z.number(),
      progress: z.number(),
      parts: z.number().nullable(),
      startedAt: z.string().nullable(),
      finishedAt: z.string().nullable(),
      error: errorInfoSchema.nullable(),
    }),
  ),
  outputs: z.array(
    z.object({
      step: z.string(),
      name: z.string(),
      contentType: z.string(),
      bytes: z.number(),
      url: z.string(),
    }),
  ),
  error: errorInfoSchema.nullable(),
});

export const jobSummarySchema = jobViewSchema.pick({
  id: true,
  pipeline: true,
  status: true,
  progress: true,
  createdAt: true,
  startedAt: true,
  finishedAt: true,
  error: true,
});

export const listJobsQuery = z.strictObject({
  status: z.enum(["queued", "running", "succeeded", "failed", "cancelled"]).optional(),
  pipeline: z.string().max(200).optional(),
  limit: z.coerce.number().int().min(1).max(200).default(50),
  cursor: z.string().regex(/^\d+$/, "a cursor from a previous page").optional(),
});

export const jobIdParams = z.strictObject({ id: z.string().min(1).max(100) });

export const retryJobBody = z
  .strictObject({ steps: z.array(z.string().min(1)).min(1).optional() })
  .optional();

export const eventsQuery = z.strictObject({
  after: z.coerce.number().int().min(0).default(0),
  limit: z.coerce.number().int().min(1).max(1000).default(500),
});

export const problemSchema = z.object({
  type: z.string(),
  title: z.string(),
  status: z.number(),
  detail: z.string(),
  code: z.string(),
  instance: z.string().optional(),
  errors: z.array(z.object({ path: z.string(), message: z.string() })).optional(),
});
