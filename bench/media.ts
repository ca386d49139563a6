/**
 * `npm run bench:media`: mediaflow's media pipelines beside the raw tools doing the same work, in one
 * run. Options: --images N (default 200), --seconds S (default 20), --preset P (default veryfast),
 * --rounds R (default 1): each measurement R times, the sides taking turns, and the fastest of each side
 * reported (on a busy machine the fastest run is the one least disturbed), with every round listed;
 * --warm-up N (default 3000): small thumbnails each side makes, unreported, before the first round.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { machineFacts, renderTable } from "./harness.js";
import { benchImages } from "./media-images.js";
import { benchVideoLadder } from "./media-video.js";

const { values } = parseArgs({
  options: {
    images: { type: "string", default: "200" },
    seconds: { type: "string", default: "20" },
    preset: { type: "string", default: "veryfast" },
    rounds: { type: "string", default: "1" },
    "warm-up": { type: "string", default: "3000" },
  },
});
const rounds = Number(values.rounds);
if (!Number.isInteger(rounds) || rounds < 1) throw new Error(`--rounds must be a positive integer`);
const warmUp = Number(values["warm-up"]);
if (!Number.isInteger(warmUp) || warmUp < 0) throw new Error(`--warm-up must be a whole number`);

const dir = mkdtempSync(join(tmpdir(), "mediaflow-bench-media-"));
try {
  console.log(machineFacts(new Date()).join("\n"));
  const images = await benchImages({ count: Number(values.images), dir, rounds, warmUp });
  const video = await benchVideoLadder({
    dir,
    seconds: Number(values.seconds),
    preset: values.preset,
    rounds,
  });
  const best = (samples: number[]) => Math.min(...samples);
  const seconds = (samples: number[]) => `${(best(samples) / 1000).toFixed(2)} s`;
  const ratio = (a: number[], b: number[]) => `${(best(a) / best(b)).toFixed(2)}x`;
  console.log(
    `\n${renderTable(
      [
        { title: "work", align: "left" },
        { title: "mediaflow", align: "right" },
        { title: "reference", align: "right" },
        { title: "reference is", align: "left" },
        { title: "ratio", align: "right" },
        { title: "target", align: "left" },
      ],
      [
        [
          `${values.images} thumbnails of 1920x1080 JPEGs`,
          seconds(images.mediaflowMs),
          seconds(images.sharpMs),
          "a plain sharp loop",
          ratio(images.mediaflowMs, images.sharpMs),
          "<= 1.10x",
        ],
        [
          "the same, each thumbnail stored durably",
          seconds(images.mediaflowMs),
          seconds(images.durableSharpMs),
          "sharp, then fsync, rename, folders fsynced",
          ratio(images.mediaflowMs, images.durableSharpMs),
          "",
        ],
        [
          `3-rung ladder, ${values.seconds} s of 1080p (${values.preset})`,
          seconds(video.mediaflowMs),
          seconds(video.singleCommandMs),
          "the best single ffmpeg command",
          ratio(video.mediaflowMs, video.singleCommandMs),
          "<= 1.05x",
        ],
        [
          // mediaflow's ladder is the one-decode ladder the target speaks of; the single command's own
          // figure against three runs is in the rounds listed below.
          "one-decode ladder vs three encodes",
          seconds(video.mediaflowMs),
          seconds(video.separateRunsMs),
          "three separate ffmpeg runs",
          ratio(video.separateRunsMs, video.mediaflowMs),
          ">= 1.30x faster",
        ],
      ],
    )}`,
  );
  console.log(
    `\nthe sharp loop storing each thumbnail durably against the plain loop: ${ratio(images.durableSharpMs, images.sharpMs)}`,
  );
  console.log(
    `the best single ffmpeg command against three separate runs: ${ratio(video.separateRunsMs, video.singleCommandMs)} faster`,
  );
  if (rounds > 1) {
    const list = (samples: number[]) => samples.map((ms) => (ms / 1000).toFixed(2)).join(" / ");
    console.log(`\nevery round, seconds (the table shows the fastest of each):`);
    console.log(`  thumbnails, mediaflow: ${list(images.mediaflowMs)}`);
    console.log(`  thumbnails, sharp: ${list(images.sharpMs)}`);
    console.log(`  thumbnails, sharp stored durably: ${list(images.durableSharpMs)}`);
    console.log(`  ladder, mediaflow: ${list(video.mediaflowMs)}`);
    console.log(`  ladder, single ffmpeg command: ${list(video.singleCommandMs)}`);
    console.log(`  ladder, three ffmpeg runs: ${list(video.separateRunsMs)}`);
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
