import assert from "node:assert/strict";
import { join } from "node:path";
import { describe, it } from "node:test";
import { openSqliteBackend } from "../../src/backend/sqlite/sqlite-backend.js";
import { Engine } from "../../src/engine/engine.js";
import { withTempDir } from "../support/namespaces.js";
import { pipeline, testCatalog } from "../support/test-pipelines.js";

const claim = { workerId: "w1", limit: 1, leaseMs: 30_000 };

// The SQLite writer keeps the projections it loads and saves; these check that what it serves is always
// what the file holds.
describe("sqlite projections kept by the writer", () => {
  it("a projection saved by work that then failed is not served afterwards", async () => {
    await withTempDir("cache-rollback", async (dir) => {
      const backend = await openSqliteBackend(join(dir, "test.db"));
      try {
        const engine = new Engine({ backend, catalog: testCatalog });
        const { job } = await engine.createJob({ pipeline: pipeline({ a: {} }), input: null });
        await assert.rejects(
          backend.transaction(async (tx) => {
            const state = await tx.lockJob(job.job.id);
            assert.ok(state !== undefined);
            state.job.status = "cancelled";
            await tx.appendEvents([{ ...cancelled(job.job.id), at: Date.now() }], [state]);
            throw new Error("the work fails after saving");
          }),
          /the work fails after saving/,
        );
        const after = await backend.transaction((tx) => tx.lockJob(job.job.id));
        assert.equal(after?.job.status, "queued");
        assert.equal(after?.job.lastSeq, job.job.lastSeq);
        // And the job still runs as if nothing happened.
        const [task] = await engine.claimTasks(claim);
        assert.ok(task !== undefined);
        await engine.completeTask(task.lease, { outputs: [] });
        assert.equal((await engine.getJob(job.job.id))?.job.status, "succeeded");
      } finally {
        await backend.close();
      }
    });
  });

  it("a change another connection commits to the file is seen by the next transaction", async () => {
    await withTempDir("cache-other-writer", async (dir) => {
      const path = join(dir, "test.db");
      const first = await openSqliteBackend(path);
      const second = await openSqliteBackend(path);
      try {
        const engineA = new Engine({ backend: first, catalog: testCatalog });
        const engineB = new Engine({ backend: second, catalog: testCatalog });
        const { job } = await engineA.createJob({ pipeline: pipeline({ a: {}, b: {} }), input: null });
        // The first writer now holds the job as created; the second moves it on.
        const claimed = await engineB.claimTasks({ ...claim, limit: 2 });
        assert.equal(claimed.length, 2);
        for (const task of claimed) await engineB.completeTask(task.lease, { outputs: [] });
        const seen = await first.transaction((tx) => tx.lockJob(job.job.id));
        assert.equal(seen?.job.status, "succeeded");
        assert.deepEqual(
          Object.values(seen?.steps ?? {}).map((step) => step.status),
          ["succeeded", "succeeded"],
        );
        // Cancelling through the first writer finds the job finished, so changes nothing.
        const cancelledJob = await engineA.cancelJob(job.job.id);
        assert.equal(cancelledJob.job.status, "succeeded");
      } finally {
        await second.close();
        await first.close();
      }
    });
  });

  it("changing a projection a transaction returned does not change what the next one loads", async () => {
    await withTempDir("cache-copies", async (dir) => {
      const backend = await openSqliteBackend(join(dir, "test.db"));
      try {
        const engine = new Engine({ backend, catalog: testCatalog });
        const { job } = await engine.createJob({ pipeline: pipeline({ a: {} }), input: null });
        const loaded = await backend.transaction((tx) => tx.lockJob(job.job.id));
        assert.ok(loaded !== undefined);
        loaded.job.status = "failed";
        const step = loaded.steps.a;
        assert.ok(step !== undefined);
        step.status = "failed";
        job.job.status = "cancelled";
        const again = await backend.transaction((tx) => tx.lockJob(job.job.id));
        assert.equal(again?.job.status, "queued");
        assert.equal(again?.steps.a?.status, "queued");
      } finally {
        await backend.close();
      }
    });
  });
});

function cancelled(jobId: string) {
  return {
    type: "job.cancelled" as const,
    jobId,
    step: null,
    part: null,
    attempt: null,
    workerId: null,
    data: { reason: "test" },
  };
}
