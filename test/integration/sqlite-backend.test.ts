import assert from "node:assert/strict";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { migrate, openDatabase } from "../../src/backend/sqlite/connection.js";
import { migrations } from "../../src/backend/sqlite/migrations.js";
import { openSqliteBackend } from "../../src/backend/sqlite/sqlite-backend.js";
import { type BackendHarness, backendConformance } from "../conformance/backend.js";
import { retentionConformance } from "../conformance/retention.js";
import { webhookOutboxConformance } from "../conformance/webhook-outbox.js";
import { withTempDir } from "../support/namespaces.js";
import { pipeline } from "../support/test-pipelines.js";

const openHarness = async (): Promise<BackendHarness> => {
  const dir = await mkdtemp(join(tmpdir(), "mediaflow-sqlite-"));
  const backend = await openSqliteBackend(join(dir, "test.db"));
  return {
    backend,
    async cleanup(keep) {
      if (keep) process.stderr.write(`database kept for inspection: ${dir}/test.db\n`);
      else await rm(dir, { recursive: true, force: true });
    },
  };
};
backendConformance("sqlite", openHarness);
webhookOutboxConformance("sqlite", openHarness);
retentionConformance("sqlite", openHarness);

const snapshotPath = fileURLToPath(new URL("../../../src/backend/sqlite/schema.sql", import.meta.url));

/** The schema the migrations produce, one statement per entry, in a stable order. */
function dumpSchema(path: string): string {
  const db = openDatabase(path);
  try {
    const rows = db
      .prepare(`SELECT sql FROM sqlite_master WHERE sql IS NOT NULL AND name NOT LIKE 'sqlite_%'
                ORDER BY type DESC, name`)
      .all() as { sql: string }[];
    return `${rows.map((row) => `${row.sql.replace(/\s+/g, " ").trim()};`).join("\n")}\n`;
  } finally {
    db.close();
  }
}

describe("sqlite migrations", () => {
  it("produce the committed schema snapshot (regenerate src/backend/sqlite/schema.sql after adding a migration)", async () => {
    await withTempDir("schema", async (dir) => {
      const path = join(dir, "schema.db");
      await (await openSqliteBackend(path)).close();
      const actual = dumpSchema(path);
      if (process.env.UPDATE_SCHEMA_SNAPSHOT === "1") {
        const { writeFile } = await import("node:fs/promises");
        await writeFile(snapshotPath, actual);
      }
      assert.equal(actual, await readFile(snapshotPath, "utf8"));
    });
  });

  it("are numbered from 1 without gaps", () => {
    assert.deepEqual(
      migrations.map((m) => m.version),
      migrations.map((_, i) => i + 1),
    );
  });

  it("running them twice changes nothing", async () => {
    await withTempDir("migrate", async (dir) => {
      const path = join(dir, "twice.db");
      await (await openSqliteBackend(path)).close();
      const before = dumpSchema(path);
      const backend = await openSqliteBackend(path);
      await backend.migrate();
      await backend.close();
      assert.equal(dumpSchema(path), before);
    });
  });

  it("move each job's steps from the steps table into its row, in the pipeline's order (migration 6)", async () => {
    await withTempDir("steps-in-row", async (dir) => {
      const path = join(dir, "v5.db");
      const db = openDatabase(path);
      migrate(
        db,
        migrations.filter((migration) => migration.version <= 5),
      );
      const definition = {
        pipeline: pipeline({ first: {}, second: { needs: ["first"] } }),
        input: null,
        params: {},
      };
      db.prepare(`INSERT INTO jobs (id, tenant, pipeline_name, priority, definition, status, created_at)
        VALUES ('job_old', 'default', 'test', 0, ?, 'running', 1)`).run(JSON.stringify(definition));
      const step = (name: string, status: string) => ({
        name,
        use: "test.work",
        status,
        attempts: status === "succeeded" ? 1 : 0,
        progress: 0,
        runAt: null,
        startedAt: null,
        finishedAt: null,
        error: null,
        result: null,
        parts: null,
      });
      const insertStep = db.prepare(
        "INSERT INTO steps (job_id, name, status, state) VALUES ('job_old', ?, ?, ?)",
      );
      // Written in the other order, as the old table could hold them.
      insertStep.run("second", "queued", JSON.stringify(step("second", "queued")));
      insertStep.run("first", "succeeded", JSON.stringify(step("first", "succeeded")));
      db.close();

      const backend = await openSqliteBackend(path);
      try {
        const job = await backend.reads.getJob("job_old");
        assert.deepEqual(Object.values(job?.steps ?? {}), [
          step("first", "succeeded"),
          step("second", "queued"),
        ]);
      } finally {
        await backend.close();
      }
    });
  });

  it("refuse a database whose schema is newer than this build", async () => {
    await withTempDir("newer", async (dir) => {
      const path = join(dir, "newer.db");
      const db = openDatabase(path);
      migrate(db, [
        ...migrations,
        { version: migrations.length + 1, name: "from the future", sql: "CREATE TABLE future (x)" },
      ]);
      db.close();
      await assert.rejects(openSqliteBackend(path), (error: Error & { code?: string }) => {
        assert.equal(error.code, "schema_too_new");
        assert.match(error.message, /newer than this mediaflow knows/);
        return true;
      });
    });
  });
});
