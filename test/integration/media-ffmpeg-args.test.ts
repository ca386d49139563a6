import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtemp, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { after, before, describe, it } from "node:test";
import { promisify } from "node:util";
import { ErrorCodes, PermanentError } from "../../src/errors/errors.js";
import {
  ffmpegGlobalArgs,
  ffprobeArgs,
  fileUrl,
  isAllowedInputFormat,
  isReferenceFormat,
  progressArgs,
  safeInputArgs,
} from "../../src/media/ffmpeg-args.js";
import { type FfmpegProgress, progressLineHandler } from "../../src/media/ffmpeg-progress.js";
import { probeMedia } from "../../src/media/probe.js";
import { runTool, ToolError } from "../../src/media/run-tool.js";
import { detectTools, type MediaTools } from "../../src/media/tools.js";

const run = promisify(execFile);

describe("safe ffmpeg arguments", () => {
  it("open an input through the whitelists and an absolute file: URL", () => {
    const args = safeInputArgs("clips/in.mp4");
    assert.deepEqual(args.slice(0, 3), ["-protocol_whitelist", "file", "-format_whitelist"]);
    assert.ok(!args[3]?.split(",").includes("hls"));
    assert.deepEqual(args.slice(-2), ["-i", `file:${resolve("clips/in.mp4")}`]);
  });

  it("keep a file named like an option or a URL a file", () => {
    assert.equal(fileUrl("/tmp/-y"), "file:/tmp/-y");
    assert.equal(fileUrl("/tmp/http://x"), "file:/tmp/http:/x");
    assert.equal(fileUrl("concat:a|b").startsWith(`file:${process.cwd()}/`), true);
  });

  it("pin the probed demuxer and put input options before -i", () => {
    const args = safeInputArgs("/in.mp4", {
      format: "mov,mp4,m4a,3gp,3g2,mj2",
      inputOptions: ["-ss", "1.5"],
    });
    assert.deepEqual(args.slice(4), ["-f", "mov", "-ss", "1.5", "-i", "file:/in.mp4"]);
  });

  it("refuse to pin a format outside the allow-list", () => {
    for (const format of ["hls", "concat", "lavfi", "image2", "tty"]) {
      assert.throws(
        () => safeInputArgs("/in", { format }),
        (error: unknown) => error instanceof PermanentError && error.code === ErrorCodes.unsupportedMedia,
        format,
      );
    }
  });

  it("classify formats", () => {
    assert.equal(isAllowedInputFormat("matroska,webm"), true);
    assert.equal(isAllowedInputFormat("png_pipe"), true);
    assert.equal(isAllowedInputFormat("hls"), false);
    assert.equal(isReferenceFormat("hls"), true);
    assert.equal(isReferenceFormat("mov,mp4,m4a,3gp,3g2,mj2"), false);
  });

  it("give ffprobe the same whitelists and never stdin options it does not have", () => {
    const args = ffprobeArgs("/in.mp4", ["-show_format"]);
    assert.ok(args.includes("-protocol_whitelist"));
    assert.ok(!args.includes("-nostdin"));
    assert.deepEqual(args.slice(-3), ["-show_format", "-i", "file:/in.mp4"]);
    assert.ok(ffmpegGlobalArgs().includes("-nostdin"));
  });
});

describe("ffmpeg run on the safe arguments", () => {
  let tools: MediaTools;
  let dir: string;
  let source: string;

  before(async () => {
    tools = await detectTools();
    dir = await mkdtemp(join(tmpdir(), "mediaflow-args-"));
    source = join(dir, "source.mp4");
    await run(tools.ffmpeg, [
      ...["-hide_banner", "-nostdin", "-loglevel", "error", "-f", "lavfi"],
      ...["-i", "testsrc2=size=320x240:rate=25:duration=3", "-f", "lavfi", "-i", "sine=duration=3"],
      ...[
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-pix_fmt",
        "yuv420p",
        "-c:a",
        "aac",
        "-shortest",
        source,
      ],
    ]);
  });

  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("transcodes a probed file with the demuxer pinned and reports progress to the end", async () => {
    const info = await probeMedia(tools, source);
    const output = join(dir, "small.mp4");
    const updates: FfmpegProgress[] = [];
    await runTool({
      command: tools.ffmpeg,
      name: "ffmpeg",
      args: [
        ...ffmpegGlobalArgs(),
        ...safeInputArgs(source, { format: info.container }),
        ...["-vf", "scale=160:-2", "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac"],
        ...progressArgs(),
        fileUrl(output),
      ],
      inactivityMs: 5_000,
      timeoutMs: 30_000,
      onStdoutLine: progressLineHandler(info.duration, (update) => updates.push(update)),
    });
    assert.ok(updates.length >= 1);
    assert.equal(updates.at(-1)?.done, true);
    assert.equal(updates.at(-1)?.fraction, 1);
    const fractions = updates.map((update) => update.fraction ?? 0);
    assert.deepEqual(
      fractions,
      [...fractions].sort((a, b) => a - b),
      "progress never goes backwards",
    );
    const out = await probeMedia(tools, output);
    assert.equal(out.video?.width, 160);
    assert.ok((await stat(output)).size > 0);
  });

  it("a pinned demuxer will not read a file of another format", async () => {
    const png = join(dir, "frame.png");
    await run(tools.ffmpeg, [
      "-nostdin",
      "-loglevel",
      "error",
      "-f",
      "lavfi",
      "-i",
      "testsrc2",
      "-frames:v",
      "1",
      png,
    ]);
    const error = await runTool({
      command: tools.ffmpeg,
      args: [...ffmpegGlobalArgs(), ...safeInputArgs(png, { format: "mov" }), "-f", "null", "-"],
    }).catch((thrown: unknown) => thrown);
    assert.ok(error instanceof ToolError);
    assert.equal(error.code, ErrorCodes.toolFailed);
    assert.match(error.stderrTail, /moov atom not found/);
  });
});
