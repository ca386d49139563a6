import assert from "node:assert/strict";
import type { ChildProcess } from "node:child_process";
import { join } from "node:path";
import { describe, it } from "node:test";
import { builtinCatalog } from "../../src/steps/builtin-steps.js";
import { openEngineFixture, waitForJob } from "../support/engine-fixture.js";
import { withTempDir } from "../support/namespaces.js";
import { pipeline } from "../support/test-pipelines.js";
import { exited, spawnWorker } from "../support/worker-process.js";

function workerEnv(dir: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    MEDIAFLOW_DATABASE_URL: join(dir, "mediaflow.db"),
    MEDIAFLOW_STORAGE_URL: join(dir, "blobs"),
    MEDIAFLOW_TMP_DIR: dir,
    MEDIAFLOW_LEASE: "2s",
    MEDIAFLOW_POLL_INTERVAL: "50ms",
    MEDIAFLOW_CONCURRENCY: "4",
    ...extra,
  };
}

describe("worker processes sharing one SQLite file", () => {
  it("every job succeeds exactly once while a worker is killed with SIGKILL every 2 s", {
    timeout: 120_000,
  }, async () => {
    await withTempDir("crash", async (dir) => {
      const fixture = await openEngineFixture(dir, builtinCatalog());
      const workers: ChildProcess[] = [];
      try {
        const spec = pipeline({
          first: {
            use: "util.sleep",
            with: { duration: "60ms", steps: 2 },
            retry: { attempts: 10, initialDelayMs: 10 },
          },
          second: {
            use: "util.sleep",
            needs: ["first"],
            with: { duration: "60ms", steps: 2 },
            retry: { attempts: 10, initialDelayMs: 10 },
          },
        });
        const ids: string[] = [];
        const creates = Array.from({ length: 200 }, () =>
          fixture.engine.createJob({ pipeline: spec, input: null }),
        );
        for (const { job } of await Promise.all(creates)) ids.push(job.job.id);
        for (let i = 0; i < 3; i++) workers.push(spawnWorker(workerEnv(dir)));

        let kills = 0;
        const killer = setInterval(() => {
          const victim = workers.shift();
          if (victim === undefined) return;
          victim.kill("SIGKILL");
          kills++;
          workers.push(spawnWorker(workerEnv(dir)));
        }, 2_000);
        try {
          for (const id of ids) {
            const state = await waitForJob(fixture.engine, id, 90_000);
            assert.equal(state.job.status, "succeeded", `job ${id} ended ${state.job.status}`);
          }
        } finally {
          clearInterval(killer);
        }
        assert.ok(kills >= 1, "at least one worker was killed mid-run");

        const events = await fixture.engine.readEvents({ after: 0, limit: 100_000 });
        const successes = new Map<string, number>();
        for (const event of events) {
          if (event.type !== "step.succeeded") continue;
          const key = `${event.jobId}/${event.step}`;
          successes.set(key, (successes.get(key) ?? 0) + 1);
        }
        assert.equal(successes.size, 400);
        const takeovers = events.filter(
          (e) => e.type === "step.retrying" && e.data.error.code === "lease_expired",
        );
        assert.ok(takeovers.length >= 1, "a killed worker's task was taken over after its lease expired");
        assert.ok(
          [...successes.values()].every((n) => n === 1),
          "a step recorded success twice",
        );
        for (const id of ids)
          assert.deepEqual(await fixture.backend.reads.listTasks(id), [], "no lease left behind");
      } finally {
        for (const worker of workers) worker.kill("SIGKILL");
        await Promise.all(workers.map(exited));
        await fixture.close();
      }
    });
  });

  it("SIGTERM mid-task hands the task back, another worker finishes it, and the process exits 0", {
    timeout: 60_000,
  }, async () => {
    await withTempDir("sigterm", async (dir) => {
      const fixture = await openEngineFixture(dir, builtinCatalog());
      const children: ChildProcess[] = [];
      try {
        const leaving = spawnWorker(workerEnv(dir, { MEDIAFLOW_SHUTDOWN_GRACE: "300ms" }), [
          "--id",
          "leaving",
        ]);
        children.push(leaving);
        const spec = pipeline({
          long: { use: "util.sleep", with: { duration: "3s" }, retry: { attempts: 1 } },
        });
        const { job } = await fixture.engine.createJob({ pipeline: spec, input: null });
        const deadline = Date.now() + 10_000;
        while ((await fixture.engine.getJob(job.job.id))?.steps.long?.status !== "running") {
          if (Date.now() > deadline) throw new Error("the step never started");
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
        leaving.kill("SIGTERM");
        const exit = await exited(leaving);
        assert.deepEqual(exit, { code: 0, signal: null });

        const events = await fixture.engine.readEvents({ jobId: job.job.id, after: 0, limit: 100 });
        const released = events.find((e) => e.type === "step.released");
        assert.equal(released?.workerId, "leaving");

        children.push(spawnWorker(workerEnv(dir), ["--id", "staying"]));
        const state = await waitForJob(fixture.engine, job.job.id, 20_000);
        assert.equal(state.job.status, "succeeded");
        const finished = await fixture.engine.readEvents({ jobId: job.job.id, after: 0, limit: 100 });
        const started = finished.filter((e) => e.type === "step.started").map((e) => e.workerId);
        assert.deepEqual(started, ["leaving", "staying"]);
      } finally {
        for (const child of children) child.kill("SIGKILL");
        await Promise.all(children.map(exited));
        await fixture.close();
      }
    });
  });
});
