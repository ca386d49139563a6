import assert from "node:assert/strict";
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import type { EngineFixture } from "../support/engine-fixture.js";
import {
  makeImage,
  makeVideo,
  mediaPipeline,
  openMediaFixture,
  runMediaJob,
} from "../support/media-fixtures.js";

/**
 * A pipeline's `limits` on its job's media: an input beyond them fails the first step that reads it, at
 * once and for good, saying what was found and what is allowed; files the job's own steps made are not
 * held to them, and the worker goes on to the next job.
 */
describe("pipeline limits on input media", () => {
  let fixture: EngineFixture;
  let oneSecond: string;
  let twoSeconds: string;
  let photo: string;

  before(async () => {
    const dir = await mkdtemp(join(tmpdir(), "mediaflow-limits-"));
    fixture = await openMediaFixture();
    oneSecond = await makeVideo(join(dir, "one.mp4"), { seconds: 1, width: 160, height: 90 });
    twoSeconds = await makeVideo(join(dir, "two.mp4"), { seconds: 2, width: 160, height: 90 });
    photo = await makeImage(join(dir, "photo.jpg"), { width: 320, height: 240 });
  });
  after(async () => {
    await fixture.close();
  });

  // A join of the input with itself, then a transcode of the join: the join is twice as long as the input.
  const joinThenEncode = (limits: string) =>
    mediaPipeline(`name: bounded
limits: ${limits}
steps:
  joined: { use: video.concat, with: { from: [input, input] }, retry: { attempts: 3 } }
  web: { use: video.transcode, needs: joined, with: { from: joined, height: 60, preset: ultrafast } }
`);

  it("refuses an input longer than maxDuration at the first step, once, with both durations", async () => {
    const run = await runMediaJob(fixture, joinThenEncode("{ maxDuration: 1500ms }"), twoSeconds);
    const joined = run.state.steps.joined;
    assert.equal(run.state.job.status, "failed");
    assert.equal(joined?.error?.code, "input_too_large", JSON.stringify(joined?.error));
    assert.match(
      joined?.error?.message ?? "",
      /^two\.mp4 is 2(\.\d+)? s long, above the pipeline's limit of 1\.5 s$/,
    );
    assert.equal(joined?.attempts, 1, "a file beyond the limits is not retried");
    assert.equal(run.state.steps.web?.status, "skipped");
  });

  it("does not hold what the job's own steps made to the limits: a join longer than them is encoded", async () => {
    const run = await runMediaJob(fixture, joinThenEncode("{ maxDuration: 1500ms }"), oneSecond);
    assert.equal(run.state.job.status, "succeeded", JSON.stringify(run.state.steps.web?.error));
  });

  it("refuses a video taller than maxHeight and one wider than maxWidth, as displayed", async () => {
    const tall = await runMediaJob(fixture, joinThenEncode("{ maxHeight: 80 }"), oneSecond);
    assert.equal(tall.state.steps.joined?.error?.code, "input_too_large");
    assert.match(
      tall.state.steps.joined?.error?.message ?? "",
      /is 160x90, above the pipeline's limit of 80 pixels high/,
    );
    const wide = await runMediaJob(fixture, joinThenEncode("{ maxWidth: 120, maxHeight: 90 }"), oneSecond);
    assert.match(
      wide.state.steps.joined?.error?.message ?? "",
      /is 160x90, above the pipeline's limit of 120x90/,
    );
    const fits = await runMediaJob(fixture, joinThenEncode("{ maxWidth: 160, maxHeight: 90 }"), oneSecond);
    assert.equal(fits.state.job.status, "succeeded", JSON.stringify(fits.state.steps.joined?.error));
  });

  it("refuses an image larger than maxBytes in image.resize and media.probe, and the next job succeeds", async () => {
    const pipeline = (maxBytes: number) =>
      mediaPipeline(`name: bounded-images
limits: { maxBytes: ${maxBytes} }
steps:
  facts: { use: media.probe }
  thumb: { use: image.resize, with: { sizes: { width: 32, height: 32, fit: cover } } }
`);
    const refused = await runMediaJob(fixture, pipeline(100), photo);
    for (const step of ["facts", "thumb"]) {
      const error = refused.state.steps[step]?.error;
      assert.equal(error?.code, "input_too_large", `${step}: ${JSON.stringify(error)}`);
      assert.match(
        error?.message ?? "",
        /^photo\.jpg is [\d,]+ bytes, above the pipeline's limit of 100 bytes$/,
      );
      assert.equal(refused.state.steps[step]?.attempts, 1);
    }
    const next = await runMediaJob(fixture, pipeline(10_000_000), photo);
    assert.equal(next.state.job.status, "succeeded", JSON.stringify(next.state.steps.thumb?.error));
  });
});
