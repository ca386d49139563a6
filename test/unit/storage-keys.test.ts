import { strict as assert } from "node:assert";
import { describe, it } from "node:test";
import { assertValidKey, safeKeySegment } from "../../src/storage/keys.js";

describe("safe key segments", () => {
  it("keep names that are safe already, as they are", () => {
    for (const name of [
      "thumb-100x100.jpg",
      "720p.mp4",
      "_draft",
      "-x",
      "a",
      "index.m3u8",
      "x".repeat(200),
    ]) {
      assert.equal(safeKeySegment(name), name);
    }
  });

  it("clean everything else into one segment that keeps its extension readable", () => {
    assert.equal(safeKeySegment("holiday clip.mp4"), "holiday_clip.mp4");
    assert.equal(safeKeySegment("../../etc/passwd"), "passwd");
    assert.equal(safeKeySegment("C:\\Users\\me\\photo.jpg"), "photo.jpg");
    assert.equal(safeKeySegment(".hidden"), "hidden");
    assert.equal(safeKeySegment("..."), "file");
    assert.equal(safeKeySegment(""), "file");
    assert.equal(safeKeySegment("a  &  b.png"), "a_b.png");
    // NFD (an e and a combining accent) comes out as the one NFC letter.
    assert.equal(safeKeySegment("cafe\u0301.jpg"), "caf\u00e9.jpg");
    // Too long: the end is kept, extension and all.
    const long = `${"y".repeat(300)}.webp`;
    assert.equal(safeKeySegment(long), long.slice(-200));
    assert.equal(safeKeySegment(`${"y".repeat(201)}`), "y".repeat(200));
  });

  it("are always valid keys", () => {
    for (const name of ["thumb.jpg", "../x", "\u0000bad", " ", "a/b", "\\\\server\\share"]) {
      assert.doesNotThrow(() => assertValidKey(`jobs/j/${safeKeySegment(name)}`));
    }
  });
});
