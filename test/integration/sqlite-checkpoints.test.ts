import assert from "node:assert/strict";
import { statSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { Worker } from "node:worker_threads";
import { BackgroundCheckpoints } from "../../src/backend/sqlite/checkpoints.js";
import { openDatabase } from "../../src/backend/sqlite/connection.js";
import { openSqliteBackend } from "../../src/backend/sqlite/sqlite-backend.js";
import { Engine } from "../../src/engine/engine.js";
import { withTempDir } from "../support/namespaces.js";
import { pipeline, testCatalog } from "../support/test-pipelines.js";

const oneStep = pipeline({ a: {} });

/** Polls `condition` every 20 ms for up to 5 s. */
async function eventually(condition: () => boolean, what: string): Promise<void> {
  for (let waited = 0; waited < 5_000; waited += 20) {
    if (condition()) return;
    await sleep(20);
  }
  assert.fail(`not within 5 s: ${what}`);
}

describe("SQLite checkpoints on a thread of their own", () => {
  it("copy the log into the database file while the writer only commits", async () => {
    await withTempDir("checkpoints", async (dir) => {
      const path = join(dir, "mediaflow.db");
      const backend = await openSqliteBackend(path, {
        checkpoints: {
          startAfterCommits: 1,
          framesPerCheckpoint: 1,
          firstCheckpointAfterCommits: 1,
          pauseAtLogFrames: 4_000,
        },
      });
      try {
        const engine = new Engine({ backend, catalog: testCatalog });
        const before = statSync(path).size;
        // A few dozen small commits: far below the 1000 log pages at which SQLite would copy them itself.
        for (let i = 0; i < 30; i++) await engine.createJob({ pipeline: oneStep, input: null });
        await eventually(() => statSync(path).size > before, "the database file grows as pages are copied");
        const jobs = await backend.reads.listJobs({ limit: 100 });
        assert.equal(jobs.length, 30);
      } finally {
        await backend.close();
      }
    });
  });

  it("let the log start over while the writer keeps committing", async () => {
    await withTempDir("checkpoints", async (dir) => {
      const path = join(dir, "mediaflow.db");
      const pauseAtLogFrames = 100;
      const backend = await openSqliteBackend(path, {
        checkpoints: {
          startAfterCommits: 1,
          framesPerCheckpoint: 1,
          firstCheckpointAfterCommits: 1,
          pauseAtLogFrames,
        },
      });
      let largestLog = 0;
      try {
        const engine = new Engine({ backend, catalog: testCatalog });
        // Eight producers that never let the writer rest: checkpoints alongside it never reach the log's
        // end, and without the writer's pauses the log grew to over 5,000 pages here.
        const producer = async () => {
          for (let i = 0; i < 400; i++) {
            await engine.createJob({ pipeline: oneStep, input: null });
            largestLog = Math.max(largestLog, statSync(`${path}-wal`).size);
          }
        };
        await Promise.all(Array.from({ length: 8 }, producer));
        const pages = largestLog / (4096 + 24);
        assert.ok(pages < 1_500, `the log reached ${Math.round(pages)} pages`);
        assert.equal((await backend.reads.jobCounts()).queued, 3_200);
      } finally {
        await backend.close();
      }
    });
  });

  it("come as often as the log grows by the pages asked for, not at every commit", async () => {
    await withTempDir("checkpoints", async (dir) => {
      const db = openDatabase(join(dir, "mediaflow.db"));
      db.exec("CREATE TABLE t (x)");
      const insert = db.prepare("INSERT INTO t VALUES (randomblob(3000))");
      const checkpoints = new BackgroundCheckpoints(db, {
        startAfterCommits: 1,
        framesPerCheckpoint: 50,
        firstCheckpointAfterCommits: 5,
        pauseAtLogFrames: 100_000,
      });
      try {
        // A page or two of log per commit: 300 commits are some 600 pages, a dozen checkpoints' worth, where
        // one per commit would be 150 or more (measured: 14 against 148).
        for (let i = 0; i < 300; i++) {
          insert.run();
          checkpoints.committed();
          await sleep(1);
        }
        assert.ok(checkpoints.made >= 3 && checkpoints.made <= 40, `${checkpoints.made} checkpoints`);
      } finally {
        await checkpoints.close();
        db.close();
      }
    });
  });

  it("hand checkpoints back to SQLite when their thread dies", async () => {
    await withTempDir("checkpoints", async (dir) => {
      const db = openDatabase(join(dir, "mediaflow.db"));
      db.exec("CREATE TABLE t (x)");
      const autocheckpoint = () => db.pragma("wal_autocheckpoint", { simple: true });
      // Says it is ready, then dies at the first checkpoint asked of it.
      const dying = () =>
        new Worker(
          `const { parentPort } = require("node:worker_threads");
           parentPort.postMessage({ ok: true, logFrames: 0, copiedFrames: 0 });
           parentPort.once("message", () => process.exit(3));`,
          { eval: true },
        );
      const checkpoints = new BackgroundCheckpoints(
        db,
        // The first checkpoint is asked for at the second commit, once the thread has said it is ready.
        {
          startAfterCommits: 1,
          framesPerCheckpoint: 1,
          firstCheckpointAfterCommits: 2,
          pauseAtLogFrames: 10,
        },
        dying,
      );
      try {
        db.exec("INSERT INTO t VALUES (1)");
        checkpoints.committed();
        await eventually(() => autocheckpoint() === 0, "the writer leaves checkpoints to the thread");
        db.exec("INSERT INTO t VALUES (2)");
        checkpoints.committed();
        await eventually(() => autocheckpoint() === 1000, "SQLite's own checkpoints are back");
        assert.equal(checkpoints.beforeTransaction(), undefined, "the writer is never held");
        db.exec("INSERT INTO t VALUES (3)");
        checkpoints.committed();
        assert.equal(db.prepare("SELECT count(*) FROM t").pluck().get(), 3);
      } finally {
        await checkpoints.close();
        db.close();
      }
    });
  });
});
