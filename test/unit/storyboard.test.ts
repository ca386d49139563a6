import { strict as assert } from "node:assert";
import { describe, it } from "node:test";
import {
  evenlySpacedTimes,
  storyboardFilter,
  storyboardLayout,
  storyboardVtt,
  vttTime,
} from "../../src/steps/video/storyboard.js";

const hd = { width: 1920, height: 1080 };

describe("storyboard layout", () => {
  it("has one tile per started interval, so the last cue ends at the duration", () => {
    const layout = storyboardLayout({ duration: 7, interval: 2, source: hd, tileWidth: 160, columns: 10 });
    assert.equal(layout.tiles.length, 4);
    assert.deepEqual(
      layout.tiles.map((t) => [t.start, t.end]),
      [
        [0, 2],
        [2, 4],
        [4, 6],
        [6, 7],
      ],
    );
  });

  it("keeps the aspect ratio in even tile sizes and wraps rows after the given columns", () => {
    const layout = storyboardLayout({ duration: 60, interval: 2, source: hd, tileWidth: 160, columns: 10 });
    assert.deepEqual(layout.tile, { width: 160, height: 90 });
    assert.equal(layout.rows, 3);
    assert.deepEqual(layout.sheet, { width: 1600, height: 270 });
    const eleventh = layout.tiles[10];
    assert.deepEqual([eleventh?.x, eleventh?.y], [0, 90]);
    for (const t of layout.tiles) {
      assert.ok(t.x + layout.tile.width <= layout.sheet.width);
      assert.ok(t.y + layout.tile.height <= layout.sheet.height);
    }
  });

  it("makes a sheet no wider than its tiles when there are fewer than the columns", () => {
    const layout = storyboardLayout({ duration: 5, interval: 2, source: hd, tileWidth: 160, columns: 10 });
    assert.equal(layout.columns, 3);
    assert.deepEqual(layout.sheet, { width: 480, height: 90 });
    assert.equal(storyboardFilter(layout, 2), "fps=1/2,scale=160:90,setsar=1,tile=3x1");
  });

  it("gives a still-length video one tile rather than none", () => {
    const layout = storyboardLayout({ duration: 0.5, interval: 2, source: hd, tileWidth: 160, columns: 10 });
    assert.equal(layout.tiles.length, 1);
    assert.equal(layout.tiles[0]?.end, 0.5);
  });
});

describe("storyboard WebVTT", () => {
  it("writes a cue per tile pointing into the sprite with xywh", () => {
    const layout = storyboardLayout({ duration: 4, interval: 2, source: hd, tileWidth: 160, columns: 10 });
    assert.equal(
      storyboardVtt(layout, "sprite.jpg"),
      "WEBVTT\n\n" +
        "00:00:00.000 --> 00:00:02.000\nsprite.jpg#xywh=0,0,160,90\n\n" +
        "00:00:02.000 --> 00:00:04.000\nsprite.jpg#xywh=160,0,160,90\n",
    );
  });

  it("formats times with hours and milliseconds", () => {
    assert.equal(vttTime(0), "00:00:00.000");
    assert.equal(vttTime(75.5), "00:01:15.500");
    assert.equal(vttTime(3_723.0004), "01:02:03.000");
  });
});

describe("evenly spaced times", () => {
  it("takes the middle of equal slices, avoiding the first and last instant", () => {
    assert.deepEqual(evenlySpacedTimes(10, 5), [1, 3, 5, 7, 9]);
    assert.deepEqual(evenlySpacedTimes(6, 1), [3]);
  });
});
