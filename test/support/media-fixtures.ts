import { execFile } from "node:child_process";
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { promisify } from "node:util";
import sharp from "sharp";
import type { JobProjection } from "../../src/engine/projection.js";
import { parsePipeline } from "../../src/pipeline/parse-pipeline.js";
import type { PipelineSpec } from "../../src/pipeline/types.js";
import { builtinCatalog } from "../../src/steps/builtin-steps.js";
import type { StepOutput } from "../../src/steps/step-type.js";
import type { WorkerOptions } from "../../src/worker/worker.js";
import { type EngineFixture, openEngineFixture, waitForJob } from "./engine-fixture.js";

const run = promisify(execFile);

/**
 * Media the tests make themselves (ffmpeg's lavfi sources, sharp), end-to-end jobs over the built-in
 * steps, and ffprobe to check what came out. lavfi is fine here: the test, not a user, picks the input.
 */

export interface VideoSpec {
  width?: number;
  height?: number;
  seconds?: number;
  fps?: number;
  /** A 440 Hz tone beside the picture; default true. */
  audio?: boolean;
  /** Extra output options, e.g. ["-c:v", "mpeg2video"] for an MXF; default H.264 + AAC. */
  codecArgs?: string[];
  /** Output container when the extension does not say it (e.g. "mxf"). */
  format?: string;
}

/** Writes a test video (testsrc2 + sine) to `path`. */
export async function makeVideo(path: string, spec: VideoSpec = {}): Promise<string> {
  const { width = 320, height = 180, seconds = 2, fps = 25, audio = true } = spec;
  const inputs = ["-f", "lavfi", "-i", `testsrc2=size=${width}x${height}:rate=${fps}:duration=${seconds}`];
  if (audio) inputs.push("-f", "lavfi", "-i", `sine=frequency=440:sample_rate=48000:duration=${seconds}`);
  const codec = spec.codecArgs ?? [
    "-c:v",
    "libx264",
    "-preset",
    "ultrafast",
    "-pix_fmt",
    "yuv420p",
    ...(audio ? ["-c:a", "aac"] : []),
  ];
  await ffmpeg([...inputs, ...codec, ...(spec.format === undefined ? [] : ["-f", spec.format]), path]);
  return path;
}

/** Writes a test picture (a gradient with a shape, so resizing has something to keep) with sharp. */
export async function makeImage(
  path: string,
  spec: { width?: number; height?: number; format?: "jpeg" | "png" | "webp" } = {},
): Promise<string> {
  const { width = 640, height = 480, format = "jpeg" } = spec;
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">
    <defs><linearGradient id="g"><stop offset="0" stop-color="#1e88e5"/><stop offset="1" stop-color="#f4511e"/></linearGradient></defs>
    <rect width="100%" height="100%" fill="url(#g)"/><circle cx="${width / 3}" cy="${height / 2}" r="${Math.min(width, height) / 4}" fill="#fff"/>
  </svg>`;
  await sharp(Buffer.from(svg)).toFormat(format).toFile(path);
  return path;
}

/** Runs ffmpeg for a test fixture. */
export async function ffmpeg(args: string[]): Promise<void> {
  await run("ffmpeg", ["-hide_banner", "-nostdin", "-loglevel", "error", "-y", ...args]);
}

export interface ProbedStream {
  codec_type: string;
  codec_name: string;
  width?: number;
  height?: number;
  avg_frame_rate?: string;
  channels?: number;
  sample_rate?: string;
}

export interface Probed {
  format: { format_name: string; duration?: string };
  streams: ProbedStream[];
}

/** ffprobe's view of a file that a step made, for checking dimensions, durations and codecs. */
export async function ffprobe(path: string): Promise<Probed> {
  const { stdout } = await run("ffprobe", [
    "-v",
    "error",
    "-print_format",
    "json",
    "-show_format",
    "-show_streams",
    path,
  ]);
  return JSON.parse(stdout) as Probed;
}

export function videoStream(probed: Probed): ProbedStream {
  const stream = probed.streams.find((s) => s.codec_type === "video");
  if (stream === undefined) throw new Error("no video stream");
  return stream;
}

export function durationOf(probed: Probed): number {
  return Number(probed.format.duration);
}

/** An engine on a fresh SQLite file and local store, with the built-in steps, in a new temp directory. */
export async function openMediaFixture(prefix = "mediaflow-media-"): Promise<EngineFixture> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  return openEngineFixture(dir, builtinCatalog());
}

export function mediaPipeline(yaml: string): PipelineSpec {
  return parsePipeline(yaml, "test.yaml", builtinCatalog());
}

export interface JobRun {
  state: JobProjection;
  /** A local path for an output of a step: `output("thumb", "thumb.jpg")`, or the step's first. */
  output(step: string, name?: string): string;
  outputs(step: string): StepOutput[];
}

/**
 * Stores `inputPath` as the job's input, runs the pipeline on a worker until the job finishes, and gives
 * access to the outputs as local files.
 */
export async function runMediaJob(
  fixture: EngineFixture,
  pipeline: PipelineSpec,
  inputPath: string | null,
  options: {
    params?: Record<string, string | number | boolean>;
    worker?: Partial<WorkerOptions>;
    timeoutMs?: number;
  } = {},
): Promise<JobRun> {
  let input = null;
  if (inputPath !== null) {
    const filename = basename(inputPath);
    const key = `inputs/test/${Date.now()}-${Math.random().toString(36).slice(2)}/${filename}`;
    const info = await fixture.storage.putFile(key, inputPath);
    input = { key, filename, bytes: info.bytes };
  }
  const { job } = await fixture.engine.createJob({ pipeline, input, params: options.params ?? {} });
  const worker = fixture.worker(options.worker);
  worker.start();
  try {
    const state = await waitForJob(fixture.engine, job.job.id, options.timeoutMs ?? 60_000);
    const outputs = (step: string): StepOutput[] => {
      // A map step's result already holds its parts' outputs, in part order.
      return state.steps[step]?.result?.outputs ?? [];
    };
    return {
      state,
      outputs,
      output(step, name) {
        const list = outputs(step);
        const found = name === undefined ? list[0] : list.find((o) => o.name === name);
        if (found === undefined) {
          throw new Error(`step ${step} has no output ${name ?? ""}: ${list.map((o) => o.name).join(", ")}`);
        }
        const path = fixture.storage.localPath(found.key);
        if (path === undefined) throw new Error("the fixture's store has no local paths");
        return path;
      },
    };
  } finally {
    await worker.stop();
  }
}
