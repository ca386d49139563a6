import assert from "node:assert/strict";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { startTestServer, type TestServer } from "../support/api-server.js";
import { makeVideo } from "../support/media-fixtures.js";
import { withTempDir } from "../support/namespaces.js";

interface JobBody {
  id: string;
  status: string;
  steps: { name: string; status: string; error: { code: string } | null }[];
  outputs: { step: string; name: string; url: string; bytes: number; contentType: string }[];
  error: { code: string; message: string } | null;
}

interface ProblemBody {
  type: string;
  status: number;
  code: string;
  detail: string;
  errors?: { path: string; message: string }[];
}

const writePipeline = {
  name: "note",
  steps: { write: { use: "test.write", with: { text: "hello from mediaflow", name: "hello.txt" } } },
};

async function json<T>(response: Response): Promise<T> {
  return (await response.json()) as T;
}

async function waitForJob(server: TestServer, id: string, key = server.keys.alice): Promise<JobBody> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const job = await json<JobBody>(await server.request(`/v1/jobs/${id}`, { key }));
    if (["succeeded", "failed", "cancelled"].includes(job.status)) return job;
    if (Date.now() > deadline) throw new Error(`job ${id} still ${job.status}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

async function createJob(server: TestServer, body: unknown, key = server.keys.alice): Promise<JobBody> {
  const response = await server.request("/v1/jobs", { method: "POST", body: JSON.stringify(body), key });
  assert.equal(response.status, 202, await response.clone().text());
  return json<JobBody>(response);
}

describe("HTTP API", () => {
  let dir: string;
  let server: TestServer;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "mediaflow-api-"));
    server = await startTestServer(dir);
  });
  after(async () => {
    await server.close();
    await rm(dir, { recursive: true, force: true });
  });

  it("refuses /v1 requests without a valid key with 401 problem+json", async () => {
    for (const key of [null, "mf_00000000_notarealkeynotarealkeynotarealkey00"]) {
      const response = await server.request("/v1/jobs", { key });
      assert.equal(response.status, 401);
      assert.match(response.headers.get("content-type") ?? "", /application\/problem\+json/);
      const problem = await json<ProblemBody>(response);
      assert.equal(problem.code, "unauthorized");
      assert.equal(problem.status, 401);
    }
  });

  it("creates a job with 202 and a Location, runs it, and serves its output through a signed URL", async () => {
    const response = await server.request("/v1/jobs", {
      method: "POST",
      body: JSON.stringify({ pipeline: writePipeline }),
    });
    assert.equal(response.status, 202);
    const created = await json<JobBody>(response);
    assert.equal(response.headers.get("location"), `/v1/jobs/${created.id}`);
    const job = await waitForJob(server, created.id);
    assert.equal(job.status, "succeeded");
    const [output] = job.outputs;
    assert.equal(output?.name, "hello.txt");
    assert.equal(output?.contentType, "text/plain");
    const download = await fetch(`${server.url}${output?.url}`);
    assert.equal(download.status, 200);
    assert.equal(await download.text(), "hello from mediaflow");
    assert.ok(download.headers.get("etag"));
    assert.equal(download.headers.get("content-type"), "text/plain");

    const ranged = await fetch(`${server.url}${output?.url}`, { headers: { range: "bytes=6-9" } });
    assert.equal(ranged.status, 206);
    assert.equal(await ranged.text(), "from");
    assert.equal(ranged.headers.get("content-range"), "bytes 6-9/20");
    const beyond = await fetch(`${server.url}${output?.url}`, { headers: { range: "bytes=100-" } });
    assert.equal(beyond.status, 416);
    const cached = await fetch(`${server.url}${output?.url}`, {
      headers: { "if-none-match": download.headers.get("etag") ?? "" },
    });
    assert.equal(cached.status, 304);
  });

  it("refuses a tampered or expired file link with 403", async () => {
    const job = await waitForJob(server, (await createJob(server, { pipeline: writePipeline })).id);
    const url = job.outputs[0]?.url ?? "";
    // /files/<expires>-<depth>-<signature>/<key>: the token covers the step's output folder and its expiry.
    const [, token = "", key = ""] = /^\/files\/([^/]+)\/(.*)$/.exec(url) ?? [];
    const [expires, depth, signature = ""] = token.split("-");
    const flipped = `${signature.startsWith("A") ? "B" : "A"}${signature.slice(1)}`;
    const tampered = `/files/${expires}-${depth}-${flipped}/${key}`;
    assert.equal((await fetch(`${server.url}${tampered}`)).status, 403);
    const longer = `/files/${Number(expires) + 3600}-${depth}-${signature}/${key}`;
    assert.equal((await fetch(`${server.url}${longer}`)).status, 403);
    const wider = `/files/${expires}-${Number(depth) - 1}-${signature}/${key}`;
    assert.equal((await fetch(`${server.url}${wider}`)).status, 403, "the scope cannot be widened");
    const otherJob = url.replace(job.id, "j_someone_elses_job");
    assert.equal(
      (await fetch(`${server.url}${otherJob}`)).status,
      403,
      "another job's files are out of scope",
    );
    const climbing = `/files/${token}/${key.replace("hello.txt", "..%2F..%2Fhello.txt")}`;
    assert.notEqual((await fetch(`${server.url}${climbing}`)).status, 200);

    await withTempDir("api-expiry", async (shortDir) => {
      const short = await startTestServer(shortDir, { downloadUrlTtlMs: 1 });
      try {
        const made = await waitForJob(short, (await createJob(short, { pipeline: writePipeline })).id);
        await new Promise((resolve) => setTimeout(resolve, 1_100));
        const expired = await fetch(`${short.url}${made.outputs[0]?.url}`);
        assert.equal(expired.status, 403);
        assert.match((await json<ProblemBody>(expired)).detail, /expired/);
      } finally {
        await short.close();
      }
    });
  });

  it("answers 422 naming the field for an unknown pipeline, bad parameters and a bad body", async () => {
    const unknown = await server.request("/v1/jobs", {
      method: "POST",
      body: JSON.stringify({ pipeline: "nope" }),
    });
    assert.equal(unknown.status, 422);
    assert.equal((await json<ProblemBody>(unknown)).code, "invalid_pipeline");

    const badParams = await server.request("/v1/jobs", {
      method: "POST",
      body: JSON.stringify({ pipeline: "demo", params: { nap: "soon" } }),
    });
    assert.equal(badParams.status, 422);
    const paramsProblem = await json<ProblemBody>(badParams);
    assert.ok(paramsProblem.errors?.some((e) => e.path === "steps.left.with.duration"));

    const badBody = await server.request("/v1/jobs", {
      method: "POST",
      body: JSON.stringify({ pipeline: "demo", priority: "high" }),
    });
    assert.equal(badBody.status, 422);
    const bodyProblem = await json<ProblemBody>(badBody);
    assert.ok(
      bodyProblem.errors?.some((e) => e.path === "body.priority"),
      JSON.stringify(bodyProblem),
    );

    const badInline = await server.request("/v1/jobs", {
      method: "POST",
      body: JSON.stringify({ pipeline: { name: "x", steps: { a: { use: "vdeo.transcode" } } } }),
    });
    assert.equal(badInline.status, 422);
    assert.match((await json<ProblemBody>(badInline)).detail, /steps\.a\.use/);
  });

  it("returns the same job for a repeated idempotency key and 409 when the body differs", async () => {
    const body = { pipeline: writePipeline, idempotencyKey: "upload-7" };
    const first = await createJob(server, body);
    const again = await server.request("/v1/jobs", { method: "POST", body: JSON.stringify(body) });
    assert.equal(again.status, 200);
    assert.equal((await json<JobBody>(again)).id, first.id);
    const different = await server.request("/v1/jobs", {
      method: "POST",
      body: JSON.stringify({ ...body, pipeline: "demo" }),
    });
    assert.equal(different.status, 409);
  });

  it("keeps tenants apart: another tenant's job is 404 on every route and absent from lists", async () => {
    const job = await createJob(server, { pipeline: writePipeline });
    const bob = server.keys.bob;
    const routes: [string, string][] = [
      ["GET", `/v1/jobs/${job.id}`],
      ["GET", `/v1/jobs/${job.id}/events`],
      ["DELETE", `/v1/jobs/${job.id}`],
      ["POST", `/v1/jobs/${job.id}/retry`],
    ];
    for (const [method, path] of routes) {
      const foreign = await server.request(path, {
        method,
        key: bob,
        ...(method === "POST" ? { body: "{}" } : {}),
      });
      const missing = await server.request(path.replace(job.id, "job_doesnotexist"), {
        method,
        key: bob,
        ...(method === "POST" ? { body: "{}" } : {}),
      });
      assert.equal(foreign.status, 404, `${method} ${path}`);
      assert.equal(missing.status, 404);
      const [foreignProblem, missingProblem] = [
        await json<ProblemBody>(foreign),
        await json<ProblemBody>(missing),
      ];
      // The same answer as for a job that does not exist, but for the id it names.
      assert.equal(foreignProblem.code, missingProblem.code);
      assert.equal(foreignProblem.detail, missingProblem.detail.replace("job_doesnotexist", job.id));
    }
    const list = await json<{ jobs: { id: string }[] }>(
      await server.request("/v1/jobs?limit=200", { key: bob }),
    );
    assert.ok(list.jobs.every((j) => j.id !== job.id));
    const inputOfAlice = await server.request("/v1/jobs", {
      method: "POST",
      key: bob,
      body: JSON.stringify({ pipeline: writePipeline, input: { key: `tenants/alice/secret.mp4` } }),
    });
    assert.equal(inputOfAlice.status, 404, "a tenant cannot name another tenant's files");
  });

  it("lists jobs newest first with a cursor and filters", async () => {
    await withTempDir("api-list", async (listDir) => {
      const own = await startTestServer(listDir);
      try {
        const ids: string[] = [];
        for (let i = 0; i < 5; i++) ids.push((await createJob(own, { pipeline: writePipeline })).id);
        const page1 = await json<{ jobs: { id: string }[]; nextCursor: string }>(
          await own.request("/v1/jobs?limit=3"),
        );
        const page2 = await json<{ jobs: { id: string }[]; nextCursor: string | null }>(
          await own.request(`/v1/jobs?limit=3&cursor=${page1.nextCursor}`),
        );
        assert.deepEqual(
          [...page1.jobs, ...page2.jobs].map((j) => j.id),
          [...ids].reverse(),
        );
        assert.equal(page2.nextCursor, null);
        const none = await json<{ jobs: unknown[] }>(await own.request("/v1/jobs?pipeline=demo"));
        assert.equal(none.jobs.length, 0);
      } finally {
        await own.close();
      }
    });
  });

  it("cancels a running job with 202", async () => {
    const job = await createJob(server, {
      pipeline: { name: "long", steps: { nap: { use: "util.sleep", with: { duration: "30s" } } } },
    });
    const response = await server.request(`/v1/jobs/${job.id}`, { method: "DELETE" });
    assert.equal(response.status, 202);
    assert.equal((await waitForJob(server, job.id)).status, "cancelled");
  });

  it("retries a failed job's failed step", async () => {
    const job = await createJob(server, {
      pipeline: { name: "fails", steps: { bad: { use: "util.fail", with: { code: "boom" } } } },
    });
    const failed = await waitForJob(server, job.id);
    assert.equal(failed.status, "failed");
    assert.equal(failed.error?.code, "boom");
    const retried = await server.request(`/v1/jobs/${job.id}/retry`, {
      method: "POST",
      body: JSON.stringify({ steps: ["bad"] }),
    });
    assert.equal(retried.status, 202);
    assert.equal((await waitForJob(server, job.id)).status, "failed");
    const events = await json<{ events: { type: string }[] }>(
      await server.request(`/v1/jobs/${job.id}/events`),
    );
    assert.equal(events.events.filter((e) => e.type === "job.retried").length, 1);
  });

  it("streams events as SSE and resumes from Last-Event-ID without gaps or duplicates", async () => {
    const job = await createJob(server, {
      pipeline: {
        name: "steps",
        steps: {
          a: { use: "util.sleep", with: { duration: "400ms", steps: 4 } },
          b: { use: "util.noop", needs: ["a"] },
        },
      },
    });
    const seen: number[] = [];
    const first = await readSse(server, job.id, undefined, 3);
    seen.push(...first.map((e) => e.id));
    const rest = await readSse(server, job.id, seen.at(-1), Number.POSITIVE_INFINITY);
    seen.push(...rest.map((e) => e.id));
    const log = await json<{ events: { seq: number }[] }>(
      await server.request(`/v1/jobs/${job.id}/events?limit=1000`),
    );
    assert.deepEqual(
      seen,
      log.events.map((e) => e.seq),
    );
    assert.equal(rest.at(-1)?.event, "job.succeeded");
  });

  it("answers 413 for a body over the limit", async () => {
    const response = await server.request("/v1/jobs", {
      method: "POST",
      body: JSON.stringify({ pipeline: "demo", params: { big: "x".repeat(2 * 1024 * 1024) } }),
    });
    assert.equal(response.status, 413);
    assert.equal((await json<ProblemBody>(response)).code, "payload_too_large");
  });

  it("serves health, readiness, metrics and the OpenAPI document", async () => {
    assert.equal((await fetch(`${server.url}/healthz`)).status, 200);
    assert.equal((await fetch(`${server.url}/readyz`)).status, 200);
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    assert.match(metrics, /mediaflow_jobs\{status="succeeded"\} \d+/);
    assert.match(metrics, /mediaflow_queue_depth/);
    assert.match(metrics, /mediaflow_worker_slots\{state="idle"\} \d+/);
    assert.match(metrics, /mediaflow_http_request_duration_seconds_bucket/);
    const openapi = await json<{ openapi: string; paths: Record<string, unknown> }>(
      await server.request("/v1/openapi.json"),
    );
    assert.match(openapi.openapi, /^3\./);
    assert.ok(openapi.paths["/v1/jobs"]);
    assert.ok(openapi.paths["/v1/jobs/{id}"]);
  });

  it("rate-limits each key with 429 and Retry-After", async () => {
    await withTempDir("api-rate", async (rateDir) => {
      const limited = await startTestServer(rateDir, { requestsPerMinute: 3 });
      try {
        const statuses: number[] = [];
        for (let i = 0; i < 4; i++) statuses.push((await limited.request("/v1/jobs")).status);
        assert.deepEqual(statuses, [200, 200, 200, 429]);
        const refused = await limited.request("/v1/jobs");
        assert.ok(Number(refused.headers.get("retry-after")) > 0);
        assert.equal((await json<ProblemBody>(refused)).code, "rate_limited");
        assert.equal(
          (await limited.request("/v1/jobs", { key: limited.keys.bob })).status,
          200,
          "limits are per key",
        );
      } finally {
        await limited.close();
      }
    });
  });
});

/** Reads an SSE stream until `count` events arrived or it ends. */
async function readSse(server: TestServer, jobId: string, lastEventId: number | undefined, count: number) {
  const headers: Record<string, string> = { accept: "text/event-stream" };
  if (lastEventId !== undefined) headers["last-event-id"] = String(lastEventId);
  const controller = new AbortController();
  const response = await server.request(`/v1/jobs/${jobId}/events`, { headers, signal: controller.signal });
  assert.equal(response.status, 200);
  assert.match(response.headers.get("content-type") ?? "", /text\/event-stream/);
  const events: { id: number; event: string }[] = [];
  const decoder = new TextDecoder();
  let buffer = "";
  const reader = response.body?.getReader();
  if (reader === undefined) throw new Error("no body");
  try {
    while (events.length < count) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      let end = buffer.indexOf("\n\n");
      while (end >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const id = /^id: (\d+)$/m.exec(block)?.[1];
        const event = /^event: (.+)$/m.exec(block)?.[1];
        if (id !== undefined && event !== undefined) events.push({ id: Number(id), event });
        end = buffer.indexOf("\n\n");
      }
    }
  } finally {
    controller.abort();
  }
  return events.slice(0, count);
}

describe("signed uploads", () => {
  let dir: string;
  let server: TestServer;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "mediaflow-uploads-"));
    server = await startTestServer(dir);
  });
  after(async () => {
    await server.close();
    await rm(dir, { recursive: true, force: true });
  });

  async function newUpload(bytes: number, key = server.keys.alice) {
    const response = await server.request("/v1/uploads", {
      method: "POST",
      key,
      body: JSON.stringify({ filename: "clip.mp4", bytes }),
    });
    assert.equal(response.status, 201);
    return json<{ id: string; url: string; maxBytes: number }>(response);
  }

  it("accepts one PUT of the declared size, then the upload can be a job's input", async () => {
    const upload = await newUpload(11);
    const put = await fetch(`${server.url}${upload.url}`, { method: "PUT", body: "hello video" });
    assert.equal(put.status, 201);
    const again = await fetch(`${server.url}${upload.url}`, { method: "PUT", body: "hello video" });
    assert.equal(again.status, 403, "an upload link works once");
    const job = await createJob(server, {
      pipeline: "demo",
      input: { uploadId: upload.id },
      params: { nap: "10ms" },
    });
    assert.equal((await waitForJob(server, job.id)).status, "succeeded");
    const foreign = await server.request("/v1/jobs", {
      method: "POST",
      key: server.keys.bob,
      body: JSON.stringify({ pipeline: "demo", input: { uploadId: upload.id } }),
    });
    assert.equal(foreign.status, 404, "another tenant cannot use the upload");
  });

  it("refuses a tampered signature with 403 and a body past the declared size with 413", async () => {
    const upload = await newUpload(10);
    const tampered = upload.url.replace(/signature=./, (m) => `signature=${m.endsWith("A") ? "B" : "A"}`);
    assert.equal(
      (await fetch(`${server.url}${tampered}`, { method: "PUT", body: "0123456789" })).status,
      403,
    );
    const tooBig = await fetch(`${server.url}${upload.url}`, { method: "PUT", body: "x".repeat(1_000_000) });
    assert.equal(tooBig.status, 413);
    const chunked = await newUpload(10);
    const stream = new ReadableStream<Uint8Array>({
      start(controller) {
        for (let i = 0; i < 100; i++) controller.enqueue(new Uint8Array(10_000));
        controller.close();
      },
    });
    const streamed = await fetch(`${server.url}${chunked.url}`, {
      method: "PUT",
      body: stream,
      duplex: "half",
    } as RequestInit);
    assert.equal(streamed.status, 413, "a body without Content-Length is cut off once it passes the size");
    const notUsable = await server.request("/v1/jobs", {
      method: "POST",
      body: JSON.stringify({ pipeline: "demo", input: { uploadId: chunked.id } }),
    });
    assert.equal(notUsable.status, 409);
  });

  it("serves an HLS package through one signed link: relative playlists and segments resolve", async () => {
    const video = await readFile(
      await makeVideo(join(dir, "hls-source.mp4"), { seconds: 4, width: 320, height: 180 }),
    );
    const form = new FormData();
    form.set("pipeline", "abr");
    form.set("params", JSON.stringify({ preset: "ultrafast" }));
    form.set("file", new Blob([video], { type: "video/mp4" }), "talk.mp4");
    const response = await server.request("/v1/jobs", { method: "POST", body: form });
    assert.equal(response.status, 202, await response.clone().text());
    const id = (await json<JobBody>(response)).id;
    const job = await waitForJob(server, id);
    assert.equal(job.status, "succeeded", JSON.stringify(job));
    const master = job.outputs.find((output) => output.name === "hls/master.m3u8");
    assert.ok(master);
    // What a player does: fetch the master, then every URI in it relative to the master's own URL.
    const pending = [new URL(master.url, server.url)];
    const fetched = new Set<string>();
    while (pending.length > 0) {
      const url = pending.pop() as URL;
      if (fetched.has(url.href)) continue;
      fetched.add(url.href);
      const file = await fetch(url);
      assert.equal(file.status, 200, url.pathname);
      if (!url.pathname.endsWith(".m3u8")) continue;
      for (const line of (await file.text()).split("\n")) {
        const uri = line.startsWith("#") ? /URI="([^"]+)"/.exec(line)?.[1] : line.trim() || undefined;
        if (uri !== undefined) pending.push(new URL(uri, url));
      }
    }
    assert.ok(
      [...fetched].some((href) => href.endsWith(".m4s")),
      "segments were reached",
    );
  });

  it("creates a job from a multipart request, streaming its file to storage", async () => {
    const form = new FormData();
    form.set("pipeline", "demo");
    form.set("params", JSON.stringify({ nap: "10ms" }));
    form.set("file", new Blob(["fake video bytes"], { type: "video/mp4" }), "clip.mp4");
    const response = await server.request("/v1/jobs", { method: "POST", body: form });
    assert.equal(response.status, 202, await response.clone().text());
    const job = await waitForJob(server, (await json<JobBody>(response)).id);
    assert.equal(job.status, "succeeded");
    const stored = await server.runtime.engine.getJob(job.id);
    assert.match(stored?.job.input?.key ?? "", /^tenants\/alice\/uploads\/upl_[\w-]+\/clip\.mp4$/);
    assert.equal(stored?.job.input?.bytes, 16);

    const noFile = new FormData();
    noFile.set("pipeline", "demo");
    const refused = await server.request("/v1/jobs", { method: "POST", body: noFile });
    assert.equal(refused.status, 422);
    assert.ok((await json<ProblemBody>(refused)).errors?.some((e) => e.path === "body.file"));
  });

  it("refuses a multipart file larger than the upload limit with 413", async () => {
    await withTempDir("multipart-limit", async (limitDir) => {
      const small = await startTestServer(limitDir, { maxUploadBytes: 100 });
      try {
        const form = new FormData();
        form.set("pipeline", "demo");
        form.set("file", new Blob([new Uint8Array(10_000)]), "big.mp4");
        const response = await small.request("/v1/jobs", { method: "POST", body: form });
        assert.equal(response.status, 413);
      } finally {
        await small.close();
      }
    });
  });

  it("refuses an expired upload link with 403", async () => {
    await withTempDir("upload-expiry", async (shortDir) => {
      const short = await startTestServer(shortDir, { uploadUrlTtlMs: 1 });
      try {
        const response = await short.request("/v1/uploads", {
          method: "POST",
          body: JSON.stringify({ filename: "a.mp4", bytes: 3 }),
        });
        const upload = await json<{ url: string }>(response);
        await new Promise((resolve) => setTimeout(resolve, 1_100));
        const put = await fetch(`${short.url}${upload.url}`, { method: "PUT", body: "abc" });
        assert.equal(put.status, 403);
        assert.match((await json<ProblemBody>(put)).detail, /expired/);
      } finally {
        await short.close();
      }
    });
  });
});
