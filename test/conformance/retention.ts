import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { Backend, BackendKind } from "../../src/backend/backend.js";
import { Engine } from "../../src/engine/engine.js";
import { ErrorCodes, PermanentError } from "../../src/errors/errors.js";
import { retentionDefaults } from "../../src/pipeline/retention.js";
import type { PipelineSpec } from "../../src/pipeline/types.js";
import { TestClock } from "../support/test-clock.js";
import { pipeline, testCatalog } from "../support/test-pipelines.js";
import type { BackendHarness } from "./backend.js";

/**
 * The retention conformance suite: expiry written when a job finishes, claims of due jobs by sweepers,
 * marking them expired. Every adapter runs it unchanged; each test owns a fresh database from `open`.
 */
interface Fixture {
  engine: Engine;
  backend: Backend;
  clock: TestClock;
}

const leaseMs = 10_000;
const minute = 60_000;

function kept(retentionMs: number | undefined): PipelineSpec {
  const spec = pipeline({ a: {} });
  return retentionMs === undefined ? spec : { ...spec, retentionMs };
}

/** Creates a one-step job and runs it to `outcome`; returns its id and when it finished. */
async function finishedJob(
  engine: Engine,
  clock: TestClock,
  retentionMs: number | undefined,
  outcome: "succeeded" | "failed" = "succeeded",
): Promise<{ jobId: string; finishedAt: number }> {
  const { job } = await engine.createJob({ pipeline: kept(retentionMs), input: null });
  const [task] = await engine.claimTasks({ workerId: "w", limit: 1, leaseMs });
  assert.ok(task !== undefined && task.job.id === job.job.id);
  clock.advance(1_000);
  if (outcome === "succeeded") await engine.completeTask(task.lease, { outputs: [] });
  else await engine.failTask(task.lease, new PermanentError(ErrorCodes.invalidArgument, "bad input"));
  const state = await engine.getJob(job.job.id);
  assert.equal(state?.job.status, outcome);
  return { jobId: job.job.id, finishedAt: state?.job.finishedAt ?? Number.NaN };
}

export function retentionConformance(kind: BackendKind, open: () => Promise<BackendHarness>): void {
  const test = (title: string, body: (fixture: Fixture) => Promise<void>) =>
    it(`[${kind}] ${title}`, async () => {
      const harness = await open();
      const clock = new TestClock();
      const engine = new Engine({ backend: harness.backend, catalog: testCatalog, clock: clock.read });
      let passed = false;
      try {
        await body({ engine, backend: harness.backend, clock });
        passed = true;
      } finally {
        await harness.backend.close();
        await harness.cleanup(!passed);
      }
    });

  const claim = (backend: Backend, now: number, limit = 10) =>
    backend.retention.claimExpired({ now, limit, leaseMs });

  describe(`retention conformance: ${kind}`, () => {
    test("a job expires its pipeline's retention after it finishes, a week by default, and not while it runs", async ({
      engine,
      backend,
      clock,
    }) => {
      const short = await finishedJob(engine, clock, minute);
      assert.deepEqual(await backend.retention.expiryOf(short.jobId), {
        expiresAt: short.finishedAt + minute,
        expiredAt: null,
      });
      const usual = await finishedJob(engine, clock, undefined, "failed");
      assert.equal(
        (await backend.retention.expiryOf(usual.jobId))?.expiresAt,
        usual.finishedAt + retentionDefaults.retentionMs,
      );
      const { job: running } = await engine.createJob({ pipeline: kept(minute), input: null });
      assert.deepEqual(await backend.retention.expiryOf(running.job.id), {
        expiresAt: null,
        expiredAt: null,
      });
      assert.equal(await backend.retention.expiryOf("job_missing"), undefined);
    });

    test("only jobs past their retention are claimed, oldest expiry first, and a held claim is not claimed again until it runs out", async ({
      engine,
      backend,
      clock,
    }) => {
      const late = await finishedJob(engine, clock, 3 * minute);
      const early = await finishedJob(engine, clock, minute);
      const unexpired = await finishedJob(engine, clock, 60 * minute);
      await engine.createJob({ pipeline: kept(minute), input: null });
      const now = late.finishedAt + 3 * minute;
      assert.deepEqual(await claim(backend, now - 1), [early.jobId]);
      clock.now = now;
      assert.deepEqual(await claim(backend, now), [late.jobId]);
      // Both claims still hold a moment before the later one runs out; once both have, both are due again.
      assert.deepEqual(await claim(backend, now + leaseMs - 2), []);
      assert.deepEqual(await claim(backend, now + leaseMs), [early.jobId, late.jobId]);
      assert.equal((await backend.retention.expiryOf(unexpired.jobId))?.expiredAt, null);
    });

    test("marking a job expired is idempotent, keeps the first time, and ends its claims", async ({
      engine,
      backend,
      clock,
    }) => {
      const { jobId, finishedAt } = await finishedJob(engine, clock, minute);
      const due = finishedAt + minute;
      assert.deepEqual(await claim(backend, due), [jobId]);
      assert.equal(await backend.retention.markExpired(jobId, due + 5), true);
      assert.equal(await backend.retention.markExpired(jobId, due + 9), false);
      assert.deepEqual(await backend.retention.expiryOf(jobId), { expiresAt: due, expiredAt: due + 5 });
      assert.deepEqual(await claim(backend, due + 10 * leaseMs), []);
    });

    test("a job cannot be marked expired before its retention ends, nor once retried", async ({
      engine,
      backend,
      clock,
    }) => {
      const { jobId, finishedAt } = await finishedJob(engine, clock, minute, "failed");
      assert.equal(await backend.retention.markExpired(jobId, finishedAt + minute - 1), false);
      await engine.retryJob(jobId);
      assert.deepEqual(await backend.retention.expiryOf(jobId), { expiresAt: null, expiredAt: null });
      assert.equal(await backend.retention.markExpired(jobId, finishedAt + 10 * minute), false);
      assert.deepEqual(await claim(backend, finishedAt + 10 * minute), []);
    });

    test("listing for a time leaves out jobs past their retention, swept or not; listing without one keeps them", async ({
      engine,
      backend,
      clock,
    }) => {
      const swept = await finishedJob(engine, clock, minute);
      const due = await finishedJob(engine, clock, minute);
      const keptJob = await finishedJob(engine, clock, 60 * minute);
      const { job: running } = await engine.createJob({ pipeline: kept(minute), input: null });
      const now = due.finishedAt + minute;
      assert.deepEqual(await claim(backend, swept.finishedAt + minute, 1), [swept.jobId]);
      assert.equal(await backend.retention.markExpired(swept.jobId, now), true);
      const listed = await backend.reads.listJobs({ limit: 10, retainedAt: now });
      assert.deepEqual(
        listed.map((job) => job.id),
        [running.job.id, keptJob.jobId],
      );
      assert.equal((await backend.reads.listJobs({ limit: 10 })).length, 4);
    });

    test("sweepers claiming at the same time never get the same job, and together get them all", async ({
      engine,
      backend,
      clock,
    }) => {
      const jobIds: string[] = [];
      for (let i = 0; i < 24; i++) jobIds.push((await finishedJob(engine, clock, minute)).jobId);
      const now = clock.now + minute;
      const sweeper = async () => {
        const mine: string[] = [];
        for (;;) {
          const claimed = await claim(backend, now, 3);
          if (claimed.length === 0) return mine;
          mine.push(...claimed);
          for (const jobId of claimed) assert.equal(await backend.retention.markExpired(jobId, now), true);
        }
      };
      const results = await Promise.all([sweeper(), sweeper(), sweeper(), sweeper()]);
      const all = results.flat();
      assert.equal(new Set(all).size, all.length, "a job was claimed twice");
      assert.deepEqual([...all].sort(), [...jobIds].sort());
    });
  });
}
