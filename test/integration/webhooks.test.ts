import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { createHmac } from "node:crypto";
import { mkdir } from "node:fs/promises";
import { createServer, type IncomingHttpHeaders } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { describe, it } from "node:test";
import { createApiKey } from "../../src/api/api-keys.js";
import { createApi } from "../../src/api/start-api.js";
import type { WebhookDelivery } from "../../src/backend/backend.js";
import { loadConfig } from "../../src/config/config.js";
import { newWebhookSecret } from "../../src/notify/webhook-signature.js";
import { openRuntime, type Runtime } from "../../src/runtime/open-runtime.js";
import { builtinCatalog } from "../../src/steps/builtin-steps.js";
import { silentLog, waitForJob } from "../support/engine-fixture.js";
import { withTempDir } from "../support/namespaces.js";
import { pipeline } from "../support/test-pipelines.js";
import { cliPath } from "../support/worker-process.js";

interface Received {
  headers: IncomingHttpHeaders;
  body: string;
  at: number;
}

interface Receiver {
  url: string;
  received: Received[];
  close(): Promise<void>;
}

/** A real HTTP receiver on a loopback port: answers with `replies` in order, then 200. */
async function startReceiver(replies: { status: number; headers?: Record<string, string> }[] = []) {
  const received: Received[] = [];
  const server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on("data", (chunk: Buffer) => chunks.push(chunk));
    request.on("end", () => {
      received.push({
        headers: request.headers,
        body: Buffer.concat(chunks).toString("utf8"),
        at: Date.now(),
      });
      const reply = replies.shift() ?? { status: 200 };
      response.writeHead(reply.status, reply.headers).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  const receiver: Receiver = {
    url: `http://127.0.0.1:${port}/hooks`,
    received,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
  return receiver;
}

async function until<T>(
  what: string,
  check: () => Promise<T | undefined> | T | undefined,
  timeoutMs = 10_000,
) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

const header = (received: Received, name: string) => String(received.headers[name] ?? "");

/** What a receiver does with the tenant's secret: recompute the signature of `id.timestamp.body`. */
function signatureIsValid(received: Received, secret: string): boolean {
  const id = header(received, "webhook-id");
  const timestamp = header(received, "webhook-timestamp");
  // As a Standard Webhooks receiver does it: the key is the base64 after `whsec_`.
  const key = Buffer.from(secret.replace(/^whsec_/, ""), "base64");
  const expected = createHmac("sha256", key).update(`${id}.${timestamp}.${received.body}`).digest("base64");
  return header(received, "webhook-signature") === `v1,${expected}`;
}

async function openTestRuntime(dir: string, allowPrivateWebhooks = true): Promise<Runtime> {
  const config = loadConfig(
    {},
    { dataDir: dir, tmpDir: dir, pollMs: 50, concurrency: 2, logLevel: "silent", allowPrivateWebhooks },
  );
  return openRuntime(config, builtinCatalog(), silentLog);
}

interface ApiServer {
  runtime: Runtime;
  /** POST /v1/jobs as tenant `acme`. */
  createJob(body: unknown): Promise<Response>;
  url: string;
  close(): Promise<void>;
}

/** The HTTP API on a loopback port with an embedded worker and no registered pipelines (jobs inline theirs). */
async function startApi(dir: string): Promise<ApiServer> {
  const runtime = await openTestRuntime(dir);
  try {
    const pipelinesDir = join(dir, "pipelines");
    await mkdir(pipelinesDir);
    const app = await createApi(runtime, { pipelinesDir });
    const address = await app.listen({ host: "127.0.0.1", port: 0 });
    runtime.createWorker().start();
    const { key } = await createApiKey(runtime.backend.apiKeys, "acme");
    return {
      runtime,
      url: address,
      createJob: (body) =>
        fetch(`${address}/v1/jobs`, {
          method: "POST",
          headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
          body: JSON.stringify(body),
        }),
      async close() {
        await app.close();
        await runtime.close();
      },
    };
  } catch (error) {
    await runtime.close();
    throw error;
  }
}

/** Runs a one-step job to the end with the given webhook and returns its id. */
async function runJob(runtime: Runtime, webhook?: { url: string; events: string[] }): Promise<string> {
  const worker = runtime.createWorker();
  worker.start();
  const { job } = await runtime.engine.createJob({
    pipeline: pipeline({ a: { use: "util.noop" } }, "quick"),
    input: null,
    tenant: "acme",
    ...(webhook === undefined ? {} : { webhook }),
  });
  assert.equal((await waitForJob(runtime.engine, job.job.id)).job.status, "succeeded");
  await worker.stop();
  return job.job.id;
}

async function settledDelivery(runtime: Runtime, jobId: string): Promise<WebhookDelivery> {
  return until("the delivery to settle", async () => {
    const [delivery] = await runtime.backend.webhooks.listForJob(jobId);
    return delivery !== undefined && delivery.state !== "pending" ? delivery : undefined;
  });
}

describe("webhooks", () => {
  it("a job created through the API posts its outcome, signed with the tenant's secret", async () => {
    await withTempDir("webhooks-api", async (dir) => {
      const receiver = await startReceiver();
      const server = await startApi(dir).catch(async (error: unknown) => {
        await receiver.close();
        throw error;
      });
      try {
        server.runtime.createWebhookDeliverer({ pollMs: 50 }).start();
        const response = await server.createJob({
          pipeline: { name: "quick", steps: { a: { use: "util.noop" } } },
          webhook: { url: receiver.url },
        });
        assert.equal(response.status, 202, await response.clone().text());
        const { id: jobId } = (await response.json()) as { id: string };
        const [message] = await until("the webhook", () =>
          receiver.received.length > 0 ? receiver.received : undefined,
        );
        assert.ok(message);
        const payload = JSON.parse(message.body) as Record<string, unknown>;
        assert.deepEqual(Object.keys(payload).sort(), ["at", "data", "id", "jobId", "step", "type"]);
        assert.equal(payload.type, "job.succeeded", "the default events are the job's outcome");
        assert.equal(payload.jobId, jobId);
        assert.equal(payload.id, header(message, "webhook-id"));
        assert.equal(header(message, "content-type"), "application/json");
        const timestamp = Number(header(message, "webhook-timestamp"));
        assert.ok(Math.abs(timestamp - Date.now() / 1000) < 60, "the timestamp is in unix seconds, now");
        const secret = await server.runtime.backend.webhooks.signingSecret("acme", newWebhookSecret());
        assert.ok(signatureIsValid(message, secret), "the receiver verifies the signature");
        assert.ok(
          !signatureIsValid({ ...message, body: message.body.replace("succeeded", "failed") }, secret),
        );
        await new Promise((resolve) => setTimeout(resolve, 200));
        assert.equal(receiver.received.length, 1, "job.created and step events were not subscribed to");
      } finally {
        await server.close();
        await receiver.close();
      }
    });
  });

  it("`mediaflow webhooks` sets a tenant's default webhook and prints the secret its deliveries are signed with", async () => {
    await withTempDir("webhooks-cli", async (dir) => {
      const mediaflow = (...args: string[]) =>
        new Promise<string>((resolve, reject) =>
          execFile(
            process.execPath,
            [cliPath, "webhooks", ...args],
            { env: { PATH: process.env.PATH ?? "", MEDIAFLOW_DATA_DIR: dir, MEDIAFLOW_LOG_LEVEL: "warn" } },
            (error, stdout) => (error === null ? resolve(stdout.trim()) : reject(error)),
          ),
        );
      const receiver = await startReceiver();
      try {
        const secret = await mediaflow("secret", "--tenant", "acme");
        assert.match(secret, /^whsec_[A-Za-z0-9+/]{32}$/);
        assert.equal(await mediaflow("secret", "--tenant", "acme"), secret, "the secret is kept");
        const set = await mediaflow(
          "default",
          "--tenant",
          "acme",
          "--url",
          receiver.url,
          "--events",
          "job.succeeded",
        );
        assert.equal(set, `${receiver.url}  job.succeeded`);
        const runtime = await openTestRuntime(dir);
        try {
          runtime.createWebhookDeliverer({ pollMs: 50 }).start();
          const jobId = await runJob(runtime);
          assert.equal((await settledDelivery(runtime, jobId)).state, "delivered");
          const [message] = receiver.received;
          assert.ok(message !== undefined && signatureIsValid(message, secret));
          assert.equal((JSON.parse(message.body) as { type?: string }).type, "job.succeeded");
        } finally {
          await runtime.close();
        }
      } finally {
        await receiver.close();
      }
    });
  });

  it("the API documents the webhook field and refuses a URL that is not http or https", async () => {
    await withTempDir("webhooks-invalid", async (dir) => {
      const server = await startApi(dir);
      try {
        const response = await server.createJob({
          pipeline: { name: "quick", steps: { a: { use: "util.noop" } } },
          webhook: { url: "file:///etc/passwd" },
        });
        assert.equal(response.status, 422);
        const openapi = await (await fetch(`${server.url}/v1/openapi.json`)).text();
        assert.match(openapi, /"webhook"/, "the OpenAPI document describes the webhook field");
      } finally {
        await server.close();
      }
    });
  });

  it("a 500 is retried with the same Webhook-Id, and the delivery is recorded once it gets a 200", async () => {
    await withTempDir("webhooks-retry", async (dir) => {
      const receiver = await startReceiver([{ status: 500 }]);
      const runtime = await openTestRuntime(dir);
      try {
        runtime.createWebhookDeliverer({ pollMs: 50, retryDelaysMs: [100, 100] }).start();
        const jobId = await runJob(runtime, { url: receiver.url, events: ["job.succeeded"] });
        const delivery = await settledDelivery(runtime, jobId);
        assert.equal(delivery.state, "delivered");
        assert.equal(delivery.attempts, 2);
        assert.equal(delivery.lastStatus, 200);
        await new Promise((resolve) => setTimeout(resolve, 300));
        assert.equal(receiver.received.length, 2);
        const [first, second] = receiver.received as [Received, Received];
        assert.equal(header(first, "webhook-id"), header(second, "webhook-id"));
        assert.equal(first.body, second.body);
        // Both attempts are in the job's own event log.
        const events = await runtime.engine.readEvents({ jobId, after: 0, limit: 1_000 });
        const attempts = events.filter((event) => event.type === "webhook.attempted");
        assert.deepEqual(
          attempts.map(
            (event) => event.type === "webhook.attempted" && [event.data.outcome, event.data.status],
          ),
          [
            ["retrying", 500],
            ["delivered", 200],
          ],
        );
      } finally {
        await runtime.close();
        await receiver.close();
      }
    });
  });

  it("a 429 is retried after the receiver's Retry-After, and a 410 is not retried at all", async () => {
    await withTempDir("webhooks-statuses", async (dir) => {
      const slowDown = await startReceiver([{ status: 429, headers: { "retry-after": "1" } }]);
      const gone = await startReceiver([{ status: 410 }]);
      const runtime = await openTestRuntime(dir);
      try {
        runtime.createWebhookDeliverer({ pollMs: 50, retryDelaysMs: [10, 10] }).start();
        const retried = await runJob(runtime, { url: slowDown.url, events: ["job.succeeded"] });
        const refused = await runJob(runtime, { url: gone.url, events: ["job.succeeded"] });
        assert.equal((await settledDelivery(runtime, retried)).state, "delivered");
        const [first, second] = slowDown.received as [Received, Received];
        assert.ok(
          second.at - first.at >= 900,
          `retried after ${second.at - first.at} ms, not after Retry-After`,
        );
        const dead = await settledDelivery(runtime, refused);
        assert.equal(dead.state, "dead");
        assert.equal(dead.attempts, 1);
        assert.equal(dead.lastStatus, 410);
        assert.match(dead.lastError ?? "", /HTTP 410/);
        assert.equal(gone.received.length, 1);
      } finally {
        await runtime.close();
        await slowDown.close();
        await gone.close();
      }
    });
  });

  it("an event whose delivery was not sent before the server stopped is delivered after a restart", async () => {
    await withTempDir("webhooks-restart", async (dir) => {
      const receiver = await startReceiver();
      let jobId: string;
      const before = await openTestRuntime(dir);
      try {
        jobId = await runJob(before, { url: receiver.url, events: ["job.succeeded"] });
        const [pending] = await before.backend.webhooks.listForJob(jobId);
        assert.equal(pending?.state, "pending");
        assert.equal(pending?.attempts, 0);
      } finally {
        await before.close();
      }
      const after = await openTestRuntime(dir);
      try {
        after.createWebhookDeliverer({ pollMs: 50 }).start();
        const delivery = await settledDelivery(after, jobId);
        assert.equal(delivery.state, "delivered");
        assert.equal(receiver.received.length, 1);
        assert.equal((JSON.parse(receiver.received[0]?.body ?? "{}") as { jobId?: string }).jobId, jobId);
      } finally {
        await after.close();
        await receiver.close();
      }
    });
  });

  it("a webhook URL at a loopback address is refused unless private addresses are allowed", async () => {
    await withTempDir("webhooks-ssrf", async (dir) => {
      const receiver = await startReceiver();
      const runtime = await openTestRuntime(dir, false);
      try {
        runtime.createWebhookDeliverer({ pollMs: 50 }).start();
        const port = new URL(receiver.url).port;
        const literal = await runJob(runtime, { url: receiver.url, events: ["job.succeeded"] });
        const named = await runJob(runtime, {
          url: `http://localhost:${port}/hooks`,
          events: ["job.succeeded"],
        });
        for (const jobId of [literal, named]) {
          const delivery = await settledDelivery(runtime, jobId);
          assert.equal(delivery.state, "dead");
          assert.equal(delivery.attempts, 1);
          assert.match(delivery.lastError ?? "", /loopback, private or link-local address/);
        }
        assert.equal(receiver.received.length, 0);
      } finally {
        await runtime.close();
        await receiver.close();
      }
    });
  });
});
