import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { SharedFlush } from "../../src/backend/sqlite/wal-sync.js";

/** A flush the test ends by hand, counting how many were started. */
function manualFlush(companyMs = 10_000) {
  const pending: { resolve: () => void; reject: (error: Error) => void }[] = [];
  const flush = new SharedFlush(
    () =>
      new Promise<void>((resolve, reject) => {
        pending.push({ resolve, reject });
      }),
    companyMs,
  );
  return {
    flush,
    started: () => pending.length,
    end: (index: number) => pending[index]?.resolve(),
    fail: (index: number, error: Error) => pending[index]?.reject(error),
  };
}

/** Whether `promise` has settled, after letting every queued callback run. */
async function settled(promise: Promise<unknown>): Promise<boolean> {
  let done = false;
  promise.then(
    () => {
      done = true;
    },
    () => {
      done = true;
    },
  );
  await new Promise((resolve) => setImmediate(resolve));
  return done;
}

describe("SharedFlush", () => {
  it("starts a flush for a call while none runs, and one more for all the calls made meanwhile", async () => {
    const { flush, started, end } = manualFlush();
    const first = flush.sync();
    const second = flush.sync();
    const third = flush.sync();
    assert.equal(started(), 1);
    assert.equal(second, third);
    end(0);
    await first;
    // The running flush may have begun before the later callers' writes: they wait for the next one.
    assert.equal(await settled(second), false);
    assert.equal(started(), 2);
    end(1);
    await Promise.all([second, third]);
    assert.equal(started(), 2);
  });

  it("fails the callers of a failed flush, those waiting behind it, and every later call", async () => {
    const { flush, started, fail } = manualFlush();
    const first = flush.sync();
    const waiting = flush.sync();
    fail(0, new Error("EIO: i/o error, fsync"));
    const message = /could not be flushed to disk \(EIO: i\/o error, fsync\).*accepts no more writes/;
    await assert.rejects(first, message);
    await assert.rejects(waiting, message);
    await assert.rejects(flush.sync(), message);
    // No second fsync: after a failed one, one that succeeds would prove nothing.
    assert.equal(started(), 1);
  });

  it("a caller in no hurry shares the flush another caller starts meanwhile", async () => {
    const { flush, started, end } = manualFlush();
    const unhurried = flush.syncSoon();
    assert.equal(started(), 0);
    const hurried = flush.sync();
    assert.equal(started(), 1);
    assert.equal(await settled(unhurried), false);
    end(0);
    await Promise.all([unhurried, hurried]);
    assert.equal(started(), 1);
  });

  it("a caller in no hurry starts a flush itself once nobody else has, and joins one already running", async () => {
    const { flush, started, end } = manualFlush(20);
    const alone = flush.syncSoon();
    await new Promise((resolve) => setTimeout(resolve, 60));
    assert.equal(started(), 1);
    // While that one runs, a caller in no hurry waits for the next, as any caller does.
    const behind = flush.syncSoon();
    end(0);
    await alone;
    assert.equal(started(), 2);
    end(1);
    await behind;
  });

  it("settles once nothing runs or waits, whatever the outcome", async () => {
    const { flush, end, fail } = manualFlush();
    const first = flush.sync().catch(() => undefined);
    const next = flush.sync().catch(() => undefined);
    const idle = flush.settled();
    assert.equal(await settled(idle), false);
    end(0);
    await first;
    assert.equal(await settled(idle), false);
    fail(1, new Error("EIO"));
    await Promise.all([next, idle]);
  });
});
