import { strict as assert } from "node:assert";
import { describe, it } from "node:test";
import { videoFilters } from "../../src/media/encode-args.js";
import { filterGraph, outputArgs } from "../../src/steps/video/encode-outputs.js";
import type { RenditionPlan } from "../../src/steps/video/rendition.js";

function output(width: number, height: number, fps?: number, audioArgs = ["-an"]): { plan: RenditionPlan } {
  const size = { width, height };
  return {
    plan: {
      size,
      fps,
      filterChain: videoFilters(size, fps).join(","),
      container: "mp4",
      extension: "mp4",
      video: { codec: "h264", encoder: "libx264", preset: "veryfast", keyframeInterval: 2 },
      audioArgs,
      hasAudio: audioArgs[0] !== "-an",
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

describe("the outputs of a one-decode encode", () => {
  const aac = ["-c:a", "aac", "-b:a", "128000"];
  const count = (args: string[], arg: string) => args.filter((a) => a === arg).length;

  it("encodes audio once for renditions that carry the same, each file selecting its video and it", () => {
    const files = ["/w/out-0.mp4", "/w/out-1.mp4"];
    const args = outputArgs([output(1280, 720, undefined, aac), output(640, 360, undefined, aac)], files);
    assert.equal(count(args, "-c:a"), 1);
    assert.deepEqual([count(args, "-c:v:0"), count(args, "-c:v:1")], [1, 1]);
    assert.equal(args[args.indexOf("-f") + 1], "tee");
    assert.equal(
      args.at(-1),
      "[f=mp4:movflags=+faststart:select=\\'v:0,a\\']file:/w/out-0.mp4|" +
        "[f=mp4:movflags=+faststart:select=\\'v:1,a\\']file:/w/out-1.mp4",
    );
  });

  it("writes each file as an output of its own when there is one, or no audio to share", () => {
    for (const outputs of [[output(1280, 720, undefined, aac)], [output(1280, 720), output(640, 360)]]) {
      const args = outputArgs(outputs, ["/w/out-0.mp4", "/w/out-1.mp4"]);
      assert.ok(!args.includes("tee"));
      assert.equal(count(args, "-c:v"), outputs.length);
      assert.equal(args.at(-1), `file:/w/out-${outputs.length - 1}.mp4`);
    }
  });
});
