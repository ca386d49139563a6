import { execFile } from "node:child_process";
import { mkdtemp } from "node:fs/promises";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { promisify } from "node:util";
import { pino } from "pino";
import { openSqliteBackend } from "../src/backend/sqlite/sqlite-backend.js";
import { Engine } from "../src/engine/engine.js";
import { parsePipeline } from "../src/pipeline/parse-pipeline.js";
import { checkMediaTools } from "../src/runtime/check-media-tools.js";
import { builtinCatalog } from "../src/steps/builtin-steps.js";
import { createLocalBlobStore } from "../src/storage/local/local-blob-store.js";
import { Worker } from "../src/worker/worker.js";
import { untilFinished } from "./until-finished.js";

const run = promisify(execFile);

/** The ladder both sides encode: Apple-style 1080p/720p/360p bit rates. */
const RUNGS = [
  { height: 1080, bitrate: 5_000_000 },
  { height: 720, bitrate: 2_800_000 },
  { height: 360, bitrate: 800_000 },
] as const;

export interface VideoBenchResult {
  /** Each round: `video.ladder` (one decode) as a job on a real engine and worker, creation to success. */
  mediaflowMs: number[];
  /** Each round: the same renditions from one hand-written ffmpeg command (decode once, split, scale). */
  singleCommandMs: number[];
  /** Each round: three ffmpeg runs one after the other, each decoding the source for its own rung. */
  separateRunsMs: number[];
}

/**
 * A 3-rung ladder of a `seconds`-long 1080p clip, encoded three ways with the same encoder settings
 * (libx264 at `preset`, 2 s keyframes, AAC): through mediaflow, as the best single ffmpeg command, and as
 * three separate ffmpeg runs; `rounds` times, the three taking turns.
 */
export async function benchVideoLadder(options: {
  dir: string;
  seconds: number;
  preset: string;
  rounds: number;
}): Promise<VideoBenchResult> {
  const source = join(options.dir, "source.mp4");
  await ffmpeg([
    "-f",
    "lavfi",
    "-i",
    `testsrc2=size=1920x1080:rate=30:duration=${options.seconds}`,
    "-f",
    "lavfi",
    "-i",
    `sine=frequency=440:sample_rate=48000:duration=${options.seconds}`,
    "-c:v",
    "libx264",
    "-preset",
    "veryfast",
    "-crf",
    "18",
    "-pix_fmt",
    "yuv420p",
    "-c:a",
    "aac",
    source,
  ]);
  const result: VideoBenchResult = { mediaflowMs: [], singleCommandMs: [], separateRunsMs: [] };
  const sides: Array<() => Promise<void>> = [
    async () => {
      const dir = await mkdtemp(join(options.dir, "mediaflow-"));
      result.mediaflowMs.push(await timeMediaflow(dir, source, options.preset));
    },
    async () => {
      result.singleCommandMs.push(await timed(() => ffmpeg(singleCommand(source, options))));
    },
    async () => {
      result.separateRunsMs.push(
        await timed(async () => {
          for (const rung of RUNGS) await ffmpeg(oneRung(source, rung, options));
        }),
      );
    },
  ];
  // Each round starts with the next side, so that no side is always the one run first (or after which).
  for (let round = 0; round < options.rounds; round++) {
    for (let turn = 0; turn < sides.length; turn++) await sides[(round + turn) % sides.length]?.();
  }
  return result;
}

/**
 * The reference: what a person who knows ffmpeg would type for a one-decode ladder. Each rung is scaled
 * from the one above it (the rungs are listed largest first), which reads fewer pixels than scaling every
 * rung from the source, and the audio is encoded once and written into every file by the tee muxer.
 */
function singleCommand(source: string, options: { dir: string; preset: string }): string[] {
  const chains = RUNGS.map((rung, i) => {
    const input = i === 0 ? "[0:v]" : `[c${i}]`;
    const split = i < RUNGS.length - 1 ? `,split=2[v${i}][c${i + 1}]` : `[v${i}]`;
    return `${input}scale=-2:${rung.height},format=yuv420p${split}`;
  });
  const args = ["-i", source, "-filter_complex", chains.join(";")];
  args.push(...RUNGS.flatMap((_, i) => ["-map", `[v${i}]`]), "-map", "0:a");
  args.push(...RUNGS.flatMap((rung, i) => videoArgs(rung, options.preset, `v:${i}`)));
  args.push(...AUDIO_ARGS, "-flags:v", "+global_header", "-flags:a", "+global_header", "-f", "tee");
  const files = RUNGS.map(
    (rung, i) =>
      `[f=mp4:movflags=+faststart:select=\\'v:${i},a\\']${join(options.dir, `single-${rung.height}.mp4`)}`,
  );
  args.push(files.join("|"));
  return args;
}

function oneRung(
  source: string,
  rung: (typeof RUNGS)[number],
  options: { dir: string; preset: string },
): string[] {
  return [
    "-i",
    source,
    "-vf",
    `scale=-2:${rung.height},format=yuv420p`,
    "-map",
    "0:v",
    "-map",
    "0:a",
    ...encodeArgs(rung, options.preset),
    join(options.dir, `separate-${rung.height}.mp4`),
  ];
}

function encodeArgs(rung: (typeof RUNGS)[number], preset: string): string[] {
  return [...videoArgs(rung, preset, "v"), ...AUDIO_ARGS, "-movflags", "+faststart"];
}

function videoArgs(rung: (typeof RUNGS)[number], preset: string, stream: string): string[] {
  const maxrate = Math.round(rung.bitrate * 1.5);
  return [
    `-c:${stream}`,
    "libx264",
    `-preset:${stream}`,
    preset,
    `-b:${stream}`,
    String(rung.bitrate),
    `-maxrate:${stream}`,
    String(maxrate),
    `-bufsize:${stream}`,
    String(maxrate * 2),
    `-force_key_frames:${stream}`,
    "expr:gte(t,n_forced*2)",
  ];
}

const AUDIO_ARGS = ["-c:a", "aac", "-b:a", "128000"];

async function timeMediaflow(dir: string, source: string, preset: string): Promise<number> {
  const catalog = builtinCatalog();
  const pipeline = parsePipeline(
    JSON.stringify({
      name: "bench-ladder",
      steps: {
        ladder: { use: "video.ladder", with: { preset, renditions: RUNGS.map((rung) => ({ ...rung })) } },
      },
    }),
    "bench-ladder.json",
    catalog,
  );
  const backend = await openSqliteBackend(join(dir, "mediaflow.db"));
  const storage = await createLocalBlobStore(join(dir, "blobs"));
  const engine = new Engine({ backend, catalog });
  const log = pino({ level: "silent" });
  const worker = new Worker({
    engine,
    catalog,
    storage,
    log,
    concurrency: 1,
    leaseMs: 30_000,
    pollMs: 50,
    shutdownGraceMs: 10_000,
    tmpDir: dir,
    defaultTimeoutMs: 60 * 60_000,
  });
  try {
    const info = await storage.putFile("inputs/bench/source.mp4", source);
    // As `mediaflow worker` does before it takes work: find the tools and their encoders once.
    await checkMediaTools(log);
    worker.start();
    // Told by the engine's own notification, as a service would be: polling here would take CPU from ffmpeg.
    const finished = untilFinished(engine, 1);
    const start = performance.now();
    await engine.createJob({
      pipeline,
      input: { key: "inputs/bench/source.mp4", filename: "source.mp4", bytes: info.bytes },
    });
    await finished;
    return performance.now() - start;
  } finally {
    await worker.stop();
    await storage.close();
    await backend.close();
  }
}

async function timed(work: () => Promise<unknown>): Promise<number> {
  const start = performance.now();
  await work();
  return performance.now() - start;
}

async function ffmpeg(args: string[]): Promise<void> {
  await run("ffmpeg", ["-hide_banner", "-nostdin", "-loglevel", "error", "-y", ...args], {
    maxBuffer: 16 * 1024 * 1024,
  });
}
