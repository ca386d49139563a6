import { closeSync, fsync, mkdirSync, openSync, renameSync } from "node:fs";
import { mkdir, mkdtemp, open } from "node:fs/promises";
import { availableParallelism } from "node:os";
import { dirname, join } from "node:path";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { pino } from "pino";
import sharp from "sharp";
import { openSqliteBackend } from "../src/backend/sqlite/sqlite-backend.js";
import { Engine } from "../src/engine/engine.js";
import { loadPipelineFile } from "../src/pipeline/load-pipelines.js";
import { builtinCatalog } from "../src/steps/builtin-steps.js";
import { createLocalBlobStore } from "../src/storage/local/local-blob-store.js";
import { Worker } from "../src/worker/worker.js";
import { untilFinished } from "./until-finished.js";

/** Compiled to dist/bench: the bundled pipelines are two levels up. */
const thumbnailPipeline = fileURLToPath(new URL("../../pipelines/thumbnail.yaml", import.meta.url));

export interface ImageBenchResult {
  /** Each round's time for every thumbnail made by `pipelines/thumbnail.yaml` jobs on a real engine. */
  mediaflowMs: number[];
  /** Each round's time for the same thumbnails from a plain sharp loop at the same concurrency. */
  sharpMs: number[];
  /**
   * The same sharp loop, each thumbnail then stored as any store must before it reports it stored:
   * what mediaflow's durability alone costs, with no engine, database or event log around it.
   */
  durableSharpMs: number[];
}

/**
 * Thumbnails of `count` (default 200) 1920x1080 JPEGs, made with the same concurrency through mediaflow,
 * with sharp alone, and with sharp storing each thumbnail durably, `rounds` times, the three taking
 * turns. The difference between mediaflow and sharp alone is what the engine, the database and the blob
 * store cost; the durable loop splits off the part of it that any store pays. Two lanes per core: every
 * side reads and writes files between its CPU work, and with one lane per core the cores idle meanwhile
 * (measured: sharp alone 1.5-2.0 s with one lane per core, 1.3 s with two).
 *
 * All three first make `warmUp` (default 3,000) thumbnails of small photos, unreported, as a service
 * that has been running does: V8 compiles a function with its optimising compiler only once it has run
 * often enough, and the engine's functions run once or a few times per job, so in a new process it goes on
 * compiling them for thousands of jobs (measured with --trace-opt over 300 jobs: 34 compilations after
 * 100 jobs, 5 after 3,000; 1.1 ms less CPU per job). Then each round's own short warm-up loads libvips'
 * codecs for the large photos.
 */
export async function benchImages(options: {
  count?: number;
  dir: string;
  rounds: number;
  warmUp?: number;
}): Promise<ImageBenchResult> {
  const count = options.count ?? 200;
  const concurrency = 2 * availableParallelism();
  const inputs = await makePhotos(join(options.dir, "inputs"), count);
  const warmUp = options.warmUp ?? 3_000;
  if (warmUp > 0) {
    const small = await makePhotos(join(options.dir, "warm-up"), Math.min(warmUp, 50), smallSize);
    const warmInputs = Array.from({ length: warmUp }, (_, i) => small[i % small.length] as string);
    await timeMediaflow(await mkdtemp(join(options.dir, "mediaflow-")), warmInputs, concurrency);
    await timeSharp(await mkdtemp(join(options.dir, "sharp-")), warmInputs, concurrency);
    await timeSharp(await mkdtemp(join(options.dir, "durable-")), warmInputs, concurrency, storeDurably);
  }
  const result: ImageBenchResult = { mediaflowMs: [], sharpMs: [], durableSharpMs: [] };
  for (let round = 0; round < options.rounds; round++) {
    result.mediaflowMs.push(
      await timeMediaflow(await mkdtemp(join(options.dir, "mediaflow-")), inputs, concurrency),
    );
    result.sharpMs.push(await timeSharp(await mkdtemp(join(options.dir, "sharp-")), inputs, concurrency));
    result.durableSharpMs.push(
      await timeSharp(await mkdtemp(join(options.dir, "durable-")), inputs, concurrency, storeDurably),
    );
  }
  return result;
}

/** The photos whose thumbnails are timed. */
const photoSize = { width: 1920, height: 1080 };
/** Warm-up photos: the same code runs for any size, and small ones make thousands of jobs quick. */
const smallSize = { width: 320, height: 180 };

/** Photos with detail in them (noise over a gradient), so the encoder has real work to do. */
async function makePhotos(
  dir: string,
  count: number,
  size: { width: number; height: number } = photoSize,
): Promise<string[]> {
  await mkdir(dir, { recursive: true });
  const base = await sharp({
    create: {
      ...size,
      channels: 3,
      background: "#4a7",
      noise: { type: "gaussian", mean: 128, sigma: 40 },
    },
  })
    .jpeg({ quality: 85 })
    .toBuffer();
  const paths = Array.from({ length: count }, (_, i) => join(dir, `photo-${i}.jpg`));
  await inPool(paths, availableParallelism(), async (path) => {
    await sharp(base).toFile(path);
    // On disk before anything is timed: otherwise the kernel writes these hundreds of megabytes back
    // during the first measurement (mediaflow's), whose own fsyncs then queue behind them.
    const handle = await open(path, "r");
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  });
  return paths;
}

async function timeMediaflow(dir: string, inputs: string[], concurrency: number): Promise<number> {
  const catalog = builtinCatalog();
  const pipeline = await loadPipelineFile(thumbnailPipeline, catalog);
  const backend = await openSqliteBackend(join(dir, "mediaflow.db"));
  const storage = await createLocalBlobStore(join(dir, "blobs"));
  const engine = new Engine({ backend, catalog });
  const worker = new Worker({
    engine,
    catalog,
    storage,
    log: pino({ level: "silent" }),
    concurrency,
    leaseMs: 30_000,
    pollMs: 200,
    shutdownGraceMs: 10_000,
    tmpDir: dir,
    defaultTimeoutMs: 60_000,
  });
  try {
    const stored: { key: string; filename: string; bytes: number }[] = [];
    // A few at a time: thousands of warm-up photos at once would open thousands of files at once.
    await inPool(inputs, 16, async (path, i) => {
      const key = `inputs/bench/${i}/photo.jpg`;
      const info = await storage.putFile(key, path);
      stored[i] = { key, filename: "photo.jpg", bytes: info.bytes };
    });
    // A running service: the worker is started and its code warm before the timed jobs arrive.
    worker.start();
    const warmUp = stored.slice(0, warmUpImages(concurrency));
    const warm = untilFinished(engine, warmUp.length);
    await Promise.all(warmUp.map((input) => engine.createJob({ pipeline, input })));
    await warm;
    const finished = untilFinished(engine, inputs.length);
    const start = performance.now();
    await Promise.all(stored.map((input) => engine.createJob({ pipeline, input })));
    await finished;
    return performance.now() - start;
  } finally {
    await worker.stop();
    await storage.close();
    await backend.close();
  }
}

/**
 * The thumbnail pipeline's resize, done directly: same options, same encoder settings. With `store`,
 * each thumbnail is written to a temp name and `store` gives it its final one.
 */
async function timeSharp(
  dir: string,
  inputs: string[],
  concurrency: number,
  store?: (dir: string, written: string, name: string) => Promise<void>,
): Promise<number> {
  const thumbnail = async (path: string, name: string) => {
    const output = join(dir, store === undefined ? name : `.${name}.tmp`);
    await sharp(path, { limitInputPixels: 100_000_000, failOn: "error", sequentialRead: true })
      .autoOrient()
      .resize({ width: 100, height: 100, fit: "cover", withoutEnlargement: true })
      .jpeg({ quality: 80, mozjpeg: true })
      .toFile(output);
    await store?.(dir, output, name);
  };
  // The same warm-up as mediaflow's, so that neither side is timed while its code is still cold.
  await inPool(inputs.slice(0, warmUpImages(concurrency)), concurrency, (path, i) =>
    thumbnail(path, `warm-up-${i}.jpg`),
  );
  const start = performance.now();
  await inPool(inputs, concurrency, (path, i) => thumbnail(path, `thumb-${i}.jpg`));
  return performance.now() - start;
}

const fsyncDescriptor = promisify(fsync);

/**
 * What a store must do before it may report a file stored (mediaflow's local store does the same): the
 * bytes flushed, the file renamed into folders of its own (one per job and one per attempt, as
 * mediaflow's keys have), and every folder that gained an entry flushed, so that neither the bytes nor
 * the name can be lost in a power cut. The cheap calls are made directly and the flushes through libuv's
 * pool, as the store makes them.
 */
async function storeDurably(dir: string, written: string, name: string): Promise<void> {
  await fsyncPath(written);
  const jobs = join(dir, "jobs");
  const attempt = join(jobs, name.replace(/\.jpg$/, ""), "thumb.t1");
  mkdirSync(jobs, { recursive: true });
  mkdirSync(dirname(attempt));
  mkdirSync(attempt);
  renameSync(written, join(attempt, "thumb-100x100.jpg"));
  await Promise.all([fsyncPath(jobs), fsyncPath(dirname(attempt)), fsyncPath(attempt)]);
}

async function fsyncPath(path: string): Promise<void> {
  const fd = openSync(path, "r");
  try {
    await fsyncDescriptor(fd);
  } finally {
    closeSync(fd);
  }
}

/** Two rounds of the pool: enough to load libvips' codecs and compile the hot paths, not enough to matter. */
function warmUpImages(concurrency: number): number {
  return 2 * concurrency;
}

async function inPool<T>(items: T[], size: number, work: (item: T, index: number) => Promise<unknown>) {
  let next = 0;
  const lane = async () => {
    while (next < items.length) {
      const index = next++;
      await work(items[index] as T, index);
    }
  };
  await Promise.all(Array.from({ length: Math.min(size, items.length) }, lane));
}
