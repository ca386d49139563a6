import assert from "node:assert/strict";
import { mkdtemp, readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { loadPipelineFile } from "../../src/pipeline/load-pipelines.js";
import { builtinCatalog } from "../../src/steps/builtin-steps.js";
import type { EngineFixture } from "../support/engine-fixture.js";
import { ffprobe, makeVideo, openMediaFixture, runMediaJob, videoStream } from "../support/media-fixtures.js";

const pipelinesDir = join(process.cwd(), "pipelines");

describe("the bundled video pipelines, run end to end", () => {
  let fixture: EngineFixture;
  let source: string;

  before(async () => {
    const dir = await mkdtemp(join(tmpdir(), "mediaflow-video-pipelines-"));
    fixture = await openMediaFixture();
    source = await makeVideo(join(dir, "talk.mp4"), { width: 1280, height: 720, seconds: 4 });
  });
  after(async () => {
    await fixture.close();
  });

  it("renditions: a 720p and a 1080p MP4 encoded in parallel, each step with its own retries, never upscaled", async () => {
    const pipeline = await loadPipelineFile(join(pipelinesDir, "renditions.yaml"), builtinCatalog());
    assert.equal(pipeline.steps.hd720?.retry.attempts, 3);
    assert.equal(pipeline.steps.hd1080?.retry.attempts, 3);
    const job = await runMediaJob(fixture, pipeline, source, { params: { preset: "ultrafast" } });
    assert.equal(job.state.job.status, "succeeded", JSON.stringify(job.state.steps));
    assert.deepEqual(
      [job.outputs("hd720")[0]?.name, job.outputs("hd1080")[0]?.name],
      ["720p.mp4", "1080p.mp4"],
    );
    // The source is 720p: the 1080p rendition keeps the source's size rather than inventing pixels.
    for (const step of ["hd720", "hd1080"]) {
      const video = videoStream(await ffprobe(job.output(step)));
      assert.deepEqual([video.width, video.height], [1280, 720], step);
    }
    const a = job.state.steps.hd720;
    const b = job.state.steps.hd1080;
    assert.ok(a?.startedAt && a.finishedAt && b?.startedAt && b.finishedAt);
    assert.ok(a.startedAt < b.finishedAt && b.startedAt < a.finishedAt, "the two encodes overlapped in time");
  });

  it("abr: probe, a ladder of the rungs the source allows, HLS + DASH packaged once, thumbnails and a storyboard", async () => {
    const pipeline = await loadPipelineFile(join(pipelinesDir, "abr.yaml"), builtinCatalog());
    const job = await runMediaJob(fixture, pipeline, source, { params: { preset: "ultrafast" } });
    assert.equal(job.state.job.status, "succeeded", JSON.stringify(job.state.steps));
    assert.deepEqual(
      job.outputs("ladder").map((o) => o.name),
      ["720p.mp4", "360p.mp4"],
    );

    const master = await readFile(job.output("package", "hls/master.m3u8"), "utf8");
    const variants = master.split("\n").filter((line) => line.startsWith("#EXT-X-STREAM-INF:"));
    assert.equal(variants.length, 2, master);
    assert.match(variants[0] ?? "", /RESOLUTION=1280x720/);
    assert.match(variants[1] ?? "", /RESOLUTION=640x360/);
    assert.match(master, /#EXT-X-MEDIA:TYPE=AUDIO/);
    const mpd = await readFile(job.output("package", "dash/manifest.mpd"), "utf8");
    assert.equal(mpd.match(/<Representation /g)?.length, 3, "two video and one audio representation");
    // ffprobe follows the stored master playlist to the media playlists and segments beside it.
    const probed = await ffprobe(job.output("package", "hls/master.m3u8"));
    assert.ok(probed.streams.filter((s) => s.codec_type === "video").length >= 2);

    const events = await fixture.engine.readEvents({ jobId: job.state.job.id, after: 0, limit: 10_000 });
    const packageStarts = events.filter((e) => e.type === "step.started" && e.step === "package");
    assert.equal(packageStarts.length, 1, "the fan-in step ran exactly once");

    const thumbnails = job.outputs("thumbnails").map((o) => o.name);
    assert.equal(thumbnails.filter((name) => name.endsWith(".jpg") && !name.includes("sprite")).length, 10);
    assert.ok(
      thumbnails.some((name) => name.endsWith(".vtt")),
      thumbnails.join(", "),
    );
    const probe = job.state.steps.probe?.result?.data as Record<string, unknown>;
    assert.deepEqual([probe.width, probe.height], [1280, 720]);
  });
});
