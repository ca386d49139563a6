import assert from "node:assert/strict";
import { appendFile, mkdir, readdir, readFile, rename, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { Readable } from "node:stream";
import { describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { bundledPipelinesDir } from "../../src/pipeline/bundled-pipelines.js";
import { loadPipelineDir } from "../../src/pipeline/load-pipelines.js";
import type { InboxWatcher } from "../../src/triggers/inbox-watcher.js";
import { startTestServer, type TestServer } from "../support/api-server.js";
import { waitForJob } from "../support/engine-fixture.js";
import { makeVideo } from "../support/media-fixtures.js";
import { withTempDir } from "../support/namespaces.js";

const hookSecret = "a-hook-secret-of-some-length";

// The bundled demo pipeline runs anywhere; a short nap keeps the test quick.
const rulesYaml = `
rules:
  - name: camera-uploads
    prefix: cameras/
    match: { suffix: [".mp4", ".mov", ".mxf"] }
    pipeline: demo
    params: { nap: 10ms }
    tenant: alice
  - name: inbox-videos
    match: { suffix: [".mp4"] }
    pipeline: demo
    params: { nap: 10ms }
    tenant: alice
`;

async function startServer(dir: string): Promise<TestServer> {
  return startTestServer(
    dir,
    {},
    { triggersFile: join(dir, "triggers.yaml"), inboxDir: join(dir, "inbox"), s3HookSecret: hookSecret },
  );
}

async function inboxWatcher(server: TestServer): Promise<InboxWatcher> {
  const pipelines = await loadPipelineDir(bundledPipelinesDir, server.runtime.catalog);
  // A long interval and no start(): the test steps the polls itself, so "two polls" is exact.
  return server.runtime.createInboxWatcher(await server.runtime.triggerSettings(), pipelines, {
    pollMs: 60_000,
  });
}

async function jobIds(server: TestServer): Promise<string[]> {
  const response = await server.request("/v1/jobs");
  assert.equal(response.status, 200);
  const body = (await response.json()) as { jobs: { id: string }[] };
  return body.jobs.map((job) => job.id);
}

async function withTriggerServer(prefix: string, body: (dir: string) => Promise<void>): Promise<void> {
  await withTempDir(prefix, async (dir) => {
    await writeFile(join(dir, "triggers.yaml"), rulesYaml);
    await mkdir(join(dir, "inbox"), { recursive: true });
    await body(dir);
  });
}

describe("inbox trigger", () => {
  it("processes a dropped .mp4 once, only after it stops growing, and ignores a .txt", async () => {
    await withTriggerServer("inbox", async (dir) => {
      const inbox = join(dir, "inbox");
      const video = await readFile(await makeVideo(join(dir, "source.mp4"), { seconds: 1 }));
      const half = Math.floor(video.length / 2);
      const clip = join(inbox, "clip.mp4");
      let server = await startServer(dir);
      try {
        const watcher = await inboxWatcher(server);
        await writeFile(clip, video.subarray(0, half));
        await writeFile(join(inbox, "notes.txt"), "not a video");
        await watcher.pollOnce();
        await sleep(20);
        await appendFile(clip, video.subarray(half));
        const whileGrowing = await watcher.pollOnce();
        assert.deepEqual(whileGrowing.started, [], "a file that changed since the last poll is not taken");
        assert.deepEqual(await jobIds(server), []);

        const settled = await watcher.pollOnce();
        assert.equal(settled.started.length, 1);
        assert.deepEqual(settled.unmatched, ["notes.txt"]);
        const [started] = settled.started;
        assert.equal(started?.path, "clip.mp4");
        assert.equal(started?.created, true);
        const jobId = started?.jobId ?? "";

        const job = await waitForJob(server.runtime.engine, jobId);
        assert.equal(job.job.status, "succeeded");
        assert.equal(job.job.pipelineName, "demo");
        const input = job.job.input;
        assert.ok(input !== null && input !== undefined);
        assert.match(input.key, /^tenants\/alice\/inbox\/\d+-\d+\/clip\.mp4$/);
        assert.equal((await server.runtime.storage.stat(input.key))?.bytes, video.length);

        assert.deepEqual((await readdir(inbox)).sort(), [".processed", "notes.txt"]);
        assert.equal((await stat(join(inbox, ".processed", "clip.mp4"))).size, video.length);
        const later = await watcher.pollOnce();
        assert.deepEqual(later.started, []);
        assert.deepEqual(await jobIds(server), [jobId]);

        // A restart, as if the process died after creating the job but before moving the file.
        await server.close();
        server = await startServer(dir);
        const processed = join(inbox, ".processed", "clip.mp4");
        // rename keeps the mtime, so the file is the same file as far as the watcher can tell.
        await rename(processed, clip);
        const restarted = await inboxWatcher(server);
        await restarted.pollOnce();
        const again = await restarted.pollOnce();
        assert.deepEqual(
          again.started.map((entry) => [entry.jobId, entry.created]),
          [[jobId, false]],
          "the same file finds the job it made before",
        );
        assert.deepEqual(await jobIds(server), [jobId]);
        assert.equal(await readFile(join(inbox, "notes.txt"), "utf8"), "not a video");

        // Another file at the same path is another input: the first job's stays as it was.
        await writeFile(clip, video.subarray(0, half));
        await restarted.pollOnce();
        const next = await restarted.pollOnce();
        assert.equal(next.started.length, 1);
        assert.equal(next.started[0]?.created, true);
        const nextJob = await server.runtime.engine.getJob(next.started[0]?.jobId ?? "");
        assert.notEqual(nextJob?.job.input?.key, input.key);
        assert.equal((await server.runtime.storage.stat(nextJob?.job.input?.key ?? ""))?.bytes, half);
        assert.equal((await server.runtime.storage.stat(input.key))?.bytes, video.length);
      } finally {
        await server.close();
      }
    });
  });

  it("moves a file whose job cannot be made to .failed with the reason beside it", async () => {
    await withTempDir("inbox-failed", async (dir) => {
      await writeFile(
        join(dir, "triggers.yaml"),
        "rules:\n  - {name: bad-params, match: {suffix: ['.mp4']}, pipeline: demo, params: {naptime: 1s}}\n",
      );
      await mkdir(join(dir, "inbox", "door"), { recursive: true });
      const server = await startServer(dir);
      try {
        const watcher = await inboxWatcher(server);
        await writeFile(join(dir, "inbox", "door", "a.mp4"), "whatever");
        await watcher.pollOnce();
        const result = await watcher.pollOnce();
        assert.deepEqual(result.failed, ["door/a.mp4"]);
        const reason = await readFile(join(dir, "inbox", ".failed", "door", "a.mp4.error.txt"), "utf8");
        assert.match(reason, /^invalid_params: /);
        assert.deepEqual(await jobIds(server), []);
      } finally {
        await server.close();
      }
    });
  });

  it("once started, polls on its own and stops cleanly", async () => {
    await withTriggerServer("inbox-timer", async (dir) => {
      const server = await startServer(dir);
      try {
        const pipelines = await loadPipelineDir(bundledPipelinesDir, server.runtime.catalog);
        const settings = await server.runtime.triggerSettings();
        const watcher = server.runtime.createInboxWatcher(settings, pipelines, { pollMs: 50 });
        watcher.start();
        await mkdir(join(dir, "inbox", "cameras"));
        await writeFile(join(dir, "inbox", "cameras", "door.mp4"), "bytes");
        const processed = join(dir, "inbox", ".processed", "cameras", "door.mp4");
        for (let waited = 0; !(await exists(processed)); waited += 50) {
          assert.ok(waited < 5_000, "the file was not taken within 5 s");
          await sleep(50);
        }
        await watcher.stop();
        assert.equal((await jobIds(server)).length, 1);
      } finally {
        await server.close();
      }
    });
  });
});

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

describe("S3 bucket notification hook", () => {
  const event = (key: string, eTag: string) =>
    JSON.stringify({
      EventName: "s3:ObjectCreated:Put",
      Key: `media/${key}`,
      Records: [
        {
          eventVersion: "2.0",
          eventSource: "minio:s3",
          eventName: "s3:ObjectCreated:Put",
          s3: {
            bucket: { name: "media", arn: "arn:aws:s3:::media" },
            object: {
              key: encodeURIComponent(key).replace(/%2F/g, "/"),
              size: 11,
              eTag,
              contentType: "video/mp4",
            },
          },
        },
      ],
    });

  it("starts one job per object, the same job on redelivery, and refuses a wrong secret", async () => {
    await withTriggerServer("s3-hook", async (dir) => {
      const server = await startServer(dir);
      try {
        await server.runtime.storage.put(
          "cameras/door cam.mp4",
          Readable.from([Buffer.from("not a video")]),
          {
            contentType: "video/mp4",
          },
        );
        const post = (body: string, secret: string | null) =>
          server.request("/v1/hooks/s3", { method: "POST", body, key: secret });

        const first = await post(event("cameras/door cam.mp4", "etag-1"), hookSecret);
        assert.equal(first.status, 200);
        const outcome = (await first.json()) as {
          started: { key: string; rule: string; jobId: string; created: boolean }[];
          ignored: unknown[];
        };
        assert.equal(outcome.started.length, 1);
        assert.equal(outcome.started[0]?.rule, "camera-uploads");
        assert.equal(outcome.started[0]?.created, true);
        const jobId = outcome.started[0]?.jobId ?? "";
        const job = await waitForJob(server.runtime.engine, jobId);
        assert.equal(job.job.input?.key, "cameras/door cam.mp4");

        const redelivered = (await (
          await post(event("cameras/door cam.mp4", "etag-1"), hookSecret)
        ).json()) as {
          started: { jobId: string; created: boolean }[];
        };
        assert.deepEqual(
          redelivered.started.map((s) => [s.jobId, s.created]),
          [[jobId, false]],
        );

        const unmatched = (await (await post(event("cameras/notes.txt", "e"), hookSecret)).json()) as {
          started: unknown[];
          ignored: { key: string; reason: string }[];
        };
        assert.deepEqual(unmatched, {
          started: [],
          ignored: [{ key: "cameras/notes.txt", reason: "matches no rule" }],
        });

        const wrong = await post(event("cameras/door cam.mp4", "etag-2"), "not-the-secret");
        assert.equal(wrong.status, 401);
        assert.equal((await post(event("cameras/door cam.mp4", "etag-2"), null)).status, 401);
        assert.deepEqual(await jobIds(server), [jobId]);
      } finally {
        await server.close();
      }
    });
  });

  it("answers 404 when no hook secret is configured", async () => {
    await withTempDir("s3-hook-off", async (dir) => {
      const server = await startTestServer(dir);
      try {
        const response = await server.request("/v1/hooks/s3", {
          method: "POST",
          body: "{}",
          key: "anything",
        });
        assert.equal(response.status, 404);
      } finally {
        await server.close();
      }
    });
  });
});
