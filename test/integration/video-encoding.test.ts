import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtemp, open } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { promisify } from "node:util";
import sharp from "sharp";
import type { StepOutput } from "../../src/steps/step-type.js";
import type { EngineFixture } from "../support/engine-fixture.js";
import {
  durationOf,
  ffprobe,
  type JobRun,
  makeImage,
  makeVideo,
  mediaPipeline,
  openMediaFixture,
  type Probed,
  runMediaJob,
  videoStream,
} from "../support/media-fixtures.js";

const run = promisify(execFile);

/** Seconds of each keyframe of the first video stream. */
async function keyframeTimes(path: string): Promise<number[]> {
  const { stdout } = await run("ffprobe", [
    "-v",
    "error",
    "-select_streams",
    "v:0",
    "-skip_frame",
    "nokey",
    "-show_entries",
    "frame=pts_time",
    "-of",
    "csv=p=0",
    path,
  ]);
  return stdout
    .split("\n")
    .filter((line) => line.trim() !== "")
    .map((line) => Number(line.replace(/,$/, "")));
}

/** The order of the top-level MP4 boxes: faststart puts moov before mdat. */
async function topLevelBoxes(path: string): Promise<string[]> {
  const file = await open(path, "r");
  try {
    const boxes: string[] = [];
    const { size } = await file.stat();
    let offset = 0;
    const header = Buffer.alloc(8);
    while (offset < size && boxes.length < 10) {
      await file.read(header, 0, 8, offset);
      const boxSize = header.readUInt32BE(0);
      boxes.push(header.toString("latin1", 4, 8));
      if (boxSize < 8) break;
      offset += boxSize;
    }
    return boxes;
  } finally {
    await file.close();
  }
}

/** An encoded output's meta agrees with ffprobe on size, codecs and frame rate; duration within a frame. */
function assertDescribes(output: StepOutput | undefined, probed: Probed): void {
  const meta = output?.meta ?? {};
  const video = videoStream(probed);
  const [numerator, denominator] = (video.avg_frame_rate ?? "0/1").split("/").map(Number);
  const audio = probed.streams.find((s) => s.codec_type === "audio");
  assert.deepEqual(
    [meta.width, meta.height, meta.codec, meta.frameRate, meta.audioCodec],
    [video.width, video.height, video.codec_name, (numerator ?? 0) / (denominator ?? 1), audio?.codec_name],
  );
  const duration = Number(meta.duration);
  assert.ok(
    Math.abs(duration - durationOf(probed)) < 0.1,
    `meta ${duration} s, ffprobe ${durationOf(probed)} s`,
  );
  assert.equal(meta.bitrate, Math.round(((output?.bytes ?? 0) * 8) / duration));
}

describe("video and audio encoding steps, on real ffmpeg", () => {
  let fixture: EngineFixture;
  let dir: string;
  let landscape: string;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "mediaflow-encode-"));
    fixture = await openMediaFixture();
    landscape = await makeVideo(join(dir, "landscape.mp4"), { width: 640, height: 360, seconds: 4 });
  });
  after(async () => {
    await fixture.close();
  });

  it("media.probe describes a video's container, size, duration, frame rate and audio", async () => {
    const job = await runMediaJob(
      fixture,
      mediaPipeline("name: p\nsteps:\n  probe: { use: media.probe }"),
      landscape,
    );
    assert.equal(job.state.job.status, "succeeded");
    const data = job.state.steps.probe?.result?.data as Record<string, unknown>;
    assert.equal(data.kind, "video");
    assert.equal(data.width, 640);
    assert.equal(data.height, 360);
    assert.ok(Math.abs(Number(data.duration) - 4) < 0.1, `duration ${data.duration}`);
    assert.match(String(data.container), /mp4/);
    const video = data.video as Record<string, unknown>;
    assert.equal(video.codec, "h264");
    assert.equal(video.frameRate, 25);
    assert.equal((data.audio as Record<string, unknown>).channels, 1);
  });

  it("media.probe reports an image's format and its size as displayed after EXIF orientation", async () => {
    const photo = join(dir, "portrait.jpg");
    await sharp(await makeImage(join(dir, "plain.jpg"), { width: 400, height: 300 }))
      .withMetadata({ orientation: 6 })
      .toFile(photo);
    const job = await runMediaJob(
      fixture,
      mediaPipeline("name: p\nsteps:\n  probe: { use: media.probe }"),
      photo,
    );
    assert.equal(job.state.job.status, "succeeded", JSON.stringify(job.state.steps.probe?.error));
    const data = job.state.steps.probe?.result?.data as Record<string, unknown>;
    assert.equal(data.kind, "image");
    assert.equal(data.format, "jpeg");
    assert.equal(data.orientation, 6);
    assert.deepEqual([data.width, data.height], [300, 400]);
  });

  it("video.transcode scales to a height with the aspect kept and even sides, H.264/AAC in a faststart MP4", async () => {
    const job = await runMediaJob(
      fixture,
      mediaPipeline(
        "name: t\nsteps:\n  sd: { use: video.transcode, with: { height: 121, preset: ultrafast, crf: 30 } }",
      ),
      landscape,
    );
    assert.equal(job.state.job.status, "succeeded", JSON.stringify(job.state.steps.sd?.error));
    const [output] = job.outputs("sd");
    assert.equal(output?.name, "122p.mp4");
    assert.equal(output?.contentType, "video/mp4");
    const probed = await ffprobe(job.output("sd"));
    const video = videoStream(probed);
    assert.deepEqual([video.codec_name, video.width, video.height], ["h264", 216, 122]);
    assert.ok(probed.streams.some((s) => s.codec_type === "audio" && s.codec_name === "aac"));
    assert.ok(Math.abs(durationOf(probed) - 4) < 0.1, `duration ${durationOf(probed)}`);
    const boxes = await topLevelBoxes(job.output("sd"));
    assert.ok(boxes.indexOf("moov") < boxes.indexOf("mdat"), `boxes: ${boxes.join(" ")}`);
    assert.equal(output?.meta?.height, 122);
  });

  it("video.transcode does not upscale unless asked, caps the frame rate and honours a bit rate", async () => {
    const job = await runMediaJob(
      fixture,
      mediaPipeline(
        `name: t
steps:
  same: { use: video.transcode, with: { height: 1080, maxFps: 10, bitrate: 300k, preset: ultrafast, audioCodec: none } }
  up: { use: video.transcode, with: { height: 720, upscale: true, preset: ultrafast, crf: 40 } }`,
      ),
      landscape,
    );
    assert.equal(job.state.job.status, "succeeded");
    const same = await ffprobe(job.output("same"));
    assert.deepEqual([videoStream(same).width, videoStream(same).height], [640, 360]);
    assert.equal(videoStream(same).avg_frame_rate, "10/1");
    assert.equal(same.streams.filter((s) => s.codec_type === "audio").length, 0);
    const up = await ffprobe(job.output("up"));
    assert.deepEqual([videoStream(up).width, videoStream(up).height], [1280, 720]);
    // Each output's description, made from its plan, says what ffprobe finds in it.
    assertDescribes(job.outputs("same")[0], same);
    assertDescribes(job.outputs("up")[0], up);
  });

  it("video.transcode makes VP9 in WebM with Opus when the encoder is present", async (t) => {
    const { stdout } = await run("ffmpeg", ["-hide_banner", "-encoders"]);
    if (!stdout.includes("libvpx-vp9")) {
      t.skip("this ffmpeg has no libvpx-vp9");
      return;
    }
    const job = await runMediaJob(
      fixture,
      mediaPipeline(
        "name: t\nsteps:\n  web: { use: video.transcode, with: { codec: vp9, height: 90, preset: ultrafast, crf: 50 } }",
      ),
      landscape,
    );
    assert.equal(job.state.job.status, "succeeded", JSON.stringify(job.state.steps.web?.error));
    assert.equal(job.outputs("web")[0]?.name, "90p.webm");
    const probed = await ffprobe(job.output("web"));
    assert.match(probed.format.format_name, /webm/);
    assert.equal(videoStream(probed).codec_name, "vp9");
    assert.ok(probed.streams.some((s) => s.codec_name === "opus"));
    assertDescribes(job.outputs("web")[0], probed);
  });

  it("video.transcode refuses an impossible pairing before encoding, naming the fix", async () => {
    const job = await runMediaJob(
      fixture,
      mediaPipeline(
        "name: t\nsteps:\n  bad: { use: video.transcode, with: { container: webm, codec: h264 } }",
      ),
      landscape,
    );
    assert.equal(job.state.job.status, "failed");
    assert.equal(job.state.steps.bad?.error?.code, "invalid_params");
    assert.match(job.state.steps.bad?.error?.message ?? "", /webm file cannot hold h264/);
    assert.equal(job.state.steps.bad?.attempts, 1);
  });

  it("video.ladder encodes every rung from one decode, skips rungs above the source, and aligns keyframes", async () => {
    const job = await runMediaJob(
      fixture,
      mediaPipeline(
        `name: l
steps:
  ladder:
    use: video.ladder
    with:
      preset: ultrafast
      renditions: [{ height: 720, crf: 30 }, { height: 360, crf: 30 }, { height: 180, bitrate: 200k }]`,
      ),
      landscape,
    );
    assert.equal(job.state.job.status, "succeeded", JSON.stringify(job.state.steps.ladder?.error));
    assert.deepEqual(
      job.outputs("ladder").map((o) => o.name),
      ["360p.mp4", "180p.mp4"],
    );
    const heights = [];
    const keyframes = [];
    for (const name of ["360p.mp4", "180p.mp4"]) {
      const path = job.output("ladder", name);
      heights.push(videoStream(await ffprobe(path)).height);
      keyframes.push(await keyframeTimes(path));
    }
    assert.deepEqual(heights, [360, 180]);
    assert.deepEqual(keyframes[0], keyframes[1]);
    assert.deepEqual(keyframes[0]?.map(Math.round), [0, 2]);
    await assertLadderFiles(job, ["360p.mp4", "180p.mp4"]);
  });

  it("video.ladder writes its rungs where the data folder's name holds characters ffmpeg's tee muxer reads", async () => {
    const oddFixture = await openMediaFixture("mediaflow-tee |[x]'s \\ dir-");
    try {
      const job = await runMediaJob(
        oddFixture,
        mediaPipeline(
          "name: l\nsteps:\n  ladder: { use: video.ladder, with: { preset: ultrafast, renditions: [{ height: 180, crf: 35 }, { height: 90, crf: 35 }] } }",
        ),
        landscape,
      );
      assert.equal(job.state.job.status, "succeeded", JSON.stringify(job.state.steps.ladder?.error));
      await assertLadderFiles(job, ["180p.mp4", "90p.mp4"]);
    } finally {
      await oddFixture.close();
    }
  });

  it("video.ladder in map mode runs one task per rung, and the step's outputs keep rung order", async () => {
    const job = await runMediaJob(
      fixture,
      mediaPipeline(
        `name: l
steps:
  ladder:
    use: video.ladder
    with: { mode: map, preset: ultrafast, renditions: [{ height: 360, crf: 35 }, { height: 144, crf: 35 }] }`,
      ),
      landscape,
    );
    assert.equal(job.state.job.status, "succeeded", JSON.stringify(job.state.steps.ladder?.error));
    assert.equal(job.state.steps.ladder?.parts?.count, 2);
    assert.deepEqual(
      job.outputs("ladder").map((o) => o.name),
      ["360p.mp4", "144p.mp4"],
    );
    assert.equal(videoStream(await ffprobe(job.output("ladder", "144p.mp4"))).width, 256);
  });

  it("video.transform rotates a quarter turn (sides swap) and flips", async () => {
    const job = await runMediaJob(
      fixture,
      mediaPipeline(
        `name: r
steps:
  turned: { use: video.transform, with: { rotate: 90, height: 320, preset: ultrafast } }
  flipped: { use: video.transform, with: { flipHorizontal: true, preset: ultrafast, name: flipped } }`,
      ),
      landscape,
    );
    assert.equal(job.state.job.status, "succeeded", JSON.stringify(job.state.steps.turned?.error));
    const turned = videoStream(await ffprobe(job.output("turned")));
    assert.deepEqual([turned.width, turned.height], [180, 320]);
    const flipped = videoStream(await ffprobe(job.output("flipped", "flipped.mp4")));
    assert.deepEqual([flipped.width, flipped.height], [640, 360]);
  });

  it("reads an MXF file from a broadcast camera (MPEG-2 video, PCM audio)", async () => {
    const mxf = await makeVideo(join(dir, "camera.mxf"), {
      width: 320,
      height: 180,
      seconds: 2,
      codecArgs: ["-c:v", "mpeg2video", "-b:v", "2M", "-c:a", "pcm_s16le"],
      format: "mxf",
    });
    const job = await runMediaJob(
      fixture,
      mediaPipeline(
        "name: m\nsteps:\n  web: { use: video.transcode, with: { height: 180, preset: ultrafast } }",
      ),
      mxf,
    );
    assert.equal(job.state.job.status, "succeeded", JSON.stringify(job.state.steps.web?.error));
    const probed = await ffprobe(job.output("web"));
    assert.equal(videoStream(probed).codec_name, "h264");
    assert.ok(Math.abs(durationOf(probed) - 2) < 0.1);
  });

  it("cancelling a job stops its running ffmpeg within two seconds, leaving no process behind", async () => {
    const input = await makeVideo(join(dir, "long.mp4"), { width: 640, height: 360, seconds: 20 });
    const pipeline = mediaPipeline(
      "name: c\nsteps:\n  slow: { use: video.transcode, with: { preset: veryslow, crf: 10, name: slow } }",
    );
    const key = "inputs/test/cancel/long.mp4";
    const info = await fixture.storage.putFile(key, input);
    const { job } = await fixture.engine.createJob({
      pipeline,
      input: { key, filename: "long.mp4", bytes: info.bytes },
    });
    const worker = fixture.worker();
    worker.start();
    try {
      // Wait until ffmpeg is encoding: the step has reported progress.
      const deadline = Date.now() + 20_000;
      for (;;) {
        const state = await fixture.engine.getJob(job.job.id);
        if ((state?.steps.slow?.progress ?? 0) > 0) break;
        assert.ok(Date.now() < deadline, "the encode never reported progress");
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      assert.ok((await ffmpegProcessesUnder(fixture.dir)).length > 0, "ffmpeg is running");
      const cancelledAt = Date.now();
      await fixture.engine.cancelJob(job.job.id);
      for (;;) {
        if ((await ffmpegProcessesUnder(fixture.dir)).length === 0) break;
        assert.ok(Date.now() - cancelledAt < 2_000, "ffmpeg still running 2 s after the cancel");
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      const state = await fixture.engine.getJob(job.job.id);
      assert.equal(state?.job.status, "cancelled");
      assert.equal(state?.steps.slow?.result, null, "no output reported for the cancelled step");
    } finally {
      await worker.stop();
    }
  });

  it("audio.extract writes AAC, MP3 and Opus, and normalises loudness to EBU R128", async () => {
    const quiet = await makeVideo(join(dir, "quiet.mp4"), { seconds: 4, width: 160, height: 90 });
    const job = await runMediaJob(
      fixture,
      mediaPipeline(
        `name: a
steps:
  aac: { use: audio.extract }
  mp3: { use: audio.extract, with: { codec: mp3, bitrate: 128k } }
  opus: { use: audio.extract, with: { codec: opus, channels: 2 } }
  loud: { use: audio.extract, with: { normalize: { integrated: -16 }, name: loud } }`,
      ),
      quiet,
    );
    assert.equal(job.state.job.status, "succeeded", JSON.stringify(job.state.steps.loud?.error));
    assert.equal(job.outputs("aac")[0]?.name, "audio.m4a");
    assert.equal((await ffprobe(job.output("aac"))).streams[0]?.codec_name, "aac");
    assert.equal((await ffprobe(job.output("mp3"))).streams[0]?.codec_name, "mp3");
    const opus = (await ffprobe(job.output("opus"))).streams[0];
    assert.deepEqual([opus?.codec_name, opus?.channels], ["opus", 2]);
    const loud = job.outputs("loud")[0];
    assert.equal(loud?.meta?.targetLoudness, -16);
    const measured = await measureLoudness(job.output("loud"));
    assert.ok(Math.abs(measured + 16) < 1.5, `integrated loudness ${measured} LUFS, wanted -16`);
  });

  it("video steps refuse an image and audio.extract refuses a silent video, each with a clear reason", async () => {
    const picture = await makeImage(join(dir, "still.png"), { width: 64, height: 64, format: "png" });
    const silent = await makeVideo(join(dir, "silent.mp4"), {
      audio: false,
      seconds: 1,
      width: 64,
      height: 64,
    });
    const onImage = await runMediaJob(
      fixture,
      mediaPipeline("name: v\nsteps:\n  v: { use: video.transcode }"),
      picture,
    );
    assert.equal(onImage.state.steps.v?.error?.code, "unsupported_media");
    assert.match(onImage.state.steps.v?.error?.message ?? "", /needs a video, and still.png is an image/);
    const onSilent = await runMediaJob(
      fixture,
      mediaPipeline("name: a\nsteps:\n  a: { use: audio.extract }"),
      silent,
    );
    assert.equal(onSilent.state.steps.a?.error?.code, "unsupported_media");
    assert.match(onSilent.state.steps.a?.error?.message ?? "", /has no audio track/);
  });
});

/**
 * Each rung is a faststart MP4 that its meta describes, and all carry the same audio: the renditions of
 * one ladder share one encode of it.
 */
async function assertLadderFiles(job: JobRun, names: string[]): Promise<void> {
  const audio = new Set<string>();
  for (const name of names) {
    const path = job.output("ladder", name);
    assertDescribes(
      job.outputs("ladder").find((o) => o.name === name),
      await ffprobe(path),
    );
    const boxes = await topLevelBoxes(path);
    assert.ok(boxes.indexOf("moov") < boxes.indexOf("mdat"), `${name} boxes: ${boxes.join(" ")}`);
    const { stdout } = await run("ffmpeg", ["-v", "error", "-i", path, "-map", "0:a", "-f", "md5", "-"]);
    audio.add(stdout.trim());
  }
  assert.equal(audio.size, 1, `audio differs between rungs: ${[...audio].join(", ")}`);
}

/** ffmpeg processes whose arguments mention `dir` (their work directory is inside it). */
async function ffmpegProcessesUnder(dir: string): Promise<string[]> {
  const { stdout } = await run("ps", ["-eo", "args"]);
  return stdout
    .split("\n")
    .filter((line) => line.startsWith("/") && line.includes("ffmpeg") && line.includes(dir));
}

async function measureLoudness(path: string): Promise<number> {
  const { stderr } = await run("ffmpeg", [
    "-hide_banner",
    "-nostdin",
    "-i",
    path,
    "-af",
    "loudnorm=print_format=json",
    "-f",
    "null",
    "-",
  ]);
  const json = stderr.slice(stderr.lastIndexOf("{"), stderr.lastIndexOf("}") + 1);
  return Number((JSON.parse(json) as { input_i: string }).input_i);
}
