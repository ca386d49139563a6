import { strict as assert } from "node:assert";
import { describe, it } from "node:test";
import { newJobId } from "../../src/util/ids.js";

describe("job ids", () => {
  it("sort in the order they were made, within one millisecond too, and never repeat", () => {
    const made = [
      ...Array.from({ length: 500 }, () => newJobId(1_800_000_000_000)),
      ...Array.from({ length: 500 }, () => newJobId(1_800_000_000_001)),
    ];
    assert.deepEqual([...made].sort(), made);
    assert.equal(new Set(made).size, made.length);
    for (const id of made) assert.match(id, /^job_[0-9a-hjkmnp-tv-z]{26}$/);
  });

  it("end with random characters that differ from id to id, past many refills of the random pool", () => {
    const randomParts = Array.from({ length: 2_000 }, () => newJobId().slice(-13));
    assert.equal(new Set(randomParts).size, randomParts.length);
    // Every character of the alphabet turns up: the bytes are spread over all of it.
    assert.equal(new Set(randomParts.join("")).size, 32);
  });

  it("start with the time, so that a later millisecond sorts after every id of an earlier one", () => {
    const earlier = newJobId(1_800_000_000_000);
    const later = newJobId(1_800_000_000_001);
    assert.ok(later > earlier);
    // 1,800,000,000,000 in Crockford base32, then the first sequence number of that millisecond.
    assert.equal(earlier.slice(0, 17), "job_01mcc5rm00000");
  });
});
