import assert from "node:assert/strict";
import { readFile, writeFile } from "node:fs/promises";
import { after, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import pg from "pg";
import type { Backend, BackendTransaction } from "../../src/backend/backend.js";
import {
  classifyFailure,
  connectionConfig,
  preparedStatements,
  transactionSettings,
} from "../../src/backend/postgres/connection.js";
import { migrate, migrations } from "../../src/backend/postgres/migrations.js";
import { openPostgresBackend } from "../../src/backend/postgres/postgres-backend.js";
import { Engine } from "../../src/engine/engine.js";
import type { JobEvent, NewJobEvent } from "../../src/engine/events.js";
import { PermanentError } from "../../src/errors/errors.js";
import { type BackendHarness, backendConformance } from "../conformance/backend.js";
import { retentionConformance } from "../conformance/retention.js";
import { webhookOutboxConformance } from "../conformance/webhook-outbox.js";
import { pipeline, testCatalog } from "../support/test-pipelines.js";

const defaultUrl = "postgres://postgres@127.0.0.1:5432/test";

/**
 * The server to test against: MEDIAFLOW_TEST_POSTGRES_URL when set (then an unreachable server fails the
 * tests), else the default one if it answers within 2 s. Undefined: skip, loudly.
 */
async function reachableUrl(): Promise<string | undefined> {
  const configured = process.env.MEDIAFLOW_TEST_POSTGRES_URL;
  if (configured !== undefined && configured !== "") return configured;
  const client = new pg.Client({ connectionString: defaultUrl, connectionTimeoutMillis: 2_000 });
  client.on("error", () => {});
  try {
    await client.connect();
    await client.query("SELECT 1");
    return defaultUrl;
  } catch {
    return undefined;
  } finally {
    await client.end().catch(() => {});
  }
}

const url = await reachableUrl();

if (url === undefined) {
  const message = `PostgreSQL not reachable at ${defaultUrl}: postgres tests SKIPPED`;
  process.stderr.write(`WARNING: ${message} (set MEDIAFLOW_TEST_POSTGRES_URL to run them)\n`);
  it.skip(message);
} else {
  postgresTests(url);
}

function postgresTests(url: string): void {
  // Creates and drops the tests' schemas; each test owns a fresh one.
  const admin = new pg.Pool({ connectionString: url, max: 4 });
  admin.on("error", () => {});
  after(() => admin.end());

  let counter = 0;
  const freshSchema = () => `mf_test_${process.pid}_${Date.now().toString(36)}_${counter++}`;

  /** Runs `body` with a fresh schema, dropped when it passes and kept (and named) when it fails. */
  async function withSchema(body: (schema: string) => Promise<void>): Promise<void> {
    const schema = freshSchema();
    try {
      await body(schema);
    } catch (error) {
      process.stderr.write(`PostgreSQL schema kept for inspection: ${schema}\n`);
      throw error;
    }
    await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  }

  /** Opens a backend on `schema` and closes it when `body` is done. */
  async function withBackend<T>(schema: string, body: (backend: Backend) => Promise<T>): Promise<T> {
    const backend = await openPostgresBackend(url, { schema });
    try {
      return await body(backend);
    } finally {
      await backend.close();
    }
  }

  const openHarness = async (): Promise<BackendHarness> => {
    const schema = freshSchema();
    const backend = await openPostgresBackend(url, { schema });
    return {
      backend,
      async cleanup(keep) {
        if (keep) process.stderr.write(`PostgreSQL schema kept for inspection: ${schema}\n`);
        else await admin.query(`DROP SCHEMA ${schema} CASCADE`);
      },
    };
  };
  backendConformance("postgres", openHarness);
  webhookOutboxConformance("postgres", openHarness);
  retentionConformance("postgres", openHarness);

  const snapshotPath = fileURLToPath(new URL("../../../src/backend/postgres/schema.sql", import.meta.url));

  /** The tables, columns and indexes of `schema`, in a stable order, without the schema's name. */
  async function dumpSchema(schema: string): Promise<string> {
    const columns = await admin.query<{
      table_name: string;
      column_name: string;
      data_type: string;
      is_nullable: string;
      column_default: string | null;
      identity_generation: string | null;
    }>(
      `SELECT table_name, column_name, data_type, is_nullable, column_default, identity_generation
       FROM information_schema.columns WHERE table_schema = $1
       ORDER BY table_name COLLATE "C", ordinal_position`,
      [schema],
    );
    const indexes = await admin.query<{ indexdef: string }>(
      `SELECT indexdef FROM pg_indexes WHERE schemaname = $1 ORDER BY tablename COLLATE "C", indexname COLLATE "C"`,
      [schema],
    );
    const lines: string[] = [];
    let table = "";
    for (const column of columns.rows) {
      if (column.table_name !== table) {
        table = column.table_name;
        lines.push(`TABLE ${table}`);
      }
      const parts = [`  ${column.column_name} ${column.data_type}`];
      if (column.is_nullable === "NO") parts.push("NOT NULL");
      if (column.column_default !== null) parts.push(`DEFAULT ${column.column_default}`);
      if (column.identity_generation !== null)
        parts.push(`GENERATED ${column.identity_generation} AS IDENTITY`);
      lines.push(parts.join(" "));
    }
    for (const { indexdef } of indexes.rows) lines.push(`${indexdef.replaceAll(`${schema}.`, "")};`);
    return `${lines.join("\n")}\n`;
  }

  async function appliedVersions(schema: string): Promise<number[]> {
    const { rows } = await admin.query<{ version: number }>(
      `SELECT version FROM ${schema}.mediaflow_migrations ORDER BY version`,
    );
    return rows.map((row) => row.version);
  }

  describe("postgres migrations", () => {
    it("[postgres] produce the committed schema snapshot (regenerate with UPDATE_SCHEMA_SNAPSHOT=1 after adding a migration)", async () => {
      await withSchema(async (schema) => {
        await withBackend(schema, async () => {});
        const actual = await dumpSchema(schema);
        if (process.env.UPDATE_SCHEMA_SNAPSHOT === "1") await writeFile(snapshotPath, actual);
        assert.equal(actual, await readFile(snapshotPath, "utf8"));
      });
    });

    it("[postgres] are numbered from 1 without gaps", () => {
      assert.deepEqual(
        migrations.map((m) => m.version),
        migrations.map((_, i) => i + 1),
      );
    });

    it("[postgres] running them twice changes nothing", async () => {
      await withSchema(async (schema) => {
        await withBackend(schema, async () => {});
        const before = await dumpSchema(schema);
        await withBackend(schema, (backend) => backend.migrate());
        assert.equal(await dumpSchema(schema), before);
        assert.deepEqual(
          await appliedVersions(schema),
          migrations.map((m) => m.version),
        );
      });
    });

    it("[postgres] refuse a schema that is newer than this build", async () => {
      await withSchema(async (schema) => {
        const pool = new pg.Pool(connectionConfig(url, schema, "test"));
        try {
          const future = {
            version: migrations.length + 1,
            name: "from the future",
            sql: "CREATE TABLE future (x int)",
          };
          await migrate(pool, schema, [...migrations, future]);
        } finally {
          await pool.end();
        }
        await assert.rejects(openPostgresBackend(url, { schema }), (error: Error & { code?: string }) => {
          assert.equal(error.code, "schema_too_new");
          assert.match(error.message, /newer than this mediaflow knows/);
          return true;
        });
      });
    });

    it("[postgres] two processes migrating one fresh schema at once both succeed and apply each migration once", async () => {
      await withSchema(async (schema) => {
        const backends = await Promise.all(
          Array.from({ length: 4 }, () => openPostgresBackend(url, { schema, poolSize: 2 })),
        );
        await Promise.all(backends.map((backend) => backend.close()));
        assert.deepEqual(
          await appliedVersions(schema),
          migrations.map((m) => m.version),
        );
      });
    });

    it("[postgres] refuse a schema name that is not a plain identifier", async () => {
      await assert.rejects(
        openPostgresBackend(url, { schema: "Robert'); DROP" }),
        /invalid PostgreSQL schema/,
      );
    });
  });

  describe("postgres transactions", () => {
    it("[postgres] classify failures by SQLSTATE: transient ones are retried, the rest are not", () => {
      const retryable = (code: string) => classifyFailure(Object.assign(new Error(code), { code })).retryable;
      for (const code of [
        "40001",
        "40P01",
        "57P01",
        "08006",
        "08000",
        "53300",
        "ECONNRESET",
        "ECONNREFUSED",
      ]) {
        assert.equal(retryable(code), true, code);
      }
      for (const code of ["23505", "40003", "40002", "42P01", "22P02", "XX000"]) {
        assert.equal(retryable(code), false, code);
      }
      assert.equal(classifyFailure(new PermanentError("bad", "bad")).retryable, false);
    });

    it("[postgres] a final append commits with the transaction: its events are stored and nothing may follow it", async () => {
      await withSchema(async (schema) => {
        await withBackend(schema, async (backend) => {
          const engine = new Engine({ backend, catalog: testCatalog });
          const { job } = await engine.createJob({ pipeline: pipeline({ a: {} }), input: null });
          // A statement and a task write (which would otherwise wait to ride along) are both refused.
          const following = [
            (tx: BackendTransaction) => tx.lockJob("job_that_does_not_matter"),
            (tx: BackendTransaction) => tx.deleteTask(1),
          ];
          for (const [index, next] of following.entries()) {
            await assert.rejects(
              backend.transaction(async (tx) => {
                await tx.lockJob(job.job.id);
                await tx.appendEvents([skippedEvent(job.job.id, `final ${index}`)], [], { final: true });
                await next(tx);
              }),
              /committed with its final append/,
            );
          }
          const events = await backend.reads.readEvents({ jobId: job.job.id, after: 0, limit: 100 });
          assert.deepEqual(
            events.flatMap((e) => (e.type === "step.skipped" ? [e.data.reason] : [])),
            ["final 0", "final 1"],
            "the appends committed",
          );
        });
      });
    });

    it("[postgres] a final append that fails rolls back the whole transaction, and the error is the statement's", async () => {
      await withSchema(async (schema) => {
        await withBackend(schema, async (backend) => {
          const engine = new Engine({ backend, catalog: testCatalog });
          const spec = pipeline({ a: {} });
          await assert.rejects(
            backend.transaction(async (tx) => {
              await tx.insertJob({
                id: "job_rolled_back",
                tenant: "default",
                idempotencyKey: null,
                pipelineName: spec.name,
                priority: 0,
                createdAt: 1,
                definition: { pipeline: spec, input: null, params: {} },
              });
              // A NOT NULL column left empty: the statement fails on the server.
              const broken = skippedEvent("job_rolled_back", "x");
              broken.at = null as unknown as number;
              await tx.appendEvents([broken], [], { final: true });
            }),
            (error: Error & { code?: string }) => error.code === "23502",
          );
          assert.equal(await engine.getJob("job_rolled_back"), undefined, "the job row was rolled back");
          // The connection went back to the pool in a usable state.
          const { job } = await engine.createJob({ pipeline: spec, input: null });
          assert.equal(job.job.status, "queued");
        });
      });
    });

    it("[postgres] a transaction that fails with serialization_failure is run again and commits once", async () => {
      await withSchema(async (schema) => {
        await withBackend(schema, async (backend) => {
          const engine = new Engine({ backend, catalog: testCatalog });
          const { job } = await engine.createJob({ pipeline: pipeline({ a: {} }), input: null });
          let runs = 0;
          await backend.transaction(async (tx) => {
            runs++;
            const state = await tx.lockJob(job.job.id);
            assert.ok(state);
            await tx.appendEvents([skippedEvent(job.job.id, `run ${runs}`)]);
            if (runs === 1) throw Object.assign(new Error("could not serialize access"), { code: "40001" });
          });
          assert.equal(runs, 2);
          const events = await backend.reads.readEvents({ jobId: job.job.id, after: 0, limit: 100 });
          const skipped = events.filter((e) => e.type === "step.skipped");
          assert.deepEqual(
            skipped.map((e) => e.type === "step.skipped" && e.data.reason),
            ["run 2"],
          );
        });
      });
    });

    it("[postgres] a transaction whose connection is terminated mid-run is run again on a new connection", async () => {
      await withSchema(async (schema) => {
        await withBackend(schema, async (backend) => {
          const engine = new Engine({ backend, catalog: testCatalog });
          const { job } = await engine.createJob({ pipeline: pipeline({ a: {} }), input: null });
          const pids: number[] = [];
          let runs = 0;
          await backend.transaction(async (tx) => {
            runs++;
            await tx.lockJob(job.job.id);
            if (runs === 1) {
              // Fault injection from outside: the server ends this transaction's session, as a restart or
              // an operator would.
              const { rows } = await admin.query<{ pid: number }>(
                `SELECT pg_terminate_backend(pid), pid FROM pg_stat_activity
                 WHERE application_name = $1 AND state LIKE 'idle in transaction%'`,
                [`mediaflow-backend:${schema}`],
              );
              pids.push(...rows.map((row) => row.pid));
              await new Promise((resolve) => setTimeout(resolve, 100));
            }
            await tx.appendEvents([skippedEvent(job.job.id, `run ${runs}`)]);
          });
          assert.equal(pids.length, 1, "exactly one session was in the transaction");
          assert.equal(runs, 2);
          const events = await backend.reads.readEvents({ jobId: job.job.id, after: 0, limit: 100 });
          assert.deepEqual(
            events
              .filter((e) => e.type === "step.skipped")
              .map((e) => e.type === "step.skipped" && e.data.reason),
            ["run 2"],
          );
        });
      });
    });

    it("[postgres] errors that retrying cannot fix are not retried and roll back", async () => {
      await withSchema(async (schema) => {
        await withBackend(schema, async (backend) => {
          let runs = 0;
          const job = {
            id: "job-1",
            tenant: "t",
            idempotencyKey: null,
            pipelineName: "p",
            priority: 0,
            createdAt: 1,
            definition: { pipeline: pipeline({ a: {} }), input: null, params: {} },
          };
          await assert.rejects(
            backend.transaction(async (tx) => {
              runs++;
              await tx.insertJob(job);
              throw new PermanentError("nope", "nope");
            }),
            /nope/,
          );
          assert.equal(runs, 1);
          assert.equal(await backend.reads.getJob("job-1"), undefined, "the insert was rolled back");
          await backend.transaction((tx) => tx.insertJob(job));
          await assert.rejects(
            backend.transaction(async (tx) => {
              runs++;
              // The same id again: a unique violation (23505), a bug rather than a transient failure.
              await tx.insertJob(job);
            }),
            (error: Error & { code?: string }) => error.code === "23505",
          );
          assert.equal(runs, 2);
        });
      });
    });
  });

  describe("postgres event log ordering", () => {
    it("[postgres] a job's next writer waits for its current one, so its events become visible in commit order; other jobs' writers do not wait", async () => {
      await withSchema(async (schema) => {
        await withBackend(schema, async (backend) => {
          const engine = new Engine({ backend, catalog: testCatalog });
          const spec = pipeline({ a: {} });
          const jobA = (await engine.createJob({ pipeline: spec, input: null })).job.job;
          const jobB = (await engine.createJob({ pipeline: spec, input: null })).job.job;
          const event = (jobId: string, reason: string) => ({
            type: "step.progress" as const,
            jobId,
            step: "a",
            part: null,
            attempt: 1,
            workerId: null,
            at: 1,
            data: { progress: 0, message: reason },
          });
          const writeTo = (
            jobId: string,
            reason: string,
            hold?: { appended: () => void; gate: Promise<void> },
          ) =>
            backend.transaction(async (tx) => {
              await tx.lockJob(jobId);
              const [written] = await tx.appendEvents([event(jobId, reason)]);
              hold?.appended();
              await hold?.gate;
              return written?.seq ?? 0;
            });
          let release = () => {};
          const gate = new Promise<void>((resolve) => {
            release = resolve;
          });
          let appended = () => {};
          const firstAppended = new Promise<void>((resolve) => {
            appended = resolve;
          });
          // The first writer takes its sequence number, then stays open (only a test may wait inside a
          // transaction like this).
          const first = writeTo(jobA.id, "first", { appended, gate });
          await firstAppended;
          let secondDone = false;
          const second = writeTo(jobA.id, "second").finally(() => {
            secondDone = true;
          });
          const otherJob = await writeTo(jobB.id, "other job");
          await new Promise((resolve) => setTimeout(resolve, 200));
          assert.equal(secondDone, false, "the job's second writer waits for the first to commit");
          const lastCreated = jobA.lastSeq;
          assert.deepEqual(
            await backend.reads.readEvents({ jobId: jobA.id, after: lastCreated, limit: 10 }),
            [],
          );
          release();
          const [firstSeq, secondSeq] = await Promise.all([first, second]);
          assert.ok(firstSeq < secondSeq);
          assert.ok(otherJob > firstSeq, "the other job's writer drew its number and committed meanwhile");
          const seen = await backend.reads.readEvents({ jobId: jobA.id, after: lastCreated, limit: 10 });
          assert.deepEqual(
            seen.map((e) => (e.type === "step.progress" ? e.data.message : e.type)),
            ["first", "second"],
          );
        });
      });
    });

    it("[postgres] a cursor reader following a job while two processes' workers run its 20 parallel steps sees every event exactly once, in order", async () => {
      await withSchema(async (schema) => {
        const writerBackends = await Promise.all([0, 1].map(() => openPostgresBackend(url, { schema })));
        try {
          await withBackend(schema, async (reader) => {
            const engines = writerBackends.map((backend) => new Engine({ backend, catalog: testCatalog }));
            const [creator] = engines;
            assert.ok(creator);
            const steps = Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`s${i}`, {}]));
            const { job } = (await creator.createJob({ pipeline: pipeline(steps), input: null })).job;
            const seen: JobEvent[] = [];
            let writing = true;
            const poll = async () => {
              for (;;) {
                const done = !writing;
                const after = seen.at(-1)?.seq ?? 0;
                const page = await reader.reads.readEvents({ jobId: job.id, after, limit: 7 });
                seen.push(...page);
                if (done && page.length === 0) return;
              }
            };
            const polling = poll();
            // Six claimers in each process, each claiming and completing one task at a time.
            const runClaimer = async (engine: Engine, workerId: string) => {
              for (;;) {
                const [task] = await engine.claimTasks({ workerId, limit: 1, leaseMs: 30_000 });
                if (task === undefined) return;
                await engine.completeTask(task.lease, { outputs: [] });
              }
            };
            await Promise.all(
              engines.flatMap((engine, e) =>
                Array.from({ length: 6 }, (_, i) => runClaimer(engine, `w${e}-${i}`)),
              ),
            );
            writing = false;
            await polling;
            const all = await reader.reads.readEvents({ jobId: job.id, after: 0, limit: 1000 });
            assert.equal(all.at(-1)?.type, "job.succeeded");
            assert.equal(
              all.length,
              1 + 20 * 3 + 1,
              "created, then queued, started, succeeded per step, then done",
            );
            assert.deepEqual(
              seen.map((e) => e.seq),
              all.map((e) => e.seq),
              "the polling reader saw every event once, in sequence order",
            );
          });
        } finally {
          await Promise.all(writerBackends.map((backend) => backend.close()));
        }
      });
    });
  });

  describe("postgres plans", () => {
    it("[postgres] in a transaction, every prepared statement's generic plan reads by index, even before the tables have statistics", async () => {
      await withSchema(async (schema) => {
        // Opening the backend migrates the schema; its tables are new and have never been analyzed.
        await withBackend(schema, async () => {});
        const client = new pg.Client(connectionConfig(url, schema, "test"));
        await client.connect();
        try {
          await client.query(`BEGIN; ${transactionSettings}`);
          assert.ok(preparedStatements.size >= 8, "the backend's statements are registered");
          for (const { name, text } of preparedStatements.values()) {
            await client.query(`PREPARE ${name} AS ${text}`);
            const { rows } = await client.query<{ count: number }>(
              "SELECT cardinality(parameter_types) AS count FROM pg_prepared_statements WHERE name = $1",
              [name],
            );
            const count = rows[0]?.count ?? 0;
            const args = count === 0 ? "" : `(${Array.from({ length: count }, () => "NULL").join(", ")})`;
            const explained = await client.query<{ "QUERY PLAN": [{ Plan: PlanNode }] }>(
              `EXPLAIN (FORMAT JSON) EXECUTE ${name}${args}`,
            );
            const plan = explained.rows[0]?.["QUERY PLAN"][0].Plan;
            assert.ok(plan !== undefined, `${name} has a plan`);
            const whole = planNodes(plan)
              .filter((node) => ["Seq Scan", "Hash Join", "Merge Join"].includes(node["Node Type"]))
              .map(
                (node) =>
                  `${node["Node Type"]}${node["Relation Name"] ? ` on ${node["Relation Name"]}` : ""}`,
              );
            assert.deepEqual(whole, [], `${name} reads whole tables: ${whole.join(", ")}`);
          }
        } finally {
          await client.query("ROLLBACK");
          await client.end();
        }
      });
    });
  });

  describe("postgres wake-ups", () => {
    /** Resolves true on the listener's next call, false after `ms`. */
    const nextWake = (backend: Backend, ms: number) =>
      new Promise<boolean>((resolve) => {
        const timer = setTimeout(() => {
          stop?.();
          resolve(false);
        }, ms);
        const stop = backend.onWork?.(() => {
          clearTimeout(timer);
          stop?.();
          resolve(true);
        });
      });

    /** Creates jobs through `creator` until `listening` is woken: the LISTEN may not be in place yet. */
    async function createUntilWoken(listening: Backend, creator: Backend): Promise<boolean> {
      const engine = new Engine({ backend: creator, catalog: testCatalog });
      for (let i = 0; i < 25; i++) {
        const woken = nextWake(listening, 200);
        await engine.createJob({ pipeline: pipeline({ a: {} }), input: null });
        if (await woken) return true;
      }
      return false;
    }

    it("[postgres] another process is woken by NOTIFY when a job is created, and only for its own schema", async () => {
      await withSchema(async (schema) => {
        await withSchema(async (otherSchema) => {
          await withBackend(schema, async (listening) => {
            await withBackend(schema, async (creator) => {
              await withBackend(otherSchema, async (elsewhere) => {
                const keepListening = listening.onWork?.(() => {});
                assert.ok(keepListening, "the postgres backend offers wake-ups");
                assert.equal(await createUntilWoken(listening, creator), true, "woken by a job creation");
                const woken = nextWake(listening, 500);
                await new Engine({ backend: elsewhere, catalog: testCatalog }).createJob({
                  pipeline: pipeline({ a: {} }),
                  input: null,
                });
                assert.equal(await woken, false, "work in another schema does not wake this one");
                keepListening();
              });
            });
          });
        });
      });
    });

    it("[postgres] the listener reconnects after its connection is dropped and wakes its listeners", async () => {
      await withSchema(async (schema) => {
        await withBackend(schema, async (listening) => {
          await withBackend(schema, async (creator) => {
            const keepListening = listening.onWork?.(() => {});
            assert.equal(await createUntilWoken(listening, creator), true);
            const listenerPids = async () =>
              (
                await admin.query<{ pid: number }>(
                  "SELECT pid FROM pg_stat_activity WHERE application_name = $1",
                  [`mediaflow-listener:${schema}`],
                )
              ).rows.map((row) => row.pid);
            const [dropped] = await listenerPids();
            assert.ok(dropped !== undefined);
            const woken = nextWake(listening, 5_000);
            await admin.query("SELECT pg_terminate_backend($1)", [dropped]);
            assert.equal(await woken, true, "woken after reconnecting, for what it may have missed");
            const [replacement] = await listenerPids();
            assert.ok(replacement !== undefined && replacement !== dropped, "listening on a new connection");
            assert.equal(await createUntilWoken(listening, creator), true, "NOTIFY works again");
            keepListening?.();
          });
        });
      });
    });

    it("[postgres] closing twice is harmless and ends every connection", async () => {
      await withSchema(async (schema) => {
        const backend = await openPostgresBackend(url, { schema });
        backend.onWork?.(() => {});
        await new Promise((resolve) => setTimeout(resolve, 100));
        await backend.close();
        await backend.close();
        await assert.rejects(
          backend.transaction(async () => {}),
          /closed/,
        );
        // A session leaves pg_stat_activity when its server process exits, just after the socket closes.
        let sessions = -1;
        for (let i = 0; i < 50 && sessions !== 0; i++) {
          if (i > 0) await new Promise((resolve) => setTimeout(resolve, 20));
          const { rows } = await admin.query<{ count: number }>(
            "SELECT count(*)::int AS count FROM pg_stat_activity WHERE application_name LIKE $1",
            [`mediaflow-%:${schema}`],
          );
          sessions = rows[0]?.count ?? -1;
        }
        assert.equal(sessions, 0);
      });
    });
  });
}

interface PlanNode {
  "Node Type": string;
  "Relation Name"?: string;
  Plans?: PlanNode[];
}

function planNodes(node: PlanNode): PlanNode[] {
  return [node, ...(node.Plans ?? []).flatMap(planNodes)];
}

/** An event any job may take: step `a` skipped, with `reason`. */
function skippedEvent(jobId: string, reason: string): NewJobEvent {
  return {
    type: "step.skipped",
    jobId,
    step: "a",
    part: null,
    attempt: null,
    workerId: null,
    at: 1,
    data: { reason },
  };
}
