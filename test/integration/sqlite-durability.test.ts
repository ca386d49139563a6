import assert from "node:assert/strict";
import { join } from "node:path";
import { describe, it } from "node:test";
import type { Backend } from "../../src/backend/backend.js";
import { openSqliteBackend } from "../../src/backend/sqlite/sqlite-backend.js";
import { type Durability, SharedFlush, walSync } from "../../src/backend/sqlite/wal-sync.js";
import { Engine } from "../../src/engine/engine.js";
import type { JobEvent } from "../../src/engine/events.js";
import { withTempDir } from "../support/namespaces.js";
import { pipeline, testCatalog } from "../support/test-pipelines.js";

/**
 * Stands in for the flush of the write-ahead log, so that a test decides when commits become durable:
 * `hold` keeps every flush started from then on running until `release` or `fail`.
 */
class HeldFlush implements Durability {
  flushes = 0;
  private gate: Promise<void> = Promise.resolve();
  private open: (error?: Error) => void = () => {};
  private readonly shared = new SharedFlush(async () => {
    this.flushes++;
    await this.gate;
  });

  hold(): void {
    this.gate = new Promise<void>((resolve, reject) => {
      this.open = (error) => (error === undefined ? resolve() : reject(error));
    });
  }

  release(): void {
    this.open();
  }

  fail(error: Error): void {
    this.open(error);
  }

  sync(): Promise<void> {
    return this.shared.sync();
  }

  syncSoon(): Promise<void> {
    return this.shared.syncSoon();
  }

  close(): Promise<void> {
    return this.shared.settled();
  }
}

/** Whether `promise` has settled once every callback queued so far has run. */
async function hasSettled(promise: Promise<unknown>): Promise<boolean> {
  let done = false;
  const mark = () => {
    done = true;
  };
  promise.then(mark, mark);
  await new Promise((resolve) => setImmediate(resolve));
  await new Promise((resolve) => setImmediate(resolve));
  return done;
}

async function withHeldFlush(
  body: (context: {
    backend: Backend;
    engine: Engine;
    flush: HeldFlush;
    announced: JobEvent[];
  }) => Promise<void>,
): Promise<void> {
  await withTempDir("durability", async (dir) => {
    const flush = new HeldFlush();
    const backend = await openSqliteBackend(join(dir, "test.db"), { durability: () => flush });
    const engine = new Engine({ backend, catalog: testCatalog });
    const announced: JobEvent[] = [];
    engine.notifications.on("events", (events) => announced.push(...events));
    try {
      await body({ backend, engine, flush, announced });
    } finally {
      flush.release();
      await backend.close().catch(() => undefined);
    }
  });
}

const oneStep = pipeline({ a: {} });

describe("sqlite durability: commits are answered once the write-ahead log is flushed", () => {
  it("answers a job's creator only once its commit is durable, though readers see it committed", async () => {
    await withHeldFlush(async ({ backend, engine, flush, announced }) => {
      flush.hold();
      const creating = engine.createJob({ pipeline: oneStep, input: null });
      await waitFor(async () => (await backend.reads.jobCounts()).queued === 1);
      assert.equal(await hasSettled(creating), false);
      assert.equal(announced.length, 0);
      flush.release();
      const { job } = await creating;
      assert.deepEqual(
        announced.map((event) => [event.jobId, event.type]),
        [
          [job.job.id, "job.created"],
          [job.job.id, "step.queued"],
        ],
      );
    });
  });

  it("goes on committing while a flush runs, and the commits made meanwhile share one next flush", async () => {
    await withHeldFlush(async ({ backend, engine, flush }) => {
      flush.hold();
      const first = engine.createJob({ pipeline: oneStep, input: null });
      await waitFor(async () => (await backend.reads.jobCounts()).queued === 1);
      const flushesBefore = flush.flushes;
      // Written one after another, each in a transaction of its own, while the first flush is held.
      const later: Promise<unknown>[] = [];
      for (let i = 0; i < 5; i++) {
        later.push(backend.apiKeys.insert(apiKey(`k${i}`)));
        await waitFor(async () => (await backend.apiKeys.findByHash(`hash-k${i}`)) !== undefined);
      }
      assert.equal(flush.flushes, flushesBefore);
      assert.equal(await hasSettled(Promise.race(later)), false);
      flush.release();
      await Promise.all([first, ...later]);
      assert.equal(flush.flushes, flushesBefore + 1);
    });
  });

  it("hands out a claim at commit, and announces its started event once the claim is durable", async () => {
    await withHeldFlush(async ({ engine, flush, announced }) => {
      await engine.createJob({ pipeline: oneStep, input: null });
      const flushesBefore = flush.flushes;
      flush.hold();
      const claimed = await engine.claimTasks({ workerId: "w1", limit: 5, leaseMs: 10_000 });
      assert.equal(claimed.length, 1);
      // The claim's flush starts once its wait for company is over, and is held there.
      await waitFor(async () => flush.flushes > flushesBefore);
      assert.equal(
        announced.some((event) => event.type === "step.started"),
        false,
      );
      flush.release();
      await waitFor(async () => announced.some((event) => event.type === "step.started"));
    });
  });

  it("after a failed flush, fails its callers in words and refuses every later write without making it", async () => {
    await withHeldFlush(async ({ backend, engine, flush }) => {
      flush.hold();
      const creating = engine.createJob({ pipeline: oneStep, input: null });
      await waitFor(async () => (await backend.reads.jobCounts()).queued === 1);
      flush.fail(new Error("EIO: i/o error, fsync"));
      const refused = /write-ahead log could not be flushed to disk \(EIO: i\/o error, fsync\)/;
      await assert.rejects(creating, refused);
      await assert.rejects(engine.createJob({ pipeline: oneStep, input: null }), refused);
      await assert.rejects(backend.apiKeys.insert(apiKey("k1")), refused);
      assert.equal(await backend.apiKeys.findByHash("hash-k1"), undefined);
      // The refused job was never written: only the one whose flush failed is in the database.
      assert.equal((await backend.reads.jobCounts()).queued, 1);
    });
  });
});

describe("walSync", () => {
  it("fails in words when the log it should flush cannot be opened, and stays failed", async () => {
    await withTempDir("wal-sync", async (dir) => {
      const durability = walSync(join(dir, "missing.db-wal"));
      await assert.rejects(durability.sync(), /could not be flushed to disk \(ENOENT/);
      await assert.rejects(durability.sync(), /could not be flushed to disk \(ENOENT/);
      await durability.close();
    });
  });
});

function apiKey(id: string) {
  return { id, tenant: "t", name: null, createdAt: 0, revokedAt: null, hash: `hash-${id}` };
}

async function waitFor(condition: () => Promise<boolean>, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error("timed out waiting for the condition");
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}
