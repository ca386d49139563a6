import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  isOnKeyframe,
  parseTimestamp,
  planCoverage,
  recordingFromKey,
  uncoveredDecision,
} from "../../src/steps/video/clip-plan.js";

const T0 = Date.UTC(2026, 10, 22, 18, 0, 0);
const s = (seconds: number): number => T0 + seconds * 1000;
const rec = (key: string, from: number, to: number) => ({ key, start: s(from), end: s(to) });

describe("planCoverage", () => {
  it("trims the first and last of two back-to-back recordings to the window", () => {
    const plan = planCoverage({ start: s(2.5), end: s(5.5) }, [rec("a", 0, 4), rec("b", 4, 8)]);
    assert.deepEqual(plan, {
      covered: true,
      trims: [
        { key: "a", from: 2.5, to: 4 },
        { key: "b", from: 0, to: 1.5 },
      ],
    });
  });

  it("uses one recording when it covers the whole window", () => {
    const plan = planCoverage({ start: s(1), end: s(3) }, [rec("b", 4, 8), rec("a", 0, 4)]);
    assert.deepEqual(plan, { covered: true, trims: [{ key: "a", from: 1, to: 3 }] });
  });

  it("takes overlapping recordings once, preferring the one that reaches furthest", () => {
    const plan = planCoverage({ start: s(1), end: s(9) }, [
      rec("a", 0, 5),
      rec("long", 2, 10),
      rec("b", 4, 6),
    ]);
    assert.deepEqual(plan, {
      covered: true,
      trims: [
        { key: "a", from: 1, to: 5 },
        { key: "long", from: 3, to: 7 },
      ],
    });
  });

  it("reports a gap between recordings", () => {
    const plan = planCoverage({ start: s(0), end: s(10) }, [rec("a", 0, 4), rec("b", 6, 10)]);
    assert.equal(plan.covered, false);
    assert.ok(!plan.covered);
    assert.deepEqual(plan.gaps, [{ start: s(4), end: s(6) }]);
  });

  it("reports the part after the latest recording as missing", () => {
    const plan = planCoverage({ start: s(2), end: s(12) }, [rec("a", 0, 4), rec("b", 4, 8)]);
    assert.ok(!plan.covered);
    assert.deepEqual(plan.gaps, [{ start: s(8), end: s(12) }]);
  });

  it("reports a window with no recordings at all as one gap", () => {
    const plan = planCoverage({ start: s(0), end: s(5) }, []);
    assert.ok(!plan.covered);
    assert.deepEqual(plan.gaps, [{ start: s(0), end: s(5) }]);
  });

  it("treats a gap shorter than a frame as rounding, not missing video", () => {
    const plan = planCoverage({ start: s(1), end: s(7) }, [rec("a", 0, 4), rec("b", 4.02, 8)]);
    assert.ok(plan.covered);
    assert.deepEqual(
      plan.trims.map((t) => t.key),
      ["a", "b"],
    );
  });
});

describe("uncoveredDecision", () => {
  const window = { start: s(0), end: s(10) };
  const day = 86_400_000;

  it("waits for a window that ended recently", () => {
    assert.equal(uncoveredDecision(window, { now: s(60), maxAgeMs: 7 * day }), "wait");
  });

  it("waits for a window that has not ended yet", () => {
    assert.equal(uncoveredDecision(window, { now: s(5), maxAgeMs: 7 * day }), "wait");
  });

  it("gives up on a window that ended longer ago than maxAge", () => {
    assert.equal(uncoveredDecision(window, { now: s(10) + 8 * day, maxAgeMs: 7 * day }), "out_of_range");
  });
});

describe("timestamps and recording names", () => {
  it("reads ISO 8601 with a zone and epoch milliseconds", () => {
    assert.equal(parseTimestamp("2026-11-22T18:00:00Z"), T0);
    assert.equal(parseTimestamp("2026-11-22T19:00:00+01:00"), T0);
    assert.equal(parseTimestamp(T0), T0);
    assert.equal(parseTimestamp(String(T0)), T0);
  });

  it("refuses a timestamp without a zone, which would depend on the worker's clock settings", () => {
    assert.equal(parseTimestamp("2026-11-22T18:00:00"), undefined);
    assert.equal(parseTimestamp("yesterday"), undefined);
  });

  it("takes a recording's span from its name", () => {
    assert.deepEqual(recordingFromKey(`tenants/t/cam/${T0}_${s(4)}.mp4`), {
      key: `tenants/t/cam/${T0}_${s(4)}.mp4`,
      start: T0,
      end: s(4),
    });
    assert.deepEqual(recordingFromKey("cam/2026-11-22T18:00:00Z_2026-11-22T18:00:04.5Z.mp4")?.end, s(4.5));
    assert.deepEqual(recordingFromKey("cam/2026-11-22T18-00-00Z_2026-11-22T18-00-04Z.mkv")?.end, s(4));
    assert.deepEqual(
      recordingFromKey("cam/2026-11-22T19-00-00+01-00_2026-11-22T19-00-04+01-00.mkv")?.start,
      T0,
    );
  });

  it("ignores keys that are not named like recordings", () => {
    assert.equal(recordingFromKey("cam/notes.txt"), undefined);
    assert.equal(recordingFromKey(`cam/${s(4)}_${T0}.mp4`), undefined, "ends before it starts");
  });

  it("finds a cut point on a keyframe within the tolerance", () => {
    assert.equal(isOnKeyframe(2.0, [0, 1.0, 2.0], 0.008), true);
    assert.equal(isOnKeyframe(2.5, [0, 1.0, 2.0], 0.008), false);
  });
});
