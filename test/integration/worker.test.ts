import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { z } from "zod";
import type { Engine } from "../../src/engine/engine.js";
import { ErrorCodes, type MediaflowError } from "../../src/errors/errors.js";
import { builtinCatalog } from "../../src/steps/builtin-steps.js";
import { makeCatalog } from "../../src/steps/catalog.js";
import { defineStep } from "../../src/steps/step-type.js";
import { utilSteps } from "../../src/steps/util/index.js";
import { openEngineFixture, waitForJob } from "../support/engine-fixture.js";
import { withTempDir } from "../support/namespaces.js";
import { pipeline } from "../support/test-pipelines.js";

/** Hangs without reporting progress until aborted, like a stuck tool. */
const hangStep = defineStep({
  type: "test.hang",
  description: "waits for its abort signal without reporting progress",
  params: z.object({}),
  run: (ctx) =>
    new Promise((_, reject) => {
      ctx.signal.addEventListener("abort", () => reject(ctx.signal.reason), { once: true });
    }),
});

/** Writes an output file, to check what a step stores. */
const writeStep = defineStep({
  type: "test.write",
  description: "stores a small text output",
  params: z.object({ text: z.string() }),
  async run(ctx) {
    const { writeFile } = await import("node:fs/promises");
    const path = `${ctx.workDir}/note.txt`;
    await writeFile(path, ctx.params.text);
    return { outputs: [await ctx.saveOutput("notes/note.txt", path)] };
  },
});

/** Reports the scratch directory it was given, and leaves a file in it (as a killed step would). */
const scratchStep = defineStep({
  type: "test.scratch",
  description: "writes a file into its scratch directory and reports where that is",
  params: z.object({}),
  async run(ctx) {
    const { writeFile } = await import("node:fs/promises");
    await writeFile(`${ctx.workDir}/left-behind.tmp`, "x");
    return { data: { workDir: ctx.workDir } };
  },
});

/** Writes two temp files: stores one (the store takes it) and leaves the other behind. */
const tempFilesStep = defineStep({
  type: "test.temp-files",
  description: "stores one temp file and abandons another",
  params: z.object({}),
  async run(ctx) {
    const { writeFile } = await import("node:fs/promises");
    const kept = ctx.tempFile("kept.txt");
    const abandoned = ctx.tempFile("../abandoned.txt");
    await writeFile(kept, "kept");
    await writeFile(abandoned, "abandoned");
    const output = await ctx.saveOutput("kept.txt", kept, { move: true });
    return { outputs: [output], data: { kept, abandoned } };
  },
});

/** Counts the steps of its type running at once, and the most seen. */
const running = { now: 0, most: 0 };
const countedStep = defineStep({
  type: "test.counted",
  description: "runs for a few milliseconds, counting how many of its kind run at once",
  params: z.object({ ms: z.number() }),
  async run(ctx) {
    running.now++;
    running.most = Math.max(running.most, running.now);
    await new Promise((resolve) => setTimeout(resolve, ctx.params.ms));
    running.now--;
    return {};
  },
});

const catalog = makeCatalog([...utilSteps, hangStep, writeStep, countedStep, scratchStep, tempFilesStep]);

describe("worker", () => {
  it("runs independent steps in parallel and a fan-in step after both", async () => {
    await withTempDir("worker", async (dir) => {
      const fixture = await openEngineFixture(dir, catalog);
      try {
        fixture.worker().start();
        const spec = pipeline({
          a: { use: "util.sleep", with: { duration: "300ms", steps: 3 } },
          b: { use: "util.sleep", with: { duration: "300ms", steps: 3 } },
          join: { use: "util.noop", needs: ["a", "b"] },
        });
        const { job } = await fixture.engine.createJob({ pipeline: spec, input: null });
        const state = await waitForJob(fixture.engine, job.job.id);
        assert.equal(state.job.status, "succeeded");
        const a = state.steps.a;
        const b = state.steps.b;
        assert.ok(a?.startedAt && a.finishedAt && b?.startedAt && b.finishedAt);
        assert.ok(a.startedAt < b.finishedAt && b.startedAt < a.finishedAt, "a and b overlapped in time");
        assert.ok((state.steps.join?.startedAt ?? 0) >= Math.max(a.finishedAt, b.finishedAt));
        const events = await fixture.engine.readEvents({ jobId: job.job.id, after: 0, limit: 1000 });
        assert.ok(
          events.some((e) => e.type === "step.progress" && e.step === "a"),
          "progress was recorded",
        );
      } finally {
        await fixture.close();
      }
    });
  });

  it("never runs more steps at once than its concurrency when many finish together", async () => {
    await withTempDir("worker", async (dir) => {
      const fixture = await openEngineFixture(dir, catalog);
      try {
        running.most = 0;
        const spec = pipeline({ a: { use: "test.counted", with: { ms: 5 } } });
        const jobs = await Promise.all(
          Array.from({ length: 80 }, () => fixture.engine.createJob({ pipeline: spec, input: null })),
        );
        fixture.worker({ concurrency: 4 }).start();
        for (const { job } of jobs) {
          assert.equal((await waitForJob(fixture.engine, job.job.id, 10_000)).job.status, "succeeded");
        }
        assert.equal(running.most, 4, "four at a time, never more");
      } finally {
        await fixture.close();
      }
    });
  });

  it("stores outputs under keys of the attempt, readable once the step succeeded", async () => {
    await withTempDir("worker", async (dir) => {
      const fixture = await openEngineFixture(dir, catalog);
      try {
        fixture.worker().start();
        const spec = pipeline({ note: { use: "test.write", with: { text: "hello" } } });
        const { job } = await fixture.engine.createJob({ pipeline: spec, input: null });
        const state = await waitForJob(fixture.engine, job.job.id);
        const [output] = state.steps.note?.result?.outputs ?? [];
        assert.equal(output?.name, "notes/note.txt");
        assert.equal(output?.contentType, "text/plain");
        assert.equal(output?.bytes, 5);
        assert.match(output?.key ?? "", new RegExp(`^jobs/${job.job.id}/note\\.t\\d+/notes/note.txt$`));
        const { text } = await import("node:stream/consumers");
        assert.equal(await text(await fixture.storage.get(output?.key ?? "")), "hello");
      } finally {
        await fixture.close();
      }
    });
  });

  it("keeps task directories in a scratch folder of its own, removes it on stop, and sweeps those of killed workers", async () => {
    await withTempDir("worker", async (dir) => {
      const fixture = await openEngineFixture(dir, catalog);
      try {
        const { mkdir, readdir, utimes, writeFile } = await import("node:fs/promises");
        const { join, relative, sep } = await import("node:path");
        // A worker killed an hour ago, one alive (touched now), and a folder that is not a worker's.
        const hourAgo = (Date.now() - 60 * 60_000) / 1000;
        for (const name of ["worker-killed", "worker-alive", "not-a-worker"]) {
          await mkdir(join(dir, name, "task-1-t1-abcd"), { recursive: true });
          await writeFile(join(dir, name, "task-1-t1-abcd", "partial.mp4"), "x");
          if (name !== "worker-alive") await utimes(join(dir, name), hourAgo, hourAgo);
        }
        const worker = fixture.worker();
        worker.start();
        const spec = pipeline({ scratch: { use: "test.scratch" } });
        const { job } = await fixture.engine.createJob({ pipeline: spec, input: null });
        const state = await waitForJob(fixture.engine, job.job.id);
        assert.equal(state.job.status, "succeeded");
        const data = state.steps.scratch?.result?.data as { workDir: string } | undefined;
        const workDir = data?.workDir ?? "";
        const [folder, task] = relative(dir, workDir).split(sep);
        assert.match(folder ?? "", /^worker-/);
        assert.match(task ?? "", /^task-/);
        await worker.stop();
        const left = (await readdir(dir)).filter((name) => !name.startsWith("mediaflow.db"));
        assert.deepEqual(left.sort(), ["blobs", "not-a-worker", "worker-alive"]);
      } finally {
        await fixture.close();
      }
    });
  });

  it("puts temp files in the worker's scratch folder and removes those the store did not take", async () => {
    await withTempDir("worker", async (dir) => {
      const fixture = await openEngineFixture(dir, catalog);
      const worker = fixture.worker();
      try {
        const { access } = await import("node:fs/promises");
        const { text } = await import("node:stream/consumers");
        const { dirname, relative, sep } = await import("node:path");
        worker.start();
        const spec = pipeline({ temp: { use: "test.temp-files" } });
        const { job } = await fixture.engine.createJob({ pipeline: spec, input: null });
        const state = await waitForJob(fixture.engine, job.job.id);
        assert.equal(state.job.status, "succeeded");
        const paths = (state.steps.temp?.result?.data ?? {}) as { kept?: string; abandoned?: string };
        const { kept = "", abandoned = "" } = paths;
        for (const path of [kept, abandoned]) {
          // Beside each other in the worker's folder: no directory per task, and no way out of it.
          assert.match(relative(dir, dirname(path)), /^worker-[^/]+$/);
          assert.ok(!relative(dir, path).split(sep).includes(".."), path);
          await assert.rejects(access(path), { code: "ENOENT" });
        }
        const [output] = state.steps.temp?.result?.outputs ?? [];
        assert.equal(await text(await fixture.storage.get(output?.key ?? "")), "kept");
      } finally {
        await worker.stop();
        await fixture.close();
      }
    });
  });

  it("cancelling a job stops its running step within two seconds", async () => {
    await withTempDir("worker", async (dir) => {
      const fixture = await openEngineFixture(dir, catalog);
      try {
        const worker = fixture.worker();
        worker.start();
        const spec = pipeline({ long: { use: "util.sleep", with: { duration: "30s" } } });
        const { job } = await fixture.engine.createJob({ pipeline: spec, input: null });
        await waitForStatus(fixture.engine, job.job.id, "running");
        assert.equal(worker.activeTasks, 1);
        const started = Date.now();
        await fixture.engine.cancelJob(job.job.id);
        while (worker.activeTasks > 0 && Date.now() - started < 2_000) {
          await new Promise((resolve) => setTimeout(resolve, 10));
        }
        assert.equal(worker.activeTasks, 0, "the step was still running two seconds after the cancel");
        const state = await fixture.engine.getJob(job.job.id);
        assert.equal(state?.job.status, "cancelled");
        assert.equal(state?.steps.long?.status, "cancelled");
      } finally {
        await fixture.close();
      }
    });
  });

  it("a step past its timeout is stopped and fails with code timeout", async () => {
    await withTempDir("worker", async (dir) => {
      const fixture = await openEngineFixture(dir, catalog);
      try {
        fixture.worker().start();
        const spec = pipeline({
          slow: { use: "util.sleep", with: { duration: "10s" }, timeoutMs: 200, retry: { attempts: 1 } },
        });
        const { job } = await fixture.engine.createJob({ pipeline: spec, input: null });
        const state = await waitForJob(fixture.engine, job.job.id, 5_000);
        assert.equal(state.steps.slow?.status, "failed");
        assert.equal(state.steps.slow?.error?.code, ErrorCodes.attemptsExhausted);
        assert.match(state.steps.slow?.error?.message ?? "", /timeout/);
      } finally {
        await fixture.close();
      }
    });
  });

  it("a step that hangs without progress loses its lease and is retried, then dead-lettered", async () => {
    await withTempDir("worker", async (dir) => {
      const fixture = await openEngineFixture(dir, catalog);
      try {
        fixture.worker({ leaseMs: 600 }).start();
        const spec = pipeline({ stuck: { use: "test.hang", retry: { attempts: 2, initialDelayMs: 0 } } });
        const { job } = await fixture.engine.createJob({ pipeline: spec, input: null });
        const state = await waitForJob(fixture.engine, job.job.id, 10_000);
        assert.equal(state.steps.stuck?.status, "failed");
        assert.equal(state.steps.stuck?.attempts, 2);
        assert.match(state.steps.stuck?.error?.message ?? "", /stopped renewing its lease/);
      } finally {
        await fixture.close();
      }
    });
  });

  it("flaky steps are retried until they succeed", async () => {
    await withTempDir("worker", async (dir) => {
      const fixture = await openEngineFixture(dir, builtinCatalog());
      try {
        fixture.worker().start();
        const spec = pipeline({
          flaky: { use: "util.flaky", with: { failures: 2 }, retry: { attempts: 3, initialDelayMs: 10 } },
        });
        const { job } = await fixture.engine.createJob({ pipeline: spec, input: null });
        const state = await waitForJob(fixture.engine, job.job.id);
        assert.equal(state.job.status, "succeeded");
        assert.equal(state.steps.flaky?.attempts, 3);
      } finally {
        await fixture.close();
      }
    });
  });

  it("stop lets a running step finish within the grace period", async () => {
    await withTempDir("worker", async (dir) => {
      const fixture = await openEngineFixture(dir, catalog);
      try {
        const worker = fixture.worker({ shutdownGraceMs: 5_000 });
        worker.start();
        const spec = pipeline({ nap: { use: "util.sleep", with: { duration: "300ms" } } });
        const { job } = await fixture.engine.createJob({ pipeline: spec, input: null });
        await waitForStatus(fixture.engine, job.job.id, "running");
        await worker.stop();
        assert.equal((await fixture.engine.getJob(job.job.id))?.job.status, "succeeded");
      } finally {
        await fixture.close();
      }
    });
  });

  it("stop hands a step that outlives the grace period back, without charging an attempt", async () => {
    await withTempDir("worker", async (dir) => {
      const fixture = await openEngineFixture(dir, catalog);
      try {
        const leaving = fixture.worker({ shutdownGraceMs: 100 });
        leaving.start();
        const spec = pipeline({
          nap: { use: "util.sleep", with: { duration: "2s" }, retry: { attempts: 1 } },
        });
        const { job } = await fixture.engine.createJob({ pipeline: spec, input: null });
        await waitForStatus(fixture.engine, job.job.id, "running");
        await leaving.stop();
        const events = await fixture.engine.readEvents({ jobId: job.job.id, after: 0, limit: 100 });
        assert.ok(events.some((e) => e.type === "step.released"));
        fixture.worker().start();
        const state = await waitForJob(fixture.engine, job.job.id);
        assert.equal(
          state.job.status,
          "succeeded",
          "a second worker finished it within the one allowed attempt",
        );
      } finally {
        await fixture.close();
      }
    });
  });

  it("a step that asks to run later is run again once what it waits for is there", async () => {
    await withTempDir("worker", async (dir) => {
      const fixture = await openEngineFixture(dir, builtinCatalog());
      try {
        fixture.worker().start();
        const readyAt = Date.now() + 400;
        const spec = pipeline({
          wait: { use: "util.wait", with: { readyAt, deadline: readyAt + 5_000, pollEvery: "100ms" } },
        });
        const { job } = await fixture.engine.createJob({ pipeline: spec, input: null });
        const state = await waitForJob(fixture.engine, job.job.id);
        assert.equal(state.job.status, "succeeded");
        assert.ok((state.steps.wait?.finishedAt ?? 0) >= readyAt);
        const events = await fixture.engine.readEvents({ jobId: job.job.id, after: 0, limit: 100 });
        assert.ok(events.filter((e) => e.type === "step.deferred").length >= 2);
        assert.equal(state.steps.wait?.attempts, 1);
      } finally {
        await fixture.close();
      }
    });
  });

  it("a job whose step parameters are invalid is refused at creation with invalid_params", async () => {
    await withTempDir("worker", async (dir) => {
      const fixture = await openEngineFixture(dir, catalog);
      try {
        const spec = pipeline({ bad: { use: "test.write", with: {} } });
        await assert.rejects(
          fixture.engine.createJob({ pipeline: spec, input: null }),
          (error: MediaflowError) => {
            assert.equal(error.code, ErrorCodes.invalidParams);
            return true;
          },
        );
      } finally {
        await fixture.close();
      }
    });
  });
});

async function waitForStatus(engine: Engine, jobId: string, status: string) {
  const deadline = Date.now() + 5_000;
  while ((await engine.getJob(jobId))?.job.status !== status) {
    if (Date.now() > deadline) throw new Error(`job ${jobId} never became ${status}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
