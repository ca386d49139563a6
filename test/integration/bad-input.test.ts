import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdtemp, readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import type { EngineFixture } from "../support/engine-fixture.js";
import { makeVideo, mediaPipeline, openMediaFixture, runMediaJob } from "../support/media-fixtures.js";

/**
 * A corpus of files that are not what they claim, made by the test. Each must fail its step for good
 * (no retries wasted on it), quickly, with a code and a message a person can act on; the worker must
 * stay up and take the next job.
 */
describe("untrusted input: a bad-input corpus through video.transcode", () => {
  let fixture: EngineFixture;
  let dir: string;
  let good: string;
  const corpus: Array<{ name: string; file: string; code: string; message: RegExp }> = [];

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "mediaflow-bad-input-"));
    fixture = await openMediaFixture();
    good = await makeVideo(join(dir, "good.mp4"), { seconds: 1, width: 160, height: 90 });
    const write = async (name: string, body: Buffer | string): Promise<string> => {
      const file = join(dir, name);
      await writeFile(file, body);
      return file;
    };
    // Without faststart the index (moov) is at the end, so cutting the file loses it.
    const whole = await makeVideo(join(dir, "whole.mp4"), { seconds: 2, width: 160, height: 90 });
    const bytes = await readFile(whole);
    corpus.push(
      { name: "zero bytes", file: await write("empty.mp4", ""), code: "corrupt_media", message: /empty/ },
      {
        name: "one byte",
        file: await write("one.mp4", "x"),
        code: "corrupt_media",
        message: /not a video|damaged/,
      },
      {
        name: "a truncated MP4",
        file: await write("truncated.mp4", bytes.subarray(0, Math.floor(bytes.length / 2))),
        code: "corrupt_media",
        message: /incomplete|damaged|truncated/,
      },
      {
        name: "random bytes named .mp4",
        file: await write("random.mp4", randomBytes(64 * 1024)),
        code: "corrupt_media",
        message: /not a video|damaged/,
      },
      {
        name: "a text file",
        file: await write("notes.mp4", "these are meeting notes, not a video\n".repeat(100)),
        code: "corrupt_media",
        message: /not a video|damaged/,
      },
      {
        name: "an HLS playlist that points at a local file",
        file: await write(
          "playlist.mp4",
          "#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:10,\nfile:///etc/passwd\n#EXT-X-ENDLIST\n",
        ),
        code: "unsupported_media",
        message: /playlist|refers to other files/,
      },
      {
        name: "random bytes named .jpg",
        file: await write("random.jpg", randomBytes(4096)),
        code: "corrupt_media",
        message: /not a video|damaged/,
      },
    );
  });
  after(async () => {
    await fixture.close();
  });

  it("fails each file for good, quickly, with a clear code and message, and the next job succeeds", async () => {
    const pipeline = mediaPipeline(
      "name: t\nsteps:\n  web: { use: video.transcode, with: { height: 90, preset: ultrafast }, retry: { attempts: 3 } }",
    );
    for (const bad of corpus) {
      const started = Date.now();
      const job = await runMediaJob(fixture, pipeline, bad.file);
      const elapsed = Date.now() - started;
      const step = job.state.steps.web;
      assert.equal(job.state.job.status, "failed", `${bad.name}: ${job.state.job.status}`);
      assert.equal(step?.error?.code, bad.code, `${bad.name}: ${JSON.stringify(step?.error)}`);
      assert.match(step?.error?.message ?? "", bad.message, bad.name);
      assert.equal(step?.attempts, 1, `${bad.name} was retried`);
      assert.ok(elapsed < 5_000, `${bad.name} took ${elapsed} ms`);
    }
    const next = await runMediaJob(fixture, pipeline, good);
    assert.equal(next.state.job.status, "succeeded", JSON.stringify(next.state.steps.web?.error));
  });
});
