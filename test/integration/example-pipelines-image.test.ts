import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import sharp from "sharp";
import { loadPipelineFile } from "../../src/pipeline/load-pipelines.js";
import { builtinCatalog } from "../../src/steps/builtin-steps.js";
import type { EngineFixture } from "../support/engine-fixture.js";
import { makeImage, openMediaFixture, runMediaJob } from "../support/media-fixtures.js";

// Compiled to dist-*/test/integration: the repository root is three levels up.
const pipelinesDir = fileURLToPath(new URL("../../../pipelines/", import.meta.url));

describe("bundled image pipelines", () => {
  let fixture: EngineFixture;
  let photo: string;

  before(async () => {
    fixture = await openMediaFixture("mediaflow-image-pipelines-");
    photo = await makeImage(join(fixture.dir, "photo.jpg"), { width: 480, height: 320 });
  });
  after(async () => {
    await fixture.close();
  });

  it("thumbnail.yaml makes a 100x100 JPEG", async () => {
    const pipeline = await loadPipelineFile(join(pipelinesDir, "thumbnail.yaml"), builtinCatalog());
    const run = await runMediaJob(fixture, pipeline, photo);
    assert.equal(run.state.job.status, "succeeded");
    const meta = await sharp(run.output("thumb")).metadata();
    assert.deepEqual([meta.format, meta.width, meta.height], ["jpeg", 100, 100]);
  });

  it("transform-demo.yaml ends failed with both images made and the failing step's code", async () => {
    const pipeline = await loadPipelineFile(join(pipelinesDir, "transform-demo.yaml"), builtinCatalog());
    const run = await runMediaJob(fixture, pipeline, photo);
    assert.equal(run.state.job.status, "failed");
    assert.equal(run.state.steps.resize?.status, "succeeded");
    assert.equal(run.state.steps.rotate?.status, "succeeded");
    assert.equal(run.state.steps.publish?.status, "failed");
    assert.equal(run.state.steps.publish?.error?.code, "publish_unavailable");
    assert.equal(run.state.steps.publish?.attempts, 1);

    const resized = await sharp(run.output("resize")).metadata();
    assert.deepEqual([resized.format, resized.width, resized.height], ["webp", 320, 213]);
    const rotated = await sharp(run.output("rotate")).metadata();
    assert.deepEqual([rotated.format, rotated.width, rotated.height], ["jpeg", 320, 480]);
  });
});
