import type { FastifyInstance, FastifyReply } from "fastify";
import type { ZodTypeProvider } from "fastify-type-provider-zod";
import { z } from "zod";
import { type JobEvent, jobEndEventTypes } from "../../engine/events.js";
import { assertJobKept } from "../../engine/job-expiry.js";
import { NotFoundError } from "../../errors/errors.js";
import type { ApiDependencies } from "../api-dependencies.js";
import { principalOf } from "../principal.js";
import { eventsQuery, jobIdParams, problemSchema } from "../schemas.js";

/** Seconds between comments on an idle stream, so proxies keep it open and dead clients are noticed. */
const keepAliveMs = 15_000;

/**
 * A job's event log: a page of JSON by cursor, or with `Accept: text/event-stream` a live Server-Sent
 * Events stream. The stream reads the log by cursor (each event's `id` is its sequence number), so a client
 * that reconnects with `Last-Event-ID` continues with no gap and no duplicate. In-process notifications
 * only wake it early; polling finds what other processes wrote.
 */
export function registerEventRoutes(app: FastifyInstance, deps: ApiDependencies): void {
  app.withTypeProvider<ZodTypeProvider>().get(
    "/jobs/:id/events",
    {
      schema: {
        summary: "A job's events (JSON, or a live text/event-stream)",
        params: jobIdParams,
        querystring: eventsQuery,
        response: {
          200: z.object({ events: z.array(z.unknown()), lastSeq: z.number() }),
          404: problemSchema,
          410: problemSchema,
        },
      },
    },
    async (request, reply) => {
      const { id } = request.params;
      if ((await deps.engine.getJob(id, principalOf(request).tenant)) === undefined)
        throw new NotFoundError("job", id);
      await assertJobKept(deps.engine.backend, id, Date.now());
      const resumeFrom = Number(request.headers["last-event-id"] ?? Number.NaN);
      const after = Number.isInteger(resumeFrom) && resumeFrom >= 0 ? resumeFrom : request.query.after;
      if ((request.headers.accept ?? "").includes("text/event-stream")) {
        return streamEvents(reply, deps, id, after);
      }
      const events = await deps.engine.readEvents({ jobId: id, after, limit: request.query.limit });
      return { events, lastSeq: events.at(-1)?.seq ?? after };
    },
  );
}

async function streamEvents(reply: FastifyReply, deps: ApiDependencies, jobId: string, after: number) {
  reply.hijack();
  const raw = reply.raw;
  raw.writeHead(200, {
    "content-type": "text/event-stream; charset=utf-8",
    "cache-control": "no-cache, no-transform",
    connection: "keep-alive",
    "x-accel-buffering": "no",
  });
  raw.write("retry: 1000\n\n");
  let cursor = after;
  let closed = false;
  let wake: () => void = () => {};
  const onEvents = (events: JobEvent[]) => {
    if (events.some((event) => event.jobId === jobId)) wake();
  };
  deps.engine.notifications.on("events", onEvents);
  raw.on("close", () => {
    closed = true;
    wake();
  });
  const keepAlive = setInterval(() => raw.write(": keep-alive\n\n"), keepAliveMs);
  try {
    while (!closed) {
      const events = await deps.engine.readEvents({ jobId, after: cursor, limit: 500 });
      for (const event of events) {
        raw.write(`id: ${event.seq}\nevent: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`);
        cursor = event.seq;
      }
      if (events.some((event) => jobEndEventTypes.has(event.type)) && events.length < 500) break;
      if (events.length === 500) continue;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, deps.limits.eventPollMs);
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  } catch (error) {
    deps.log.error({ err: error, jobId }, "event stream failed");
  } finally {
    clearInterval(keepAlive);
    deps.engine.notifications.off("events", onEvents);
    raw.end();
  }
}
