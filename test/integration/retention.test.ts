import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { isExpiredKey } from "../../src/engine/job-expiry.js";
import type { JobProjection } from "../../src/engine/projection.js";
import { startTestServer, type TestServer } from "../support/api-server.js";
import { withTempDir } from "../support/namespaces.js";

interface ProblemBody {
  type: string;
  status: number;
  code: string;
  detail: string;
}

const notePipeline = (retention?: string) => ({
  name: "note",
  ...(retention === undefined ? {} : { retention }),
  steps: { write: { use: "test.write", with: { text: "kept for a while", name: "note.txt" } } },
});

async function createJob(server: TestServer, pipeline: unknown): Promise<string> {
  const response = await server.request("/v1/jobs", { method: "POST", body: JSON.stringify({ pipeline }) });
  assert.equal(response.status, 202, await response.clone().text());
  return ((await response.json()) as { id: string }).id;
}

/** Waits through the engine, not the API: a job kept for a second may be gone before a poll sees it. */
async function finished(server: TestServer, jobId: string): Promise<JobProjection> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const state = await server.runtime.engine.getJob(jobId);
    if (state !== undefined && state.job.finishedAt !== null) return state;
    if (Date.now() > deadline) throw new Error(`job ${jobId} did not finish`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

function outputKeys(state: JobProjection): string[] {
  return Object.values(state.steps).flatMap((step) => (step.result?.outputs ?? []).map((o) => o.key));
}

async function storedUnder(server: TestServer, prefix: string): Promise<string[]> {
  const keys: string[] = [];
  for await (const blob of server.runtime.storage.list(prefix)) keys.push(blob.key);
  return keys;
}

async function assertGone(response: Response, expiredAt: number): Promise<void> {
  assert.equal(response.status, 410);
  assert.match(response.headers.get("content-type") ?? "", /application\/problem\+json/);
  const problem = (await response.json()) as ProblemBody;
  assert.equal(problem.code, "gone");
  assert.match(problem.type, /\/gone$/);
  assert.ok(problem.detail.includes(new Date(expiredAt).toISOString()), problem.detail);
}

/** The signed download link of a job's first output, once the job has finished. */
async function outputLink(server: TestServer, id: string): Promise<string> {
  for (let i = 0; i < 200; i++) {
    const job = (await (await server.request(`/v1/jobs/${id}`)).json()) as {
      status: string;
      outputs: { url: string }[];
    };
    const url = job.outputs[0]?.url;
    if (job.status === "succeeded" && url !== undefined) return url;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  throw new Error(`job ${id} made no output`);
}

describe("job retention over HTTP", () => {
  it("a job past its retention answers 410, its files are deleted by the sweeper, and lists leave it out; a kept job is untouched", async () => {
    await withTempDir("retention", async (dir) => {
      const server = await startTestServer(dir);
      try {
        const shortId = await createJob(server, notePipeline("1s"));
        const link = await outputLink(server, shortId);
        const keptId = await createJob(server, notePipeline());
        const short = await finished(server, shortId);
        const kept = await finished(server, keptId);
        const shortKeys = outputKeys(short);
        assert.equal(shortKeys.length, 1);
        assert.equal(short.job.pipeline.retentionMs, 1_000);
        const expiresAt = (short.job.finishedAt ?? 0) + 1_000;

        // Past its retention the job is gone at once, before any sweep has deleted its files.
        await new Promise((resolve) => setTimeout(resolve, Math.max(0, expiresAt - Date.now() + 20)));
        await assertGone(await server.request(`/v1/jobs/${shortId}`), expiresAt);
        const [shortKey = ""] = shortKeys;
        assert.equal(await isExpiredKey(server.runtime.backend, shortKey, Date.now()), true);
        const download = await fetch(`${server.url}${link}`);
        assert.equal(download.status, 410, "a download link of an expired job is gone too");

        const sweeper = server.runtime.createRetentionSweeper();
        assert.equal(await sweeper.sweepOnce(), 1);
        assert.equal(await sweeper.sweepOnce(), 0, "a second sweep finds nothing left to do");
        assert.equal(await server.runtime.storage.stat(shortKey), undefined);
        assert.deepEqual(await storedUnder(server, `jobs/${shortId}/`), []);

        await assertGone(await server.request(`/v1/jobs/${shortId}`), expiresAt);
        await assertGone(await server.request(`/v1/jobs/${shortId}/events`), expiresAt);
        await assertGone(
          await server.request(`/v1/jobs/${shortId}/retry`, { method: "POST", body: "{}" }),
          expiresAt,
        );
        await assertGone(await server.request(`/v1/jobs/${shortId}`, { method: "DELETE" }), expiresAt);

        const list = (await (await server.request("/v1/jobs")).json()) as { jobs: { id: string }[] };
        assert.deepEqual(
          list.jobs.map((job) => job.id),
          [keptId],
        );

        const keptResponse = await server.request(`/v1/jobs/${keptId}`);
        assert.equal(keptResponse.status, 200);
        const [keptKey = ""] = outputKeys(kept);
        assert.notEqual(await server.runtime.storage.stat(keptKey), undefined);
        assert.equal(await isExpiredKey(server.runtime.backend, keptKey, Date.now()), false);
      } finally {
        await server.close();
      }
    });
  });

  it("an unknown job is still 404, not 410", async () => {
    await withTempDir("retention-missing", async (dir) => {
      const server = await startTestServer(dir);
      try {
        const response = await server.request("/v1/jobs/job_01kdvdnaz8ryn17agc8wqskjyv");
        assert.equal(response.status, 404);
        assert.equal(
          await isExpiredKey(server.runtime.backend, "tenants/alice/uploads/u1/in.mp4", Date.now()),
          false,
        );
      } finally {
        await server.close();
      }
    });
  });
});
