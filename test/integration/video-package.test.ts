import { strict as assert } from "node:assert";
import { execFile } from "node:child_process";
import { mkdtemp, readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, posix } from "node:path";
import { after, before, describe, it } from "node:test";
import { promisify } from "node:util";
import { z } from "zod";
import type { JobProjection } from "../../src/engine/projection.js";
import { builtinCatalog } from "../../src/steps/builtin-steps.js";
import { makeCatalog } from "../../src/steps/catalog.js";
import { defineStep, type StepOutput } from "../../src/steps/step-type.js";
import { type EngineFixture, openEngineFixture, waitForJob } from "../support/engine-fixture.js";
import { makeVideo } from "../support/media-fixtures.js";
import { pipeline } from "../support/test-pipelines.js";

const run = promisify(execFile);

/** Stands in for an encoding step: saves a rendition the test made as its output, with the usual meta. */
const renditionStep = defineStep({
  type: "test.rendition",
  description: "saves a local MP4 as this step's output",
  params: z.strictObject({ path: z.string(), width: z.number(), height: z.number() }),
  async run(ctx) {
    const { path, width, height } = ctx.params;
    const output = await ctx.saveOutput(`video-${height}p.mp4`, path, {
      meta: { width, height, codec: "h264" },
    });
    return { outputs: [output] };
  },
});

const catalog = makeCatalog([...builtinCatalog().values(), renditionStep]);

/** H.264 + AAC with a keyframe every 2 s at the same instants, as the encoding steps make them. */
async function makeRendition(path: string, width: number, height: number): Promise<string> {
  return makeVideo(path, {
    width,
    height,
    seconds: 6,
    codecArgs: [
      "-c:v",
      "libx264",
      "-preset",
      "ultrafast",
      "-pix_fmt",
      "yuv420p",
      "-force_key_frames",
      "expr:gte(t,n_forced*2)",
      "-c:a",
      "aac",
    ],
  });
}

let fixture: EngineFixture;
let high: string;
let low: string;

before(async () => {
  const dir = await mkdtemp(join(tmpdir(), "mediaflow-package-"));
  fixture = await openEngineFixture(dir, catalog);
  [high, low] = await Promise.all([
    makeRendition(join(dir, "r180.mp4"), 320, 180),
    makeRendition(join(dir, "r90.mp4"), 160, 90),
  ]);
});

after(async () => {
  await fixture.close();
});

type Steps = Parameters<typeof pipeline>[0];

function abrPipeline(packageWith: Record<string, string | number | boolean | string[]> = {}): Steps {
  return {
    hd: { use: "test.rendition", with: { path: high, width: 320, height: 180 } },
    sd: { use: "test.rendition", with: { path: low, width: 160, height: 90 } },
    pack: { use: "video.package", needs: ["hd", "sd"], with: packageWith },
  };
}

async function runJob(steps: Steps): Promise<JobProjection> {
  const { job } = await fixture.engine.createJob({ pipeline: pipeline(steps), input: null });
  const worker = fixture.worker();
  worker.start();
  try {
    return await waitForJob(fixture.engine, job.job.id, 90_000);
  } finally {
    await worker.stop();
  }
}

function outputsOf(state: JobProjection, step: string): StepOutput[] {
  return state.steps[step]?.result?.outputs ?? [];
}

function localPath(output: StepOutput): string {
  const path = fixture.storage.localPath(output.key);
  assert.ok(path !== undefined, "the local store has paths");
  return path;
}

async function textOf(outputs: StepOutput[], name: string): Promise<string> {
  const output = outputs.find((o) => o.name === name);
  assert.ok(output !== undefined, `an output named ${name} among ${outputs.map((o) => o.name).join(", ")}`);
  return readFile(localPath(output), "utf8");
}

/** `KEY=value,KEY="a,b"` → { KEY: "value", ... } */
function attributes(line: string): Record<string, string> {
  const list = line.slice(line.indexOf(":") + 1);
  const result: Record<string, string> = {};
  for (const match of list.matchAll(/([A-Z-]+)=("[^"]*"|[^,]*)/g)) {
    result[match[1] ?? ""] = (match[2] ?? "").replace(/^"|"$/g, "");
  }
  return result;
}

/** Every URI a playlist names: media lines and URI="..." attributes. */
function referencedUris(playlist: string): string[] {
  const uris: string[] = [];
  for (const line of playlist.split("\n").map((l) => l.trim())) {
    if (line === "") continue;
    if (!line.startsWith("#")) uris.push(line);
    const attribute = /URI="([^"]+)"/.exec(line);
    if (attribute?.[1] !== undefined) uris.push(attribute[1]);
  }
  return uris;
}

/** Checks the master and each media playlist it names resolve, relative to the master, to stored outputs. */
async function assertHlsResolves(outputs: StepOutput[]): Promise<string> {
  const names = new Set(outputs.map((o) => o.name));
  const master = await textOf(outputs, "hls/master.m3u8");
  for (const uri of referencedUris(master)) {
    const playlistName = posix.join("hls", uri);
    assert.ok(names.has(playlistName), `${playlistName} is stored`);
    const media = await textOf(outputs, playlistName);
    const segments = referencedUris(media);
    assert.ok(segments.length >= 2, `${playlistName} lists its segments`);
    for (const segment of segments) {
      const segmentName = posix.join(posix.dirname(playlistName), segment);
      assert.ok(names.has(segmentName), `${segmentName} is stored`);
    }
  }
  return master;
}

function streamInfs(master: string): Record<string, string>[] {
  return master
    .split("\n")
    .filter((l) => l.startsWith("#EXT-X-STREAM-INF:"))
    .map(attributes);
}

async function ffprobeStreams(
  path: string,
): Promise<{ codec_type: string; width?: number; height?: number }[]> {
  const { stdout } = await run("ffprobe", [
    "-v",
    "error",
    "-protocol_whitelist",
    "file",
    "-print_format",
    "json",
    "-show_streams",
    path,
  ]);
  return (JSON.parse(stdout) as { streams: { codec_type: string; width?: number; height?: number }[] })
    .streams;
}

describe("video.package", () => {
  let cmaf: JobProjection;

  before(async () => {
    cmaf = await runJob(abrPipeline());
  });

  it("writes a master playlist with bandwidth, resolution and codecs for each rendition", async () => {
    assert.equal(cmaf.job.status, "succeeded", JSON.stringify(cmaf.steps.pack?.error));
    const outputs = outputsOf(cmaf, "pack");
    assert.equal(outputs[0]?.name, "hls/master.m3u8");
    const master = await assertHlsResolves(outputs);
    const variants = streamInfs(master);
    assert.deepEqual(
      variants.map((v) => v.RESOLUTION),
      ["320x180", "160x90"],
    );
    for (const variant of variants) {
      assert.ok(Number(variant.BANDWIDTH) > Number(variant["AVERAGE-BANDWIDTH"]) * 0.5);
      assert.ok(Number(variant.BANDWIDTH) > 50_000, `plausible bandwidth ${variant.BANDWIDTH}`);
      assert.match(variant.CODECS ?? "", /^avc1\.[0-9a-f]{6},mp4a\.40\.2$/);
      assert.equal(variant.AUDIO, "audio");
    }
    const [first, second] = variants;
    assert.ok(Number(first?.BANDWIDTH) > Number(second?.BANDWIDTH), "the larger rendition needs more");
    const media = master.split("\n").filter((l) => l.startsWith("#EXT-X-MEDIA:"));
    assert.equal(media.length, 1);
    assert.equal(attributes(media[0] ?? "").TYPE, "AUDIO");
  });

  it("shares one set of CMAF segments between the HLS playlists and the MPD", async () => {
    const outputs = outputsOf(cmaf, "pack");
    assert.deepEqual(cmaf.steps.pack?.result?.data, {
      formats: ["hls", "dash"],
      cmaf: true,
      audio: "separate",
      segmentDuration: 4,
      renditions: [
        { width: 320, height: 180, codec: "avc1.42c00c" },
        { width: 160, height: 90, codec: "avc1.42c00b" },
      ],
      master: "hls/master.m3u8",
      manifest: "dash/manifest.mpd",
    });
    const names = new Set(outputs.map((o) => o.name));
    const mpd = await textOf(outputs, "dash/manifest.mpd");
    assert.match(mpd, /^<\?xml/);
    assert.match(mpd, /<MPD[\s>]/);
    const base = /<BaseURL>([^<]+)<\/BaseURL>/.exec(mpd)?.[1] ?? "";
    const representations = [...mpd.matchAll(/<Representation id="(\d+)"[^>]*>/g)];
    assert.equal(representations.length, 3, "two video renditions and one audio");
    assert.equal((mpd.match(/<AdaptationSet /g) ?? []).length, 2);
    for (const [, id] of representations) {
      assert.ok(names.has(posix.join("dash", base, `init-${id}.m4s`)), `init segment of ${id}`);
      for (const n of [1, 2]) {
        const segment = posix.join("dash", base, `seg-${id}-${String(n).padStart(5, "0")}.m4s`);
        assert.ok(names.has(segment), `${segment} is stored`);
      }
    }
    assert.ok(![...names].some((n) => n.startsWith("dash/") && n.endsWith(".m4s")), "no second copy");
  });

  it("makes a package ffprobe can read back through its playlists", async () => {
    const outputs = outputsOf(cmaf, "pack");
    const master = outputs.find((o) => o.name === "hls/master.m3u8");
    assert.ok(master !== undefined);
    const streams = await ffprobeStreams(localPath(master));
    const sizes = new Set(
      streams.filter((s) => s.codec_type === "video").map((s) => `${s.width}x${s.height}`),
    );
    assert.deepEqual([...sizes].sort(), ["160x90", "320x180"]);
    assert.ok(streams.some((s) => s.codec_type === "audio"));
    const mpd = outputs.find((o) => o.name === "dash/manifest.mpd");
    assert.ok(mpd !== undefined);
    const dashStreams = await ffprobeStreams(localPath(mpd));
    assert.equal(dashStreams.filter((s) => s.codec_type === "video").length, 2);
  });

  it("runs once when both renditions finish together", async () => {
    const events = await fixture.engine.readEvents({ jobId: cmaf.job.id, after: 0, limit: 10_000 });
    const started = events.filter((e) => e.type === "step.started" && e.step === "pack");
    assert.equal(started.length, 1);
  });

  it("packages the renditions that succeeded when another failed", async () => {
    const steps = abrPipeline();
    steps.broken = { use: "util.fail", retry: { attempts: 1 } };
    steps.pack = { use: "video.package", needs: ["hd", "sd", "broken"], join: "some-succeeded" };
    const state = await runJob(steps);
    assert.equal(state.steps.pack?.status, "succeeded", JSON.stringify(state.steps.pack?.error));
    const master = await assertHlsResolves(outputsOf(state, "pack"));
    assert.equal(streamInfs(master).length, 2);
  });

  it("packages HLS and DASH each with its own segments when cmaf is off", async () => {
    const state = await runJob(abrPipeline({ cmaf: false, segmentDuration: 2 }));
    assert.equal(state.steps.pack?.status, "succeeded", JSON.stringify(state.steps.pack?.error));
    const outputs = outputsOf(state, "pack");
    const master = await assertHlsResolves(outputs);
    assert.equal(streamInfs(master).length, 2);
    assert.match(master, /#EXT-X-MEDIA:TYPE=AUDIO/);
    const media = await textOf(outputs, "hls/media_0.m3u8");
    assert.match(media, /#EXT-X-TARGETDURATION:2\n/);
    const names = new Set(outputs.map((o) => o.name));
    const mpd = await textOf(outputs, "dash/manifest.mpd");
    assert.doesNotMatch(mpd, /<BaseURL>/);
    assert.equal([...mpd.matchAll(/<Representation /g)].length, 3);
    for (const id of [0, 1, 2]) assert.ok(names.has(`dash/init-${id}.m4s`), `dash/init-${id}.m4s is stored`);
    const mpdOutput = outputs.find((o) => o.name === "dash/manifest.mpd");
    assert.ok(mpdOutput !== undefined);
    const streams = await ffprobeStreams(localPath(mpdOutput));
    assert.equal(streams.filter((s) => s.codec_type === "video").length, 2);
  });

  it("leaves audio out of every manifest with audio none", async () => {
    const state = await runJob(abrPipeline({ audio: "none" }));
    assert.equal(state.steps.pack?.status, "succeeded", JSON.stringify(state.steps.pack?.error));
    const outputs = outputsOf(state, "pack");
    const master = await assertHlsResolves(outputs);
    assert.ok(!master.includes("#EXT-X-MEDIA:"));
    for (const variant of streamInfs(master)) assert.match(variant.CODECS ?? "", /^avc1\.[0-9a-f]{6}$/);
    const mpd = await textOf(outputs, "dash/manifest.mpd");
    assert.equal([...mpd.matchAll(/<Representation /g)].length, 2);
    assert.doesNotMatch(mpd, /contentType="audio"/);
  });

  it("refuses cmaf with muxed audio, which shared segments cannot carry", async () => {
    const state = await runJob(abrPipeline({ cmaf: true, audio: "muxed" }));
    assert.equal(state.steps.pack?.status, "failed");
    assert.equal(state.steps.pack?.error?.code, "invalid_params");
  });

  it("packages HLS with MPEG-TS segments and muxed audio on its own", async () => {
    const state = await runJob(abrPipeline({ formats: ["hls"], segmentType: "ts", audio: "muxed" }));
    assert.equal(state.steps.pack?.status, "succeeded", JSON.stringify(state.steps.pack?.error));
    const outputs = outputsOf(state, "pack");
    assert.ok(!outputs.some((o) => o.name.startsWith("dash/")));
    assert.ok(outputs.some((o) => o.name.endsWith(".ts")));
    const master = await assertHlsResolves(outputs);
    assert.ok(!master.includes("#EXT-X-MEDIA:"));
    for (const variant of streamInfs(master)) assert.match(variant.CODECS ?? "", /^avc1\.\w+,mp4a\.40\.2$/);
    const masterOutput = outputs.find((o) => o.name === "hls/master.m3u8");
    assert.ok(masterOutput !== undefined);
    const streams = await ffprobeStreams(localPath(masterOutput));
    assert.ok(streams.some((s) => s.codec_type === "video" && s.height === 90));
  });
});
