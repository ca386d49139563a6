import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { Backend, BackendKind } from "../../src/backend/backend.js";
import { type ClaimedTask, Engine } from "../../src/engine/engine.js";
import type { JobEvent } from "../../src/engine/events.js";
import { rebuildProjection } from "../../src/engine/projection.js";
import { LeaseLostError, MediaflowError, PermanentError, RetryLaterError } from "../../src/errors/errors.js";
import { TestClock } from "../support/test-clock.js";
import { pipeline, testCatalog } from "../support/test-pipelines.js";

/**
 * The database backend conformance suite: the queue, the event log and the projections, through the
 * engine. Every adapter runs it unchanged; each test owns a fresh database from `open`.
 */
export interface BackendHarness {
  backend: Backend;
  /** Removes the database; `keep` when the test failed, so it can be inspected. */
  cleanup(keep: boolean): Promise<void>;
}

/** What each adapter must declare about itself: a new adapter does not compile until it states these. */
interface Fixture {
  engine: Engine;
  backend: Backend;
  clock: TestClock;
}

const leaseMs = 10_000;

export function backendConformance(kind: BackendKind, open: () => Promise<BackendHarness>): void {
  const test = (title: string, body: (fixture: Fixture) => Promise<void>) =>
    it(`[${kind}] ${title}`, async () => {
      const harness = await open();
      const clock = new TestClock();
      const random = () => 0.5;
      const engine = new Engine({
        backend: harness.backend,
        catalog: testCatalog,
        clock: clock.read,
        random,
      });
      let passed = false;
      try {
        await body({ engine, backend: harness.backend, clock });
        passed = true;
      } finally {
        await harness.backend.close();
        await harness.cleanup(!passed);
      }
    });

  describe(`backend conformance: ${kind}`, () => {
    test("names its kind, and offers wake-ups where other processes can be woken", async ({ backend }) => {
      assert.equal(backend.kind, kind);
      assert.equal(typeof backend.onWork === "function", kind === "postgres");
    });

    test("a new job records job.created and queues exactly the steps without parents", async ({ engine }) => {
      const { job, created } = await engine.createJob({
        pipeline: pipeline({ a: {}, b: {}, c: { needs: ["a", "b"] } }),
        input: null,
      });
      assert.equal(created, true);
      assert.equal(job.job.status, "queued");
      const events = await engine.readEvents({ jobId: job.job.id, after: 0, limit: 100 });
      assert.deepEqual(
        events.map((e) => [e.type, e.step]),
        [
          ["job.created", null],
          ["step.queued", "a"],
          ["step.queued", "b"],
        ],
      );
      const stored = await engine.getJob(job.job.id);
      assert.deepEqual(
        Object.values(stored?.steps ?? {}).map((s) => [s.name, s.status]),
        [
          ["a", "queued"],
          ["b", "queued"],
          ["c", "pending"],
        ],
      );
    });

    test("event sequence numbers grow monotonically and reading by cursor resumes without gaps", async ({
      engine,
    }) => {
      for (let i = 0; i < 5; i++)
        await engine.createJob({ pipeline: pipeline({ a: {}, b: {} }), input: null });
      const all = await engine.readEvents({ after: 0, limit: 1000 });
      assert.equal(all.length, 15);
      for (let i = 1; i < all.length; i++) assert.ok((all[i]?.seq ?? 0) > (all[i - 1]?.seq ?? 0));
      const firstPage = await engine.readEvents({ after: 0, limit: 4 });
      const rest = await engine.readEvents({ after: firstPage.at(-1)?.seq ?? 0, limit: 1000 });
      assert.deepEqual(
        [...firstPage, ...rest].map((e) => e.seq),
        all.map((e) => e.seq),
      );
    });

    test("under contention every task is leased to exactly one worker at a time and runs once", async ({
      engine,
    }) => {
      const jobs = 60;
      for (let i = 0; i < jobs; i++) {
        await engine.createJob({ pipeline: pipeline({ a: {}, b: {}, c: {} }), input: null });
      }
      const runs = new Map<number, number>();
      const worker = async (workerId: string) => {
        for (;;) {
          const claimed = await engine.claimTasks({ workerId, limit: 3, leaseMs });
          if (claimed.length === 0) return;
          await Promise.all(
            claimed.map(async (task) => {
              runs.set(task.lease.taskId, (runs.get(task.lease.taskId) ?? 0) + 1);
              await engine.completeTask(task.lease, {});
            }),
          );
        }
      };
      await Promise.all(Array.from({ length: 12 }, (_, i) => worker(`w${i}`)));
      assert.equal(runs.size, jobs * 3);
      assert.ok(
        [...runs.values()].every((count) => count === 1),
        "a task ran twice",
      );
      const succeeded = await engine.listJobs({ status: "succeeded", limit: 1000 });
      assert.equal(succeeded.length, jobs);
    });

    test("claims take higher priority first and keep FIFO order within a priority", async ({
      engine,
      clock,
    }) => {
      const names: string[] = [];
      const create = async (name: string, priority: number) => {
        await engine.createJob({ pipeline: pipeline({ [name]: {} }), input: null, priority });
        names.push(name);
        clock.advance(1);
      };
      await create("low1", 0);
      await create("high1", 5);
      await create("low2", 0);
      await create("high2", 5);
      await create("mid", 2);
      const order: string[] = [];
      for (;;) {
        const [task] = await engine.claimTasks({ workerId: "w", limit: 1, leaseMs });
        if (task === undefined) break;
        order.push(task.lease.step);
      }
      assert.deepEqual(order, ["high1", "high2", "mid", "low1", "low2"]);
    });

    test("claims can be limited to step types", async ({ engine }) => {
      await engine.createJob({ pipeline: pipeline({ a: { use: "test.other" }, b: {} }), input: null });
      const claimed = await engine.claimTasks({
        workerId: "w",
        limit: 10,
        leaseMs,
        stepTypes: ["test.other"],
      });
      assert.deepEqual(
        claimed.map((t) => t.lease.step),
        ["a"],
      );
    });

    test("an expired lease is swept and another worker takes the task over", async ({ engine, clock }) => {
      const { job } = await engine.createJob({
        pipeline: pipeline({ a: { retry: { initialDelayMs: 0 } } }),
        input: null,
      });
      const [first] = await engine.claimTasks({ workerId: "crashed", limit: 1, leaseMs: 1_000 });
      assert.ok(first);
      clock.advance(500);
      assert.equal(await engine.sweepExpiredLeases(), 0, "a live lease must not be swept");
      clock.advance(1_000);
      assert.equal(await engine.sweepExpiredLeases(), 1);
      const [second] = await engine.claimTasks({ workerId: "rescuer", limit: 1, leaseMs });
      assert.ok(second);
      assert.equal(second.lease.taskId, first.lease.taskId);
      assert.notEqual(second.lease.token, first.lease.token);
      assert.equal(second.attempt, 2);
      await engine.completeTask(second.lease, {});
      const events = await engine.readEvents({ jobId: job.job.id, after: 0, limit: 100 });
      const retrying = events.find((e) => e.type === "step.retrying");
      assert.equal(retrying?.type === "step.retrying" && retrying.data.error.code, "lease_expired");
      assert.equal(retrying?.workerId, "crashed");
      assert.equal((await engine.getJob(job.job.id))?.job.status, "succeeded");
    });

    test("a stale worker cannot complete, fail, defer or report progress on a task it lost", async ({
      engine,
      clock,
    }) => {
      const { job } = await engine.createJob({
        pipeline: pipeline({ a: { retry: { initialDelayMs: 0 } } }),
        input: null,
      });
      const [stale] = await engine.claimTasks({ workerId: "stale", limit: 1, leaseMs: 1_000 });
      assert.ok(stale);
      clock.advance(2_000);
      await engine.sweepExpiredLeases();
      const [fresh] = await engine.claimTasks({ workerId: "fresh", limit: 1, leaseMs });
      assert.ok(fresh);
      await assert.rejects(engine.completeTask(stale.lease, {}), LeaseLostError);
      await assert.rejects(engine.failTask(stale.lease, new MediaflowError("boom", "boom")), LeaseLostError);
      await assert.rejects(engine.recordProgress(stale.lease, 0.5, leaseMs), LeaseLostError);
      await assert.rejects(engine.extendLease(stale.lease, leaseMs), LeaseLostError);
      await assert.rejects(engine.releaseTask(stale.lease, "x"), LeaseLostError);
      const retryLater = new RetryLaterError({ delayMs: 10, deadline: clock.now + 1_000, message: "later" });
      await assert.rejects(engine.deferTask(stale.lease, retryLater), LeaseLostError);
      await engine.completeTask(fresh.lease, { data: { by: "fresh" } });
      await assert.rejects(
        engine.completeTask(fresh.lease, {}),
        LeaseLostError,
        "a task completes only once",
      );
      const events = await engine.readEvents({ jobId: job.job.id, after: 0, limit: 100 });
      assert.equal(events.filter((e) => e.type === "step.succeeded").length, 1);
      assert.deepEqual((await engine.getJob(job.job.id))?.steps.a?.result?.data, { by: "fresh" });
    });

    test("results recorded together each get their own outcome: a lost lease fails alone, the others succeed and queue their next steps", async ({
      engine,
      clock,
    }) => {
      const spec = pipeline({ a: { retry: { initialDelayMs: 0 } }, b: { needs: ["a"] } });
      for (let i = 0; i < 5; i++) await engine.createJob({ pipeline: spec, input: null });
      const first = await engine.claimTasks({ workerId: "w", limit: 5, leaseMs: 1_000 });
      clock.advance(2_000);
      await engine.sweepExpiredLeases();
      const again = await engine.claimTasks({ workerId: "w", limit: 5, leaseMs });
      assert.equal(again.length, 5);
      const stale = first[2];
      assert.ok(stale);
      // Submitted together, they go in one batch, the stale lease in the middle of it.
      const completions = again.map((task, i) =>
        i === 2 ? engine.completeTask(stale.lease, {}) : engine.completeTask(task.lease, { data: { i } }),
      );
      const outcomes = await Promise.allSettled(completions);
      const rejected = outcomes.map((o) => (o.status === "rejected" ? o.reason : undefined));
      assert.ok(rejected[2] instanceof LeaseLostError, "the stale lease fails");
      assert.deepEqual(
        outcomes.map((o) => o.status),
        ["fulfilled", "fulfilled", "rejected", "fulfilled", "fulfilled"],
      );
      const next = await engine.claimTasks({ workerId: "w", limit: 10, leaseMs });
      assert.deepEqual(
        next.map((task) => task.lease.step),
        ["b", "b", "b", "b"],
        "each recorded result queued its job's next step",
      );
      for (const [i, task] of again.entries()) {
        const state = await engine.getJob(task.job.id);
        if (i === 2) assert.equal(state?.steps.a?.status, "running", "the stale result changed nothing");
        else assert.deepEqual(state?.steps.a?.result?.data, { i });
      }
    });

    test("progress extends the lease, so a slow step that progresses keeps its task", async ({
      engine,
      clock,
    }) => {
      await engine.createJob({ pipeline: pipeline({ a: {} }), input: null });
      const [task] = await engine.claimTasks({ workerId: "w", limit: 1, leaseMs: 1_000 });
      assert.ok(task);
      for (let i = 1; i <= 5; i++) {
        clock.advance(800);
        await engine.recordProgress(task.lease, i / 10, 1_000);
        assert.equal(await engine.sweepExpiredLeases(), 0);
      }
      clock.advance(1_500);
      assert.equal(await engine.sweepExpiredLeases(), 1, "without progress the lease runs out");
    });

    test("retry delays grow exponentially within the jitter bounds and stop at the maximum", async ({
      engine,
      clock,
    }) => {
      const spec = pipeline({
        a: { retry: { attempts: 6, initialDelayMs: 1_000, maxDelayMs: 5_000, jitter: 0.5 } },
      });
      const { job } = await engine.createJob({ pipeline: spec, input: null });
      const delays: number[] = [];
      for (let attempt = 1; attempt <= 5; attempt++) {
        const [task] = await engine.claimTasks({ workerId: "w", limit: 1, leaseMs });
        assert.ok(task, `attempt ${attempt} is claimable`);
        await engine.failTask(task.lease, new MediaflowError("flaky", "try again"));
        const events = await engine.readEvents({ jobId: job.job.id, after: 0, limit: 100 });
        const last = events.filter((e) => e.type === "step.retrying").at(-1);
        assert.ok(last?.type === "step.retrying");
        delays.push(last.data.delayMs);
        assert.deepEqual(
          await engine.claimTasks({ workerId: "w", limit: 1, leaseMs }),
          [],
          "not before the delay",
        );
        clock.advance(last.data.delayMs);
      }
      const bases = [1_000, 2_000, 4_000, 5_000, 5_000];
      delays.forEach((delay, i) => {
        const base = bases[i] ?? 0;
        assert.ok(delay >= base * 0.5 && delay <= base, `delay ${delay} outside [${base * 0.5}, ${base}]`);
      });
    });

    test("after exactly N attempts the step is dead-lettered with attempts_exhausted and can be retried by hand", async ({
      engine,
      clock,
    }) => {
      const { job } = await engine.createJob({
        pipeline: pipeline({ a: { retry: { attempts: 3, initialDelayMs: 10 } }, b: { needs: ["a"] } }),
        input: null,
      });
      let attempts = 0;
      for (;;) {
        clock.advance(1_000);
        const [task] = await engine.claimTasks({ workerId: "w", limit: 1, leaseMs });
        if (task === undefined) break;
        attempts++;
        await engine.failTask(task.lease, new MediaflowError("upstream_down", "the upstream is down"));
      }
      assert.equal(attempts, 3);
      const failed = await engine.getJob(job.job.id);
      assert.equal(failed?.job.status, "failed");
      assert.equal(failed?.steps.a?.status, "failed");
      assert.equal(failed?.steps.a?.error?.code, "attempts_exhausted");
      assert.match(failed?.steps.a?.error?.message ?? "", /3 attempts.*the upstream is down/);
      assert.equal(failed?.steps.b?.status, "skipped");
      assert.equal(failed?.job.error?.code, "attempts_exhausted");
      assert.deepEqual(await engine.backend.reads.listTasks(job.job.id), []);

      await engine.retryJob(job.job.id);
      const retried = await engine.getJob(job.job.id);
      assert.equal(retried?.job.status, "running");
      assert.equal(retried?.steps.a?.status, "queued");
      assert.equal(retried?.steps.b?.status, "pending");
      for (const step of ["a", "b"]) {
        const [task] = await engine.claimTasks({ workerId: "w", limit: 1, leaseMs });
        assert.equal(task?.lease.step, step);
        assert.equal(task?.attempt, 1, "a retry by hand starts a fresh attempt budget");
        await engine.completeTask(task.lease, {});
      }
      assert.equal((await engine.getJob(job.job.id))?.job.status, "succeeded");
    });

    test("a permanent error fails the step at once without retries", async ({ engine }) => {
      const { job } = await engine.createJob({
        pipeline: pipeline({ a: { retry: { attempts: 5 } } }),
        input: null,
      });
      const [task] = await engine.claimTasks({ workerId: "w", limit: 1, leaseMs });
      assert.ok(task);
      await engine.failTask(task.lease, new PermanentError("corrupt_media", "the file is not a video"));
      const state = await engine.getJob(job.job.id);
      assert.equal(state?.steps.a?.status, "failed");
      assert.deepEqual(state?.steps.a?.error, { code: "corrupt_media", message: "the file is not a video" });
      assert.deepEqual(state?.job.error, { code: "corrupt_media", message: "the file is not a video" });
    });

    test("a step that asks to run later is not charged an attempt and fails with its code past the deadline", async ({
      engine,
      clock,
    }) => {
      const { job } = await engine.createJob({
        pipeline: pipeline({ a: { retry: { attempts: 1 } } }),
        input: null,
      });
      const deadline = clock.now + 3_000;
      for (let i = 0; i < 3; i++) {
        const [task] = await engine.claimTasks({ workerId: "w", limit: 1, leaseMs });
        assert.ok(task, `run ${i + 1} is claimable`);
        assert.equal(task.attempt, 1, "deferred runs do not use up attempts");
        await engine.deferTask(
          task.lease,
          new RetryLaterError({
            delayMs: 1_000,
            deadline,
            code: "not_available",
            message: "recording not there yet",
          }),
        );
        assert.deepEqual(await engine.claimTasks({ workerId: "w", limit: 1, leaseMs }), []);
        clock.advance(1_000);
      }
      const [last] = await engine.claimTasks({ workerId: "w", limit: 1, leaseMs });
      assert.ok(last);
      await engine.deferTask(
        last.lease,
        new RetryLaterError({
          delayMs: 1_000,
          deadline,
          code: "not_available",
          message: "recording not there yet",
        }),
      );
      const state = await engine.getJob(job.job.id);
      assert.equal(state?.steps.a?.status, "failed");
      assert.equal(state?.steps.a?.error?.code, "not_available");
    });

    test("a task handed back on shutdown does not use up an attempt", async ({ engine }) => {
      await engine.createJob({ pipeline: pipeline({ a: { retry: { attempts: 1 } } }), input: null });
      const [task] = await engine.claimTasks({ workerId: "leaving", limit: 1, leaseMs });
      assert.ok(task);
      await engine.releaseTask(task.lease, "shutting down");
      const [again] = await engine.claimTasks({ workerId: "staying", limit: 1, leaseMs });
      assert.equal(again?.attempt, 1);
    });

    test("50 concurrent creates with one idempotency key make one job", async ({ engine }) => {
      const spec = pipeline({ a: {} });
      const results = await Promise.all(
        Array.from({ length: 50 }, () =>
          engine.createJob({ pipeline: spec, input: null, idempotencyKey: "upload-42" }),
        ),
      );
      const ids = new Set(results.map((r) => r.job.job.id));
      assert.equal(ids.size, 1);
      assert.equal(results.filter((r) => r.created).length, 1);
      assert.equal((await engine.listJobs({ limit: 100 })).length, 1);
      const other = await engine.createJob({
        pipeline: spec,
        input: null,
        idempotencyKey: "upload-42",
        tenant: "acme",
      });
      assert.equal(other.created, true, "idempotency keys are per tenant");
    });

    test("jobs requested together are created together, each with its own events, and a key used before returns its job", async ({
      engine,
    }) => {
      const spec = pipeline({ a: {}, b: { needs: ["a"] } });
      const first = await engine.createJob({ pipeline: spec, input: null, idempotencyKey: "k1" });
      const results = await Promise.all([
        engine.createJob({ pipeline: spec, input: null }),
        engine.createJob({ pipeline: spec, input: null, idempotencyKey: "k1" }),
        engine.createJob({ pipeline: spec, input: null, tenant: "acme" }),
      ]);
      assert.deepEqual(
        results.map((r) => r.created),
        [true, false, true],
      );
      assert.equal(results[1]?.job.job.id, first.job.job.id);
      for (const result of [results[0], results[2]]) {
        const id = result?.job.job.id ?? "";
        const events = await engine.readEvents({ jobId: id, after: 0, limit: 10 });
        assert.deepEqual(
          events.map((e) => [e.type, e.step]),
          [
            ["job.created", null],
            ["step.queued", "a"],
          ],
        );
        assert.equal((await engine.getJob(id))?.steps.a?.status, "queued");
      }
      const claimed = await engine.claimTasks({ workerId: "w", limit: 10, leaseMs });
      assert.equal(claimed.length, 3, "each job's first step is queued once");
    });

    test("a step with many parents is enqueued exactly once when they all finish at the same moment", async ({
      engine,
    }) => {
      const parents = Object.fromEntries(Array.from({ length: 16 }, (_, i) => [`p${i}`, {}]));
      const spec = pipeline({ ...parents, join: { needs: Object.keys(parents) } });
      const { job } = await engine.createJob({ pipeline: spec, input: null });
      const claimed = await Promise.all(
        Object.keys(parents).map((_, i) => engine.claimTasks({ workerId: `w${i}`, limit: 1, leaseMs })),
      );
      await Promise.all(claimed.flat().map((task) => engine.completeTask(task.lease, {})));
      const events = await engine.readEvents({ jobId: job.job.id, after: 0, limit: 1000 });
      assert.equal(events.filter((e) => e.type === "step.queued" && e.step === "join").length, 1);
      const tasks = await engine.backend.reads.listTasks(job.job.id);
      assert.deepEqual(
        tasks.map((t) => t.step),
        ["join"],
      );
    });

    test("listeners hear every event of every job once, each job's in sequence, while workers race", async ({
      engine,
    }) => {
      const announced: JobEvent[] = [];
      engine.notifications.on("events", (events) => announced.push(...events));
      const spec = pipeline({ a: {}, b: {}, c: { needs: ["a", "b"] }, d: { needs: ["c"] } });
      const jobs = await Promise.all(
        Array.from({ length: 8 }, () => engine.createJob({ pipeline: spec, input: null })),
      );
      // Four workers claim and complete at once, so claims and results of one job commit side by side.
      const work = async (workerId: string) => {
        for (let idle = 0; idle < 3; ) {
          const claimed = await engine.claimTasks({ workerId, limit: 2, leaseMs });
          if (claimed.length === 0) idle++;
          await Promise.all(claimed.map((task) => engine.completeTask(task.lease, {})));
        }
      };
      await Promise.all(["w1", "w2", "w3", "w4"].map(work));
      for (const { job } of jobs) {
        const logged = await engine.readEvents({ jobId: job.job.id, after: 0, limit: 1000 });
        assert.equal(logged.at(-1)?.type, "job.succeeded");
        // Claims are handed out before they are durable; their events are told with the rest, in order.
        await waitUntil(
          () => announced.filter((event) => event.jobId === job.job.id).length === logged.length,
        );
        assert.deepEqual(
          announced.filter((event) => event.jobId === job.job.id).map((event) => event.seq),
          logged.map((event) => event.seq),
        );
      }
    });

    test("when a step fails its dependents are skipped, independent branches finish, and the job fails with its error", async ({
      engine,
    }) => {
      const spec = pipeline({
        bad: { retry: { attempts: 1 } },
        afterBad: { needs: ["bad"] },
        good: {},
        afterGood: { needs: ["good"] },
      });
      const { job } = await engine.createJob({ pipeline: spec, input: null });
      await completeAll(engine, { bad: new PermanentError("bad_input", "nope") });
      const state = await engine.getJob(job.job.id);
      assert.deepEqual(
        Object.values(state?.steps ?? {}).map((s) => [s.name, s.status]),
        [
          ["bad", "failed"],
          ["afterBad", "skipped"],
          ["good", "succeeded"],
          ["afterGood", "succeeded"],
        ],
      );
      assert.equal(state?.job.status, "failed");
      assert.deepEqual(state?.job.error, { code: "bad_input", message: "nope" });
      assert.equal(state?.job.failedStep, "bad");
    });

    test("a some-succeeded join runs once its parents finish and sees which failed", async ({ engine }) => {
      const spec = pipeline({
        hd: { retry: { attempts: 1 } },
        sd: {},
        package: { needs: ["hd", "sd"], join: "some-succeeded" },
      });
      const { job } = await engine.createJob({ pipeline: spec, input: null });
      const seen: ClaimedTask[] = [];
      await completeAll(engine, { hd: new PermanentError("encode_failed", "no") }, seen);
      const pkg = seen.find((t) => t.lease.step === "package");
      assert.equal(pkg?.needs.hd?.status, "failed");
      assert.equal(pkg?.needs.hd?.error?.code, "encode_failed");
      assert.equal(pkg?.needs.sd?.status, "succeeded");
      const state = await engine.getJob(job.job.id);
      assert.equal(state?.steps.package?.status, "succeeded");
    });

    test("a map step's parts run as tasks of their own and dependents see their outputs in order", async ({
      engine,
    }) => {
      const spec = pipeline({ chunks: {}, concat: { needs: ["chunks"] } });
      const { job } = await engine.createJob({ pipeline: spec, input: null });
      const [head] = await engine.claimTasks({ workerId: "w", limit: 1, leaseMs });
      assert.ok(head);
      await engine.splitTask(head.lease, [{ i: 0 }, { i: 1 }, { i: 2 }, { i: 3 }]);
      const parts = await engine.claimTasks({ workerId: "w", limit: 10, leaseMs });
      assert.deepEqual(parts.map((p) => p.part?.index).sort(), [0, 1, 2, 3]);
      assert.ok(parts.every((p) => p.part?.count === 4));
      for (const part of [...parts].reverse()) {
        const index = part.part?.index ?? -1;
        const output = {
          name: `chunk${index}.mp4`,
          key: `k/${index}`,
          contentType: "video/mp4",
          bytes: index,
        };
        await engine.completeTask(part.lease, { outputs: [output], data: part.part?.input ?? null });
        const state = await engine.getJob(job.job.id);
        if (index > 0) assert.equal(state?.steps.chunks?.status, "running", "the step waits for every part");
      }
      const [concat] = await engine.claimTasks({ workerId: "w", limit: 1, leaseMs });
      assert.equal(concat?.lease.step, "concat");
      assert.deepEqual(
        concat?.needs.chunks?.outputs.map((o) => o.name),
        ["chunk0.mp4", "chunk1.mp4", "chunk2.mp4", "chunk3.mp4"],
      );
      assert.deepEqual(
        concat?.needs.chunks?.parts?.map((p) => p.data),
        [{ i: 0 }, { i: 1 }, { i: 2 }, { i: 3 }],
      );
    });

    test("a map step part that fails for good fails the step and takes the other parts' leases", async ({
      engine,
    }) => {
      const { job } = await engine.createJob({
        pipeline: pipeline({ chunks: { retry: { attempts: 1 } } }),
        input: null,
      });
      const [head] = await engine.claimTasks({ workerId: "w", limit: 1, leaseMs });
      assert.ok(head);
      await engine.splitTask(head.lease, [1, 2, 3]);
      const parts = await engine.claimTasks({ workerId: "w", limit: 10, leaseMs });
      const [bad, ...others] = parts;
      assert.ok(bad);
      await engine.failTask(bad.lease, new PermanentError("corrupt_media", "chunk is broken"));
      for (const other of others) await assert.rejects(engine.completeTask(other.lease, {}), LeaseLostError);
      const state = await engine.getJob(job.job.id);
      assert.equal(state?.steps.chunks?.status, "failed");
      assert.match(state?.steps.chunks?.error?.message ?? "", /part \d: chunk is broken/);
      assert.equal(state?.job.status, "failed");
    });

    test("cancelling a job cancels queued and running steps and running workers lose their leases", async ({
      engine,
    }) => {
      const { job } = await engine.createJob({
        pipeline: pipeline({ a: {}, b: {}, c: { needs: ["a"] } }),
        input: null,
      });
      const [running] = await engine.claimTasks({ workerId: "w", limit: 1, leaseMs });
      assert.ok(running);
      const revoked: number[][] = [];
      engine.notifications.on("revoked", (ids) => revoked.push(ids));
      const cancelled = await engine.cancelJob(job.job.id);
      assert.equal(cancelled.job.status, "cancelled");
      assert.deepEqual(
        Object.values(cancelled.steps).map((s) => s.status),
        ["cancelled", "cancelled", "cancelled"],
      );
      assert.ok(revoked.flat().includes(running.lease.taskId));
      await assert.rejects(engine.completeTask(running.lease, {}), LeaseLostError);
      assert.deepEqual(await engine.claimTasks({ workerId: "w", limit: 10, leaseMs }), []);
      assert.equal(
        (await engine.cancelJob(job.job.id)).job.status,
        "cancelled",
        "cancelling twice is harmless",
      );
    });

    test("retrying a job re-runs only its failed and skipped steps; a named step can be retried alone", async ({
      engine,
    }) => {
      const spec = pipeline({
        ok: {},
        bad1: { retry: { attempts: 1 } },
        bad2: { retry: { attempts: 1 } },
        after1: { needs: ["bad1"] },
      });
      const { job } = await engine.createJob({ pipeline: spec, input: null });
      await completeAll(engine, { bad1: new PermanentError("x", "x"), bad2: new PermanentError("y", "y") });
      const before = await engine.getJob(job.job.id);
      await engine.retryJob(job.job.id, { steps: ["bad1"] });
      const after = await engine.getJob(job.job.id);
      assert.equal(after?.steps.ok?.status, "succeeded");
      assert.deepEqual(
        after?.steps.ok?.result,
        before?.steps.ok?.result,
        "succeeded steps keep their results",
      );
      assert.equal(after?.steps.bad1?.status, "queued");
      assert.equal(after?.steps.after1?.status, "pending");
      assert.equal(after?.steps.bad2?.status, "failed", "only the named step is retried");
      await assert.rejects(
        engine.retryJob(job.job.id, { steps: ["ok"] }),
        /only failed, skipped or cancelled/,
      );
      await completeAll(engine, {});
      const done = await engine.getJob(job.job.id);
      assert.equal(done?.job.status, "failed", "bad2 still failed");
      await engine.retryJob(job.job.id);
      await completeAll(engine, {});
      assert.equal((await engine.getJob(job.job.id))?.job.status, "succeeded");
    });

    test("rebuilding the projection from the event log gives the stored state", async ({ engine, clock }) => {
      const spec = pipeline({
        probe: {},
        flaky: { needs: ["probe"], retry: { attempts: 3, initialDelayMs: 0 } },
        chunks: { needs: ["probe"] },
        bad: { retry: { attempts: 1 } },
        skipped: { needs: ["bad"] },
        join: { needs: ["flaky", "chunks", "bad"], join: "some-succeeded" },
      });
      const { job } = await engine.createJob({ pipeline: spec, input: null });
      let flakyFailures = 0;
      for (;;) {
        clock.advance(10);
        const claimed = await engine.claimTasks({ workerId: "w", limit: 10, leaseMs });
        if (claimed.length === 0) break;
        for (const task of claimed) {
          await engine.recordProgress(task.lease, 0.5, leaseMs, "halfway");
          if (task.lease.step === "flaky" && flakyFailures++ < 2) {
            await engine.failTask(task.lease, new MediaflowError("flaky", "again"));
          } else if (task.lease.step === "bad") {
            await engine.failTask(task.lease, new PermanentError("bad", "bad"));
          } else if (task.lease.step === "chunks" && task.part === undefined) {
            await engine.splitTask(task.lease, ["a", "b"]);
          } else {
            const output = { name: "o", key: `k/${task.lease.taskId}`, contentType: "text/plain", bytes: 1 };
            await engine.completeTask(task.lease, { outputs: [output], data: { step: task.lease.step } });
          }
        }
      }
      await engine.retryJob(job.job.id, { steps: ["bad"] });
      await engine.cancelJob(job.job.id);
      const events = await readAll(engine, job.job.id);
      const stored = await engine.getJob(job.job.id);
      assert.deepEqual(rebuildProjection(events), stored);
    });

    test("a job's event log records the worker and attempt of every step event", async ({ engine }) => {
      const { job } = await engine.createJob({ pipeline: pipeline({ a: {} }), input: null });
      const [task] = await engine.claimTasks({ workerId: "worker-7", limit: 1, leaseMs });
      assert.ok(task);
      await engine.completeTask(task.lease, {});
      const events = await engine.readEvents({ jobId: job.job.id, after: 0, limit: 100 });
      const started = events.find((e) => e.type === "step.started");
      assert.equal(started?.workerId, "worker-7");
      assert.equal(started?.attempt, 1);
      assert.ok(events.every((e) => e.jobId === job.job.id && typeof e.at === "number"));
      assert.deepEqual(
        events.map((e) => e.type),
        ["job.created", "step.queued", "step.started", "step.succeeded", "job.succeeded"],
      );
    });

    test("jobs list newest first with cursor pagination and filters", async ({ engine }) => {
      for (let i = 0; i < 7; i++) {
        await engine.createJob({ pipeline: pipeline({ a: {} }, i % 2 === 0 ? "even" : "odd"), input: null });
      }
      const page1 = await engine.listJobs({ limit: 3 });
      const page2 = await engine.listJobs({ limit: 3, before: page1.at(-1)?.createdSeq });
      const page3 = await engine.listJobs({ limit: 3, before: page2.at(-1)?.createdSeq });
      const all = [...page1, ...page2, ...page3];
      assert.equal(all.length, 7);
      assert.equal(new Set(all.map((j) => j.id)).size, 7);
      for (let i = 1; i < all.length; i++)
        assert.ok((all[i - 1]?.createdSeq ?? 0) > (all[i]?.createdSeq ?? 0));
      assert.equal((await engine.listJobs({ limit: 10, pipeline: "even" })).length, 4);
      assert.equal((await engine.listJobs({ limit: 10, tenant: "nobody" })).length, 0);
    });

    test("job counts by status cover every status", async ({ engine }) => {
      await engine.createJob({ pipeline: pipeline({ a: {} }), input: null });
      const { job } = await engine.createJob({ pipeline: pipeline({ a: {} }), input: null });
      await engine.cancelJob(job.job.id);
      assert.deepEqual(await engine.backend.reads.jobCounts(), {
        queued: 1,
        running: 0,
        succeeded: 0,
        failed: 0,
        cancelled: 1,
      });
    });

    test("queue depth counts queued and running tasks per step type", async ({ engine, clock }) => {
      await engine.createJob({ pipeline: pipeline({ a: {}, b: {}, c: { use: "test.other" } }), input: null });
      await engine.claimTasks({ workerId: "w", limit: 1, leaseMs, stepTypes: ["test.work"] });
      const depth = await engine.backend.reads.queueDepth(clock.now);
      assert.deepEqual(
        depth.map((d) => ({ ...d })),
        [
          { stepType: "test.other", queued: 1, running: 0, oldestRunnableAt: clock.now },
          { stepType: "test.work", queued: 1, running: 1, oldestRunnableAt: clock.now },
        ],
      );
    });
  });
}

type Outcome = MediaflowError | undefined;

/** Claims and finishes tasks until none is left: the named steps fail with the given error, the rest succeed. */
async function completeAll(engine: Engine, failures: Record<string, Outcome>, seen: ClaimedTask[] = []) {
  for (;;) {
    const claimed = await engine.claimTasks({ workerId: "w", limit: 10, leaseMs });
    if (claimed.length === 0) return;
    for (const task of claimed) {
      seen.push(task);
      const failure = failures[task.lease.step];
      if (failure !== undefined) await engine.failTask(task.lease, failure);
      else await engine.completeTask(task.lease, { data: { step: task.lease.step } });
    }
  }
}

async function readAll(engine: Engine, jobId: string): Promise<JobEvent[]> {
  const events: JobEvent[] = [];
  for (;;) {
    const page = await engine.readEvents({ jobId, after: events.at(-1)?.seq ?? 0, limit: 100 });
    if (page.length === 0) return events;
    events.push(...page);
  }
}

/** Waits for what is announced after a commit is durable, which may come a moment after the commit. */
async function waitUntil(condition: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error("timed out waiting for the announcement");
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}
