import { strict as assert } from "node:assert";
import { describe, it } from "node:test";
import { pino } from "pino";
import {
  coerceError,
  ErrorCodes,
  MediaflowError,
  PermanentError,
  RetryLaterError,
} from "../../src/errors/errors.js";
import { builtinCatalog } from "../../src/steps/builtin-steps.js";
import {
  isSplitRequest,
  type PartContext,
  type StepContext,
  type StepOutcome,
  type StepType,
} from "../../src/steps/step-type.js";
import { failStep } from "../../src/steps/util/fail-step.js";
import { flakyStep } from "../../src/steps/util/flaky-step.js";
import { utilSteps } from "../../src/steps/util/index.js";
import { noopStep } from "../../src/steps/util/noop-step.js";
import { sleepStep } from "../../src/steps/util/sleep-step.js";
import { splitStep } from "../../src/steps/util/split-step.js";
import { waitStep } from "../../src/steps/util/wait-step.js";
import type { BlobStore } from "../../src/storage/blob-store.js";
import type { JsonObject } from "../../src/util/json.js";

interface Run<P> {
  ctx: StepContext<P>;
  progress: number[];
}

interface RunOptions {
  attempt?: number;
  part?: PartContext;
  signal?: AbortSignal;
}

const notUsed = (what: string) => () => {
  throw new Error(`${what} is not used by util steps`);
};

/** A StepContext as a worker would build it, for steps that touch neither storage nor files. */
function contextFor<P>(type: StepType<P>, params: JsonObject, options: RunOptions = {}): Run<P> {
  const progress: number[] = [];
  const ctx: StepContext<P> = {
    params: type.params.parse(params),
    job: { id: "job-1", tenant: "default", input: null, limits: undefined },
    step: { name: "step", type: type.type, attempt: options.attempt ?? 1, maxAttempts: 3 },
    part: options.part,
    needs: {},
    signal: options.signal ?? new AbortController().signal,
    workDir: "/nonexistent",
    // Never called by util steps; a call would fail loudly on the missing method.
    storage: {} as BlobStore,
    log: pino({ level: "silent" }),
    progress: (fraction) => {
      progress.push(fraction);
    },
    heartbeat: () => {},
    localFile: notUsed("localFile"),
    tempFile: notUsed("tempFile"),
    saveOutput: notUsed("saveOutput"),
  };
  return { ctx, progress };
}

async function run<P>(type: StepType<P>, params: JsonObject, options: RunOptions = {}): Promise<StepOutcome> {
  return type.run(contextFor(type, params, options).ctx);
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  assert.fail("expected the step to throw");
}

describe("util steps", () => {
  it("are all in the built-in catalogue", () => {
    const catalog = builtinCatalog();
    assert.deepEqual(
      [...catalog.keys()].filter((type) => type.startsWith("util.")),
      ["util.noop", "util.sleep", "util.fail", "util.flaky", "util.split", "util.wait"],
    );
    for (const type of utilSteps) assert.equal(catalog.get(type.type), type);
  });

  it("refuse unknown fields in with, so typos are caught", () => {
    for (const type of utilSteps) {
      assert.equal(type.params.safeParse({ readyAt: 0, surely_not_a_field: 1 }).success, false, type.type);
    }
  });
});

describe("util.noop", () => {
  it("succeeds and returns its data as result data", async () => {
    assert.deepEqual(await run(noopStep, { data: { a: [1, "b"] } }), { data: { a: [1, "b"] } });
    assert.deepEqual(await run(noopStep, {}), {});
  });
});

describe("util.sleep", () => {
  it("sleeps for its duration and reports progress after each slice", async () => {
    const { ctx, progress } = contextFor(sleepStep, { duration: "100ms", steps: 4 });
    const started = performance.now();
    assert.deepEqual(await sleepStep.run(ctx), { data: { sleptMs: 100 } });
    assert.ok(performance.now() - started >= 95);
    assert.deepEqual(progress, [0.25, 0.5, 0.75, 1]);
  });

  it("defaults to one second in ten progress reports", () => {
    assert.deepEqual(sleepStep.params.parse({}), { duration: 1000, steps: 10 });
  });

  it("rejects promptly with an AbortError when its signal aborts", async () => {
    const controller = new AbortController();
    const { ctx, progress } = contextFor(
      sleepStep,
      { duration: "1m", steps: 2 },
      { signal: controller.signal },
    );
    const started = performance.now();
    setTimeout(() => controller.abort(), 20);
    const error = await rejection(sleepStep.run(ctx));
    assert.ok(performance.now() - started < 1_000);
    assert.ok(error instanceof Error);
    assert.equal(error.name, "AbortError");
    assert.equal(coerceError(error).code, ErrorCodes.cancelled);
    assert.deepEqual(progress, []);
  });

  it("does not start when its signal has already aborted", async () => {
    const error = await rejection(run(sleepStep, { duration: "1m" }, { signal: AbortSignal.abort() }));
    assert.ok(error instanceof Error);
    assert.equal(error.name, "AbortError");
  });
});

describe("util.fail", () => {
  it("fails for good with step_failed by default", async () => {
    const error = await rejection(run(failStep, {}));
    assert.ok(error instanceof PermanentError);
    assert.equal(error.code, "step_failed");
    assert.equal(error.message, "this step always fails");
    assert.equal(error.retryable, false);
  });

  it("fails retryably with the configured code and message when retryable is set", async () => {
    const error = await rejection(run(failStep, { code: "disk_full", message: "no space", retryable: true }));
    assert.ok(error instanceof MediaflowError);
    assert.ok(!(error instanceof PermanentError));
    assert.equal(error.code, "disk_full");
    assert.equal(error.message, "no space");
    assert.equal(error.retryable, true);
  });
});

describe("util.flaky", () => {
  it("fails retryably on exactly the first N attempts, then succeeds with the attempt number", async () => {
    for (const attempt of [1, 2, 3]) {
      const error = await rejection(run(flakyStep, { failures: 3, code: "flaky_test" }, { attempt }));
      assert.ok(error instanceof MediaflowError);
      assert.equal(error.code, "flaky_test");
      assert.equal(error.retryable, true);
    }
    assert.deepEqual(await run(flakyStep, { failures: 3 }, { attempt: 4 }), { data: { attempt: 4 } });
  });

  it("fails once by default and succeeds at once with no failures", async () => {
    assert.ok((await rejection(run(flakyStep, {}, { attempt: 1 }))) instanceof MediaflowError);
    assert.deepEqual(await run(flakyStep, {}, { attempt: 2 }), { data: { attempt: 2 } });
    assert.deepEqual(await run(flakyStep, { failures: 0 }, { attempt: 1 }), { data: { attempt: 1 } });
  });
});

describe("util.split", () => {
  it("splits into one part per index when it is not running as a part", async () => {
    const outcome = await run(splitStep, { parts: 4 });
    assert.ok(isSplitRequest(outcome));
    assert.deepEqual(outcome.split, [{ index: 0 }, { index: 1 }, { index: 2 }, { index: 3 }]);
    const byDefault = await run(splitStep, {});
    assert.ok(isSplitRequest(byDefault));
    assert.equal(byDefault.split.length, 3);
  });

  it("refuses more than 1000 parts or none", () => {
    assert.equal(splitStep.params.safeParse({ parts: 1001 }).success, false);
    assert.equal(splitStep.params.safeParse({ parts: 0 }).success, false);
  });

  it("runs a part: waits its duration, reports progress and returns its index and input", async () => {
    const part = { index: 2, count: 4, input: { index: 2 } };
    const { ctx, progress } = contextFor(splitStep, { parts: 4, duration: "50ms" }, { part });
    assert.deepEqual(await splitStep.run(ctx), { data: { part: 2, input: { index: 2 } } });
    assert.equal(progress.length, 10);
    assert.equal(progress.at(-1), 1);
  });

  it("stops a part when its signal aborts", async () => {
    const part = { index: 0, count: 1, input: { index: 0 } };
    const error = await rejection(
      run(splitStep, { duration: "1m" }, { part, signal: AbortSignal.timeout(20) }),
    );
    assert.ok(error instanceof Error);
    assert.equal(coerceError(error).code, ErrorCodes.cancelled);
  });
});

describe("util.wait", () => {
  it("asks to run again later while the awaited thing is not ready", async () => {
    const readyAt = Date.now() + 60_000;
    const error = await rejection(run(waitStep, { readyAt, pollEvery: "2s" }));
    assert.ok(error instanceof RetryLaterError);
    assert.equal(error.delayMs, 2_000);
    assert.equal(error.deadline, readyAt + 2_000);
    assert.equal(error.deadlineCode, ErrorCodes.notAvailable);
    assert.equal(error.code, "retry_later");
  });

  it("passes its deadline and code on, and never asks to wait past readyAt", async () => {
    const readyAt = Date.now() + 50;
    const deadline = Date.now() + 10_000;
    const error = await rejection(
      run(waitStep, { readyAt, deadline, code: "recording_missing", pollEvery: "1m" }),
    );
    assert.ok(error instanceof RetryLaterError);
    assert.equal(error.deadline, deadline);
    assert.equal(error.deadlineCode, "recording_missing");
    assert.ok(error.delayMs <= 50);
  });

  it("succeeds once readyAt has passed", async () => {
    const readyAt = Date.now() - 1;
    assert.deepEqual(await run(waitStep, { readyAt }, { attempt: 3 }), { data: { readyAt, attempt: 3 } });
  });
});
