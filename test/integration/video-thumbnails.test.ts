import { strict as assert } from "node:assert";
import { mkdtemp, readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import sharp from "sharp";
import type { EngineFixture } from "../support/engine-fixture.js";
import {
  ffprobe,
  type JobRun,
  makeVideo,
  mediaPipeline,
  openMediaFixture,
  runMediaJob,
  videoStream,
} from "../support/media-fixtures.js";

let fixture: EngineFixture;
let video: string;

before(async () => {
  fixture = await openMediaFixture("mediaflow-thumbnails-");
  const dir = await mkdtemp(join(tmpdir(), "mediaflow-thumbnails-src-"));
  video = await makeVideo(join(dir, "clip.mp4"), { width: 320, height: 180, seconds: 6 });
});

after(async () => {
  await fixture.close();
});

function thumbnailsJob(withYaml: string): Promise<JobRun> {
  const pipeline = mediaPipeline(`
name: thumbs
steps:
  thumbs:
    use: video.thumbnails
    with:
${withYaml
  .trim()
  .split("\n")
  .map((line) => `      ${line}`)
  .join("\n")}
`);
  return runMediaJob(fixture, pipeline, video);
}

describe("video.thumbnails", () => {
  it("takes count frames evenly spaced, each in every size, with sizes and times in meta", async () => {
    const job = await thumbnailsJob("count: 3\nsizes: [160, {width: 64, height: 64}]");
    assert.equal(job.state.job.status, "succeeded", JSON.stringify(job.state.steps.thumbs?.error));
    const outputs = job.outputs("thumbs");
    assert.equal(outputs.length, 6);
    assert.deepEqual(
      outputs.map((o) => o.meta?.time),
      [1, 1, 3, 3, 5, 5],
    );
    for (const output of outputs) {
      const probed = videoStream(await ffprobe(job.output("thumbs", output.name)));
      assert.equal(probed.codec_name, "mjpeg");
      assert.deepEqual([probed.width, probed.height], [output.meta?.width, output.meta?.height]);
    }
    assert.deepEqual(
      outputs.slice(0, 2).map((o) => [o.meta?.width, o.meta?.height]),
      [
        [160, 90],
        [64, 36],
      ],
    );
  });

  it("takes frames at the given times, as WebP, and never enlarges", async () => {
    const job = await thumbnailsJob("times: [0.5, 5.99]\nsizes: [640]\nformat: webp\nquality: 60");
    assert.equal(job.state.job.status, "succeeded", JSON.stringify(job.state.steps.thumbs?.error));
    const outputs = job.outputs("thumbs");
    assert.equal(outputs.length, 2);
    assert.equal(outputs[0]?.meta?.time, 0.5);
    assert.ok(Number(outputs[1]?.meta?.time) < 6, "a time in the last frame is taken from the last frame");
    for (const output of outputs) {
      const meta = await sharp(job.output("thumbs", output.name)).metadata();
      assert.equal(meta.format, "webp");
      assert.deepEqual([meta.width, meta.height], [320, 180]);
    }
  });

  it("makes a storyboard whose cues cover the duration and point inside the sprite", async () => {
    const job = await thumbnailsJob("count: 1\nstoryboard: {interval: 2, width: 80, columns: 2}");
    assert.equal(job.state.job.status, "succeeded", JSON.stringify(job.state.steps.thumbs?.error));
    const sprite = await sharp(job.output("thumbs", "sprite.jpg")).metadata();
    assert.equal(sprite.format, "jpeg");
    assert.deepEqual([sprite.width, sprite.height], [160, 92], "3 tiles of 80x46 in 2 columns, 2 rows");
    const vtt = await readFile(job.output("thumbs", "storyboard.vtt"), "utf8");
    assert.match(vtt, /^WEBVTT\n/);
    const cues = [...vtt.matchAll(/(\S+) --> (\S+)\nsprite\.jpg#xywh=(\d+),(\d+),(\d+),(\d+)/g)];
    assert.equal(cues.length, 3);
    assert.equal(cues[0]?.[1], "00:00:00.000");
    assert.equal(cues.at(-1)?.[2], "00:00:06.000");
    for (const [, , , x, y, w, h] of cues) {
      assert.ok(Number(x) + Number(w) <= (sprite.width ?? 0));
      assert.ok(Number(y) + Number(h) <= (sprite.height ?? 0));
      assert.deepEqual([Number(w), Number(h)], [80, 46]);
    }
  });

  it("refuses a time past the end of the video without retrying", async () => {
    const job = await thumbnailsJob("times: [60]");
    assert.equal(job.state.job.status, "failed");
    assert.equal(job.state.steps.thumbs?.error?.code, "out_of_range");
  });
});
