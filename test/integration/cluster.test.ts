import assert from "node:assert/strict";
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { readFile } from "node:fs/promises";
import { createServer } from "node:net";
import { join } from "node:path";
import { describe, it } from "node:test";
import { promisify } from "node:util";
import pg from "pg";
import { makeImage, makeVideo } from "../support/media-fixtures.js";
import { withTempDir } from "../support/namespaces.js";
import { startS3Server } from "../support/s3-server.js";
import { cliPath, exited, spawnWorker } from "../support/worker-process.js";

const run = promisify(execFile);
const postgresUrl = process.env.MEDIAFLOW_TEST_POSTGRES_URL;
/**
 * A command that restarts the PostgreSQL server, for a machine where the test may do so (CI sets it; the
 * tests run one file at a time there). Without it the test drops every connection instead.
 */
const restartCommand = process.env.MEDIAFLOW_TEST_POSTGRES_RESTART;
if (postgresUrl === undefined) {
  process.stderr.write(
    "WARNING: the cluster test is SKIPPED: no PostgreSQL (set MEDIAFLOW_TEST_POSTGRES_URL to run it)\n",
  );
}

interface JobView {
  id: string;
  pipeline: string;
  status: string;
  error?: { code: string; message: string } | null;
  outputs: { step: string; name: string; bytes: number; url: string }[];
}

/**
 * The scaled-out shape, for real: one API process and three worker processes on PostgreSQL and S3
 * storage, a mixed load of jobs, one worker killed with SIGKILL in the middle of a transcode and every
 * database connection dropped once during the run. Nothing may be lost, run twice or half-written.
 */
describe("a cluster: API and three workers on PostgreSQL and S3", { skip: postgresUrl === undefined }, () => {
  it(
    "finishes 50 mixed jobs while a worker is killed mid-transcode and connections drop",
    { timeout: 300_000 },
    () =>
      withTempDir("cluster", async (dir) => {
        const url = postgresUrl ?? "";
        const schema = `mediaflow_cluster_${process.pid}`;
        const s3 = await startS3Server();
        let admin = new pg.Client({ connectionString: url });
        await admin.connect();
        const children: ChildProcess[] = [];
        try {
          await s3.createBucket("media");
          const port = await freePort();
          const env: Record<string, string> = {
            MEDIAFLOW_DATABASE_URL: `${url}${url.includes("?") ? "&" : "?"}schema=${schema}`,
            MEDIAFLOW_STORAGE_URL: `s3://media/cluster?endpoint=${encodeURIComponent(s3.endpoint)}&region=${s3.region}&forcePathStyle=true`,
            MEDIAFLOW_DATA_DIR: join(dir, "data"),
            AWS_ACCESS_KEY_ID: s3.credentials.accessKeyId,
            AWS_SECRET_ACCESS_KEY: s3.credentials.secretAccessKey,
            AWS_REGION: s3.region,
            // The test polls fifty jobs several times a second.
            MEDIAFLOW_RATE_LIMIT: "100000",
          };
          const { stdout: key } = await run(
            process.execPath,
            [cliPath, "keys", "create", "--tenant", "default"],
            {
              env: { PATH: process.env.PATH ?? "", ...env },
            },
          );
          const api = spawn(process.execPath, [cliPath, "serve", "--no-workers", "--port", String(port)], {
            env: { PATH: process.env.PATH ?? "", MEDIAFLOW_LOG_LEVEL: "warn", ...env },
            stdio: ["ignore", "ignore", "pipe"],
          });
          children.push(api);
          const base = `http://127.0.0.1:${port}`;
          await untilReady(`${base}/readyz`);
          const workers = [0, 1, 2].map((i) =>
            spawnWorker(env, ["--concurrency", "2", "--lease", "8s", "--id", `w${i}`]),
          );
          children.push(...workers);

          const image = await readFile(await makeImage(join(dir, "photo.jpg"), { width: 640, height: 480 }));
          const video = await readFile(
            await makeVideo(join(dir, "clip.mp4"), { width: 640, height: 360, seconds: 4 }),
          );
          const headers = { authorization: `Bearer ${key.trim()}` };
          const submit = async (
            pipeline: string,
            file: Buffer,
            filename: string,
            params = {},
          ): Promise<string> => {
            const form = new FormData();
            form.set("pipeline", pipeline);
            form.set("params", JSON.stringify(params));
            form.set("file", new Blob([file]), filename);
            const response = await fetch(`${base}/v1/jobs`, { method: "POST", headers, body: form });
            assert.equal(response.status, 202, await response.clone().text());
            return ((await response.json()) as JobView).id;
          };
          const get = async (id: string): Promise<JobView> => {
            const response = await fetch(`${base}/v1/jobs/${id}`, { headers });
            assert.equal(response.status, 200);
            return (await response.json()) as JobView;
          };

          const ids: string[] = [];
          // A slow encode first, so the SIGKILL below lands in the middle of one.
          ids.push(await submit("renditions", video, "slow.mp4", { preset: "slow" }));
          for (let i = 0; i < 5; i++)
            ids.push(await submit("abr", video, `abr-${i}.mp4`, { preset: "ultrafast" }));
          for (let i = 0; i < 14; i++)
            ids.push(await submit("renditions", video, `r-${i}.mp4`, { preset: "ultrafast" }));
          for (let i = 0; i < 30; i++) ids.push(await submit("thumbnail", image, `p-${i}.jpg`));
          assert.equal(ids.length, 50);

          // Kill a worker while it runs an encode: find one through the task leases in the database.
          const victim = await waitFor(async () => {
            const { rows } = await admin.query<{ worker_id: string }>(
              `SELECT lease_owner AS worker_id FROM ${schema}.tasks
             WHERE lease_owner IS NOT NULL AND step_type = 'video.transcode' LIMIT 1`,
            );
            return rows[0]?.worker_id;
          }, 60_000);
          const killed = workers[[0, 1, 2].find((i) => victim === `w${i}`) ?? 0];
          killed?.kill("SIGKILL");
          if (killed !== undefined) await exited(killed);

          await new Promise((resolve) => setTimeout(resolve, 1_000));
          if (restartCommand !== undefined) {
            // Restart the server itself: every process loses its connections and must reconnect.
            await admin.end();
            const [command = "", ...args] = restartCommand.split(" ");
            await run(command, args);
            admin = new pg.Client({ connectionString: url });
            await waitFor(
              () =>
                admin.connect().then(
                  () => true,
                  () => undefined,
                ),
              30_000,
            );
          } else {
            // Otherwise drop every connection the cluster holds, once, which the processes see the same way.
            await admin.query(
              "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name LIKE $1 AND pid <> pg_backend_pid()",
              [`mediaflow-%:${schema}`],
            );
          }

          // While the database restarts the API may answer 5xx; the test keeps asking.
          const tryGet = (id: string) => get(id).catch(() => undefined);
          const finished = await waitFor(async () => {
            const jobs = await Promise.all(ids.map(tryGet));
            const settled = jobs.filter((job): job is JobView => job !== undefined);
            return settled.length === jobs.length &&
              settled.every((job) => ["succeeded", "failed", "cancelled"].includes(job.status))
              ? settled
              : undefined;
          }, 240_000);
          for (const job of finished)
            assert.equal(job.status, "succeeded", `${job.pipeline} ${job.id}: ${JSON.stringify(job.error)}`);

          // The packaging step of each ABR job succeeded exactly once.
          for (const job of finished.filter((j) => j.pipeline === "abr")) {
            const events = (await (
              await fetch(`${base}/v1/jobs/${job.id}/events?limit=1000`, { headers })
            ).json()) as {
              events: { type: string; step: string | null }[];
            };
            const packaged = events.events.filter((e) => e.type === "step.succeeded" && e.step === "package");
            assert.equal(packaged.length, 1, `job ${job.id} packaged ${packaged.length} times`);
          }
          // Every output is there, whole: its bytes match what the job reports, and MP4s parse.
          for (const job of finished) {
            assert.ok(job.outputs.length > 0, `job ${job.id} has no outputs`);
            for (const output of job.outputs) {
              const response = await fetch(new URL(output.url, base));
              assert.equal(response.status, 200, `${job.id} ${output.name}`);
              const body = Buffer.from(await response.arrayBuffer());
              assert.equal(
                body.length,
                output.bytes,
                `${job.id} ${output.name} is ${body.length} of ${output.bytes} bytes`,
              );
              if (output.name.endsWith(".mp4"))
                assert.ok(body.includes(Buffer.from("moov")), `${output.name} has no index`);
            }
          }
        } finally {
          for (const child of children)
            if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
          await Promise.all(children.map(exited));
          await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`).catch(() => undefined);
          await admin.end();
          await s3.close();
        }
      }),
  );
});

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
    server.on("error", reject);
  });
}

async function untilReady(url: string): Promise<void> {
  await waitFor(async () => {
    const response = await fetch(url).catch(() => undefined);
    return response?.status === 200 ? true : undefined;
  }, 30_000);
}

async function waitFor<T>(probe: () => Promise<T | undefined>, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`gave up waiting after ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}
