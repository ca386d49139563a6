import { strict as assert } from "node:assert";
import { describe, it } from "node:test";
import { ProjectionCache } from "../../src/backend/sqlite/projection-cache.js";
import { type JobProjection, projectionFromCreated } from "../../src/engine/projection.js";
import { pipeline } from "../support/test-pipelines.js";

function job(id: string, steps: number): JobProjection {
  const names = Array.from({ length: steps }, (_, i) => `s${i}`);
  return projectionFromCreated({
    type: "job.created",
    jobId: id,
    step: null,
    part: null,
    attempt: null,
    workerId: null,
    at: 0,
    data: {
      tenant: "default",
      pipeline: pipeline(Object.fromEntries(names.map((name) => [name, {}]))),
      input: null,
      params: {},
      priority: 0,
      idempotencyKey: null,
    },
  });
}

const cached = (cache: ProjectionCache, count: number) =>
  Array.from({ length: count }, (_, i) => `job${i}`).filter((id) => cache.get(id) !== undefined);

describe("the writer's projection cache", () => {
  it("keeps the jobs used last within its budget of steps, and drops those unused the longest", () => {
    const cache = new ProjectionCache(100);
    for (let i = 0; i < 300; i++) cache.set(job(`job${i}`, 1));
    const kept = cached(cache, 300);
    assert.ok(kept.length >= 50 && kept.length <= 100, `${kept.length} jobs kept`);
    assert.ok(kept.includes("job299"));
    assert.ok(!kept.includes("job0"));
    // Kept jobs are the newest ones, in one run.
    assert.deepEqual(
      kept,
      Array.from({ length: kept.length }, (_, i) => `job${300 - kept.length + i}`),
    );
  });

  it("keeps a job that is read again, however long ago it was saved", () => {
    const cache = new ProjectionCache(100);
    cache.set(job("job0", 1));
    for (let i = 1; i < 1_000; i++) {
      cache.set(job(`job${i}`, 1));
      if (i % 20 === 0) assert.ok(cache.get("job0") !== undefined, `job0 dropped by job${i}`);
    }
  });

  it("counts a job's steps against the budget", () => {
    const cache = new ProjectionCache(100);
    for (let i = 0; i < 100; i++) cache.set(job(`job${i}`, 10));
    const kept = cached(cache, 100);
    assert.ok(kept.length >= 5 && kept.length <= 10, `${kept.length} ten-step jobs kept`);
  });

  it("hands out copies: changing one changes nothing kept", () => {
    const cache = new ProjectionCache(100);
    cache.set(job("job0", 1));
    const copy = cache.get("job0");
    assert.ok(copy !== undefined);
    copy.job.status = "failed";
    assert.equal(cache.get("job0")?.job.status, "queued");
  });
});
