import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { loadPipelineFile } from "../../src/pipeline/load-pipelines.js";
import { parsePipeline } from "../../src/pipeline/parse-pipeline.js";
import type { PipelineSpec } from "../../src/pipeline/types.js";
import { makeCatalog } from "../../src/steps/catalog.js";
import { utilSteps } from "../../src/steps/util/index.js";
import { videoEditingSteps } from "../../src/steps/video/editing-steps.js";
import { type EngineFixture, openEngineFixture } from "../support/engine-fixture.js";
import { durationOf, ffprobe, makeVideo, runMediaJob, videoStream } from "../support/media-fixtures.js";

const catalog = makeCatalog([...utilSteps, ...videoEditingSteps]);
const pipeline = (yaml: string): PipelineSpec => parsePipeline(yaml, "test.yaml", catalog);

/** Keyframes exactly every second (25 frames, no scene-cut keyframes), so whole seconds are cut points. */
const KEYFRAME_EVERY_SECOND = [
  ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"],
  ["-g", "25", "-keyint_min", "25", "-sc_threshold", "0", "-c:a", "aac"],
].flat();

const fourSeconds = { width: 320, height: 180, seconds: 4, fps: 25, codecArgs: KEYFRAME_EVERY_SECOND };

describe("video.clip", () => {
  let dir: string;
  let fixture: EngineFixture;
  let first: string;
  let second: string;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "mediaflow-clip-"));
    fixture = await openEngineFixture(dir, catalog);
    first = await makeVideo(join(dir, "first.mp4"), fourSeconds);
    second = await makeVideo(join(dir, "second.mp4"), fourSeconds);
  });

  after(async () => {
    await fixture.close();
    await rm(dir, { recursive: true, force: true });
  });

  /** Stores a recording under `prefix`, named by its span as video.clip expects. */
  async function storeRecording(prefix: string, path: string, start: number, end: number): Promise<string> {
    const key = `${prefix}/${new Date(start).toISOString()}_${new Date(end).toISOString()}.mp4`;
    await fixture.storage.putFile(key, path);
    return key;
  }

  it("cuts a window across two recordings, frame-exact, with thumbnails never wider than the clip", async () => {
    const t0 = Date.now() - 60_000;
    const a = await storeRecording("tenants/default/across", first, t0, t0 + 4_000);
    const b = await storeRecording("tenants/default/across", second, t0 + 4_000, t0 + 8_000);
    const spec = pipeline(`
name: across
steps:
  clip:
    use: video.clip
    with:
      start: ${t0 + 2_500}
      end: ${t0 + 5_500}
      recordings:
        - { key: "${a}", start: ${t0}, end: ${t0 + 4_000} }
        - { key: "${b}", start: ${t0 + 4_000}, end: ${t0 + 8_000} }
      thumbnails: [300, 640]
`);
    const run = await runMediaJob(fixture, spec, null);
    assert.equal(run.state.job.status, "succeeded", JSON.stringify(run.state.steps.clip?.error));
    const probed = await ffprobe(run.output("clip", "clip.mp4"));
    assert.ok(Math.abs(durationOf(probed) - 3) <= 0.1, `duration ${durationOf(probed)}`);
    assert.equal(videoStream(probed).width, 320);
    const clip = run.outputs("clip").find((o) => o.name === "clip.mp4");
    assert.equal(clip?.meta?.method, "reencode", "2.5 s is not a keyframe");

    const small = await ffprobe(run.output("clip", "thumb-300.jpg"));
    assert.equal(videoStream(small).width, 300);
    const capped = run.outputs("clip").find((o) => o.name === "thumb-640.jpg");
    assert.equal(capped?.meta?.width, 320);
    assert.equal(capped?.meta?.capped, true);
    assert.equal(videoStream(await ffprobe(run.output("clip", "thumb-640.jpg"))).width, 320);
  });

  it("copies the streams without re-encoding when both cut points are keyframes", async () => {
    const t0 = Date.now() - 60_000;
    const a = await storeRecording("tenants/default/keyframes", first, t0, t0 + 4_000);
    const b = await storeRecording("tenants/default/keyframes", second, t0 + 4_000, t0 + 8_000);
    const spec = pipeline(`
name: keyframes
steps:
  clip:
    use: video.clip
    with:
      start: "${new Date(t0 + 2_000).toISOString()}"
      end: "${new Date(t0 + 5_000).toISOString()}"
      recordings:
        - { key: "${a}", start: ${t0}, end: ${t0 + 4_000} }
        - { key: "${b}", start: ${t0 + 4_000}, end: ${t0 + 8_000} }
`);
    const run = await runMediaJob(fixture, spec, null);
    assert.equal(run.state.job.status, "succeeded", JSON.stringify(run.state.steps.clip?.error));
    assert.equal(run.outputs("clip")[0]?.meta?.method, "copy");
    const probed = await ffprobe(run.output("clip", "clip.mp4"));
    assert.ok(Math.abs(durationOf(probed) - 3) <= 0.1, `duration ${durationOf(probed)}`);
  });

  it("cuts seconds out of the job's input", async () => {
    const spec = pipeline(`
name: input-window
steps:
  clip:
    use: video.clip
    with: { start: 0.5, end: 2.5 }
`);
    const run = await runMediaJob(fixture, spec, first);
    assert.equal(run.state.job.status, "succeeded", JSON.stringify(run.state.steps.clip?.error));
    const probed = await ffprobe(run.output("clip"));
    assert.ok(Math.abs(durationOf(probed) - 2) <= 0.1, `duration ${durationOf(probed)}`);
  });

  it("fails at once with out_of_range for an uncovered window older than maxAge", async () => {
    const old = Date.UTC(2020, 0, 1);
    const a = await storeRecording("tenants/default/old", first, old, old + 4_000);
    const spec = pipeline(`
name: too-old
steps:
  clip:
    use: video.clip
    with:
      start: ${old + 2_000}
      end: ${old + 6_000}
      recordings: [{ key: "${a}", start: ${old}, end: ${old + 4_000} }]
      maxAge: 7d
`);
    const started = Date.now();
    const run = await runMediaJob(fixture, spec, null);
    assert.equal(run.state.job.status, "failed");
    assert.equal(run.state.steps.clip?.error?.code, "out_of_range");
    assert.equal(run.state.steps.clip?.attempts, 1, "retrying cannot help");
    assert.ok(Date.now() - started < 10_000);
  });

  it("waits for a recording that arrives while the step is waiting, listed under recordingsPrefix", async () => {
    const t0 = Date.now() - 10_000;
    const prefix = "tenants/default/arriving";
    await storeRecording(prefix, first, t0, t0 + 4_000);
    const spec = pipeline(`
name: arriving
steps:
  clip:
    use: video.clip
    with:
      start: ${t0 + 2_500}
      end: ${t0 + 5_500}
      recordingsPrefix: ${prefix}
      pollEvery: 100ms
      waitFor: 30s
`);
    const late = setTimeout(() => void storeRecording(prefix, second, t0 + 4_000, t0 + 8_000), 300);
    try {
      const run = await runMediaJob(fixture, spec, null);
      assert.equal(run.state.job.status, "succeeded", JSON.stringify(run.state.steps.clip?.error));
      const probed = await ffprobe(run.output("clip", "clip.mp4"));
      assert.ok(Math.abs(durationOf(probed) - 3) <= 0.1, `duration ${durationOf(probed)}`);
    } finally {
      clearTimeout(late);
    }
  });

  it("fails with not_available when the recordings do not arrive within waitFor", async () => {
    const t0 = Date.now() - 10_000;
    const prefix = "tenants/default/never";
    await storeRecording(prefix, first, t0, t0 + 4_000);
    const spec = pipeline(`
name: never
steps:
  clip:
    use: video.clip
    with:
      start: ${t0 + 2_500}
      end: ${t0 + 5_500}
      recordingsPrefix: ${prefix}
      pollEvery: 100ms
      waitFor: 500ms
`);
    const run = await runMediaJob(fixture, spec, null);
    assert.equal(run.state.job.status, "failed");
    assert.equal(run.state.steps.clip?.error?.code, "not_available");
  });

  it("refuses recordings outside the job's tenant", async () => {
    const t0 = Date.now() - 60_000;
    const spec = pipeline(`
name: other-tenant
steps:
  clip:
    use: video.clip
    with:
      start: ${t0}
      end: ${t0 + 1_000}
      recordingsPrefix: tenants/someone-else/cameras
`);
    const run = await runMediaJob(fixture, spec, null);
    assert.equal(run.state.job.status, "failed");
    assert.equal(run.state.steps.clip?.error?.code, "invalid_key");
  });

  it("runs the bundled clip pipeline: a clip and its thumbnails from timestamped recordings", async () => {
    const t0 = Date.now() - 60_000;
    const prefix = "tenants/default/bundled";
    await storeRecording(prefix, first, t0, t0 + 4_000);
    await storeRecording(prefix, second, t0 + 4_000, t0 + 8_000);
    const spec = await loadPipelineFile("pipelines/clip.yaml", catalog);
    const run = await runMediaJob(fixture, spec, null, {
      params: {
        start: new Date(t0 + 1_000).toISOString(),
        end: new Date(t0 + 6_000).toISOString(),
        recordingsPrefix: prefix,
      },
    });
    assert.equal(run.state.job.status, "succeeded", JSON.stringify(run.state.steps.clip?.error));
    const probed = await ffprobe(run.output("clip", "clip.mp4"));
    assert.ok(Math.abs(durationOf(probed) - 5) <= 0.1, `duration ${durationOf(probed)}`);
    assert.deepEqual(
      run
        .outputs("clip")
        .map((o) => o.name)
        .sort(),
      ["clip.mp4", "thumb-300.jpg", "thumb-640.jpg"],
    );
  });
});
