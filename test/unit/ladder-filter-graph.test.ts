import { strict as assert } from "node:assert";
import { describe, it } from "node:test";
import { videoFilters } from "../../src/media/encode-args.js";
import { filterGraph } from "../../src/steps/video/encode-outputs.js";
import type { RenditionPlan } from "../../src/steps/video/rendition.js";

function output(width: number, height: number, fps?: number): { plan: RenditionPlan } {
  const size = { width, height };
  return {
    plan: {
      size,
      fps,
      filterChain: videoFilters(size, fps).join(","),
      container: "mp4",
      extension: "mp4",
      outputArgs: [],
      hasAudio: false,
      codecs: { video: "h264", audio: undefined },
    },
  };
}

const chain = (width: number, height: number, fps?: number) => output(width, height, fps).plan.filterChain;

describe("the filter graph of a one-decode encode", () => {
  it("scales each rung from the next larger one, splitting each picture that feeds another", () => {
    assert.equal(
      filterGraph([output(1920, 1080), output(1280, 720), output(640, 360)]),
      [
        `[0:v:0]${chain(1920, 1080)},split=2[v0][c1]`,
        `[c1]${chain(1280, 720)},split=2[v1][c2]`,
        `[c2]${chain(640, 360)}[v2]`,
      ].join(";"),
    );
  });

  it("finds the parent whatever order the rungs come in", () => {
    assert.equal(
      filterGraph([output(640, 360), output(1920, 1080), output(1280, 720)]),
      [
        `[c0]${chain(640, 360)}[v0]`,
        `[0:v:0]${chain(1920, 1080)},split=2[v1][c2]`,
        `[c2]${chain(1280, 720)},split=2[v2][c0]`,
      ].join(";"),
    );
  });

  it("scales from the source a rung no other covers, or whose frame rate differs", () => {
    assert.equal(
      filterGraph([output(1280, 720), output(720, 1280), output(640, 360, 15)], "transpose=1"),
      [
        "[0:v:0]transpose=1,split=3[c0][c1][c2]",
        `[c0]${chain(1280, 720)}[v0]`,
        `[c1]${chain(720, 1280)}[v1]`,
        `[c2]${chain(640, 360, 15)}[v2]`,
      ].join(";"),
    );
  });

  it("is one chain for one output", () => {
    assert.equal(filterGraph([output(1280, 720)]), `[0:v:0]${chain(1280, 720)}[v0]`);
    assert.equal(filterGraph([output(1280, 720)], "hflip"), `[0:v:0]hflip,${chain(1280, 720)}[v0]`);
  });
});
