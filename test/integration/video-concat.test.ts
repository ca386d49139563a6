import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { parsePipeline } from "../../src/pipeline/parse-pipeline.js";
import type { PipelineSpec } from "../../src/pipeline/types.js";
import { makeCatalog } from "../../src/steps/catalog.js";
import { utilSteps } from "../../src/steps/util/index.js";
import { videoEditingSteps } from "../../src/steps/video/editing-steps.js";
import { type EngineFixture, openEngineFixture } from "../support/engine-fixture.js";
import { durationOf, ffprobe, makeVideo, runMediaJob, videoStream } from "../support/media-fixtures.js";

const catalog = makeCatalog([...utilSteps, ...videoEditingSteps]);
const pipeline = (yaml: string): PipelineSpec => parsePipeline(yaml, "test.yaml", catalog);

describe("video.concat", () => {
  let dir: string;
  let fixture: EngineFixture;
  let wide: string;
  let square: string;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "mediaflow-concat-"));
    fixture = await openEngineFixture(dir, catalog);
    wide = await makeVideo(join(dir, "wide.mp4"), { width: 320, height: 180, seconds: 2, fps: 25 });
    square = await makeVideo(join(dir, "square.mp4"), {
      width: 240,
      height: 240,
      seconds: 2,
      fps: 30,
      audio: false,
    });
  });

  after(async () => {
    await fixture.close();
    await rm(dir, { recursive: true, force: true });
  });

  it("joins videos of one format by stream copy, as long as both together", async () => {
    const spec = pipeline(`
name: same
steps:
  joined:
    use: video.concat
    with: { from: [input, input] }
`);
    const run = await runMediaJob(fixture, spec, wide);
    assert.equal(run.state.job.status, "succeeded", JSON.stringify(run.state.steps.joined?.error));
    const output = run.outputs("joined")[0];
    assert.equal(output?.meta?.method, "copy");
    const probed = await ffprobe(run.output("joined"));
    assert.ok(Math.abs(durationOf(probed) - 4) <= 0.1, `duration ${durationOf(probed)}`);
    assert.equal(videoStream(probed).width, 320);
  });

  it("normalises videos of different sizes, rates and audio into one H.264/AAC file", async () => {
    // The square video reaches the join as the output of a step: a whole-span copy clip of a recording.
    const t0 = Date.UTC(2026, 0, 1);
    const key = `tenants/default/square/${t0}_${t0 + 2_000}.mp4`;
    await fixture.storage.putFile(key, square);
    const spec = pipeline(`
name: mixed
steps:
  square:
    use: video.clip
    with:
      start: ${t0}
      end: ${t0 + 2_000}
      recordings: [{ key: "${key}", start: ${t0}, end: ${t0 + 2_000} }]
      accurate: copy
  joined:
    use: video.concat
    needs: [square]
    with: { from: [input, square] }
`);
    const run = await runMediaJob(fixture, spec, wide);
    assert.equal(run.state.job.status, "succeeded", JSON.stringify(run.state.steps.joined?.error));
    assert.equal(run.outputs("joined")[0]?.meta?.method, "reencode");
    const probed = await ffprobe(run.output("joined"));
    assert.ok(Math.abs(durationOf(probed) - 4) <= 0.1, `duration ${durationOf(probed)}`);
    const video = videoStream(probed);
    assert.equal(video.codec_name, "h264");
    assert.deepEqual([video.width, video.height], [320, 180], "the first video's size");
    assert.equal(video.avg_frame_rate, "25/1");
    const audio = probed.streams.find((s) => s.codec_type === "audio");
    assert.equal(audio?.codec_name, "aac", "the silent video got silence, so the whole file has audio");
  });

  it("joins the outputs of the steps it needs, in the order needs lists them", async () => {
    const spec = pipeline(`
name: needs-order
steps:
  head:
    use: video.clip
    with: { start: 0, end: 1 }
  tail:
    use: video.clip
    with: { start: 1, end: 2 }
  joined:
    use: video.concat
    needs: [head, tail]
`);
    const run = await runMediaJob(fixture, spec, wide);
    assert.equal(run.state.job.status, "succeeded", JSON.stringify(run.state.steps.joined?.error));
    const probed = await ffprobe(run.output("joined"));
    assert.ok(Math.abs(durationOf(probed) - 2) <= 0.1, `duration ${durationOf(probed)}`);
  });
});
