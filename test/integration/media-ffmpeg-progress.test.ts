import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  type FfmpegProgress,
  ProgressParser,
  parseProgress,
  progressLineHandler,
} from "../../src/media/ffmpeg-progress.js";

// Pure tests: no process is started. The samples were captured from Debian's ffmpeg 5.1 with
// `-progress pipe:1`, except where a comment says otherwise.

/** Encoding 1.5 s of testsrc2 to libx264, read in real time (-re): a video output. */
const VIDEO_SAMPLE = `frame=1
fps=0.00
stream_0_0_q=0.0
bitrate=N/A
total_size=N/A
out_time_us=0
out_time_ms=0
out_time=00:00:00.000000
dup_frames=0
drop_frames=0
speed=N/A
progress=continue
frame=26
fps=25.70
stream_0_0_q=21.0
bitrate=N/A
total_size=N/A
out_time_us=880000
out_time_ms=880000
out_time=00:00:00.880000
dup_frames=0
drop_frames=0
speed=0.87x
progress=continue
frame=38
fps=24.91
stream_0_0_q=-1.0
bitrate= 753.2kbits/s
total_size=190205
out_time_us=1520000
out_time_ms=1520000
out_time=00:00:01.520000
dup_frames=0
drop_frames=0
speed=0.996x
progress=end
`;

/** Encoding a 1 s sine to AAC: an audio output, so no frame or fps keys. */
const AUDIO_SAMPLE = `bitrate=N/A
total_size=N/A
out_time_us=0
out_time_ms=0
out_time=00:00:00.000000
dup_frames=0
drop_frames=0
speed=N/A
progress=continue
bitrate=N/A
total_size=N/A
out_time_us=1021678
out_time_ms=1021678
out_time=00:00:01.021678
dup_frames=0
drop_frames=0
speed=  34.6x
progress=end
`;

/** The first block before any timestamp, as ffmpeg 4.x–6.x print it (N/A, or the minimum int64). */
const UNKNOWN_TIME_SAMPLE = `frame=0
fps=0.0
out_time_us=N/A
out_time_ms=N/A
out_time=N/A
speed=N/A
progress=continue
frame=0
out_time_us=-9223372036854775807
out_time_ms=-9223372036854775807
out_time=-2562047788:00:54.775807
speed=N/A
progress=continue
`;

describe("ffmpeg progress parsing", () => {
  it("turns each block of a video run into an update", () => {
    const updates = parseProgress(VIDEO_SAMPLE, 1.5);
    assert.equal(updates.length, 3);
    assert.deepEqual(updates[0], {
      outTimeSeconds: 0,
      fraction: 0,
      speed: undefined,
      frame: 1,
      totalSizeBytes: undefined,
      done: false,
    } satisfies FfmpegProgress);
    assert.equal(updates[1]?.outTimeSeconds, 0.88);
    assert.ok(Math.abs((updates[1]?.fraction ?? 0) - 0.88 / 1.5) < 1e-9);
    assert.equal(updates[1]?.speed, 0.87);
    assert.equal(updates[1]?.frame, 26);
    assert.deepEqual(updates[2], {
      outTimeSeconds: 1.52,
      fraction: 1,
      speed: 0.996,
      frame: 38,
      totalSizeBytes: 190205,
      done: true,
    } satisfies FfmpegProgress);
  });

  it("clamps the fraction to [0, 1] when the output runs past the expected duration", () => {
    const [first, last] = parseProgress(AUDIO_SAMPLE, 0.5);
    assert.equal(first?.fraction, 0);
    assert.equal(last?.fraction, 1);
    const past = new ProgressParser(0.5);
    past.push("out_time_us=1021678");
    assert.equal(past.push("progress=continue")?.fraction, 1);
  });

  it("reads an audio run, which has no frame count, and a padded speed", () => {
    const updates = parseProgress(AUDIO_SAMPLE, 1);
    assert.equal(updates[1]?.frame, undefined);
    assert.equal(updates[1]?.speed, 34.6);
    assert.equal(updates[1]?.outTimeSeconds, 1.021678);
  });

  it("treats N/A and negative times as unknown", () => {
    const updates = parseProgress(UNKNOWN_TIME_SAMPLE, 10);
    assert.equal(updates.length, 2);
    for (const update of updates) {
      assert.equal(update.outTimeSeconds, undefined);
      assert.equal(update.fraction, undefined);
      assert.equal(update.speed, undefined);
    }
  });

  it("falls back to out_time_ms (microseconds, despite the name) and then to out_time", () => {
    const parser = new ProgressParser(4);
    parser.push("out_time_ms=2000000");
    assert.equal(parser.push("progress=continue")?.outTimeSeconds, 2);
    parser.push("out_time=00:01:03.500000");
    assert.equal(parser.push("progress=continue")?.outTimeSeconds, 63.5);
  });

  it("gives no fraction without an expected duration, except 1 at the end", () => {
    const updates = parseProgress(VIDEO_SAMPLE, undefined);
    assert.deepEqual(
      updates.map((update) => update.fraction),
      [undefined, undefined, 1],
    );
  });

  it("starts each block afresh, so a key from an earlier block does not leak", () => {
    const updates = parseProgress(
      "frame=5\nspeed=2x\nprogress=continue\nout_time_us=1000000\nprogress=continue\n",
      2,
    );
    assert.equal(updates[1]?.frame, undefined);
    assert.equal(updates[1]?.speed, undefined);
    assert.equal(updates[1]?.fraction, 0.5);
  });

  it("the line handler calls back once per block and ignores stray lines", () => {
    const seen: FfmpegProgress[] = [];
    const handle = progressLineHandler(1.5, (update) => seen.push(update));
    for (const line of ["", "garbage", "=x", ...VIDEO_SAMPLE.split("\n")]) handle(line);
    assert.equal(seen.length, 3);
    assert.equal(seen.at(-1)?.done, true);
  });
});
