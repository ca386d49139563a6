import assert from "node:assert/strict";
import { before, describe, it } from "node:test";
import { ErrorCodes, PermanentError } from "../../src/errors/errors.js";
import {
  assertEncoders,
  assertMuxers,
  detectTools,
  locateTool,
  type MediaTools,
  parseEncoderList,
  parseFormatList,
} from "../../src/media/tools.js";

async function permanentError(promise: Promise<unknown>): Promise<PermanentError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof PermanentError, `expected a PermanentError, got ${String(error)}`);
    return error;
  }
  assert.fail("expected the promise to reject");
}

function env(overrides: Record<string, string | undefined>): NodeJS.ProcessEnv {
  const base: NodeJS.ProcessEnv = { PATH: process.env.PATH };
  return { ...base, ...overrides };
}

describe("detectTools", () => {
  let tools: MediaTools;

  before(async () => {
    tools = await detectTools(env({}));
  });

  it("finds ffmpeg and ffprobe on PATH with a version", () => {
    assert.match(tools.ffmpeg, /\/ffmpeg$/);
    assert.match(tools.ffprobe, /\/ffprobe$/);
    assert.match(tools.version, /^\S+$/);
  });

  it("lists the encoders, muxers and demuxers the media steps need", (t) => {
    assert.ok(tools.encoders.has("aac"));
    assert.ok(tools.encoders.has("png"));
    assert.ok(tools.muxers.has("mp4"));
    assert.ok(tools.muxers.has("hls"));
    assert.ok(tools.muxers.has("dash"));
    assert.ok(tools.demuxers.has("mov"));
    assert.ok(tools.demuxers.has("mp4"), "each alias of mov,mp4,... is listed");
    if (!tools.encoders.has("libx264")) {
      t.skip("this ffmpeg was built without libx264");
      return;
    }
    assert.doesNotThrow(() => assertEncoders(tools, ["libx264", "aac"]));
  });

  it("names what is missing and how to install it", () => {
    assert.throws(
      () => assertEncoders(tools, ["libx264", "libnothing", "libnada"]),
      (error: unknown) =>
        error instanceof PermanentError &&
        error.code === ErrorCodes.toolMissing &&
        /no encoders libnothing, libnada/.test(error.message) &&
        /apt-get install ffmpeg/.test(error.message) &&
        /MEDIAFLOW_FFMPEG/.test(error.message),
    );
    assert.throws(() => assertMuxers(tools, ["nomux"]), /has no muxer nomux/);
  });

  it("MEDIAFLOW_FFMPEG pointing at a missing file is a clear tool_missing error", async () => {
    const error = await permanentError(detectTools(env({ MEDIAFLOW_FFMPEG: "/nonexistent/bin/ffmpeg" })));
    assert.equal(error.code, ErrorCodes.toolMissing);
    assert.match(
      error.message,
      /^MEDIAFLOW_FFMPEG is set to "\/nonexistent\/bin\/ffmpeg", but there is no executable/,
    );
    assert.match(error.message, /apt-get install ffmpeg/);
  });

  it("MEDIAFLOW_FFPROBE is honoured the same way", async () => {
    const error = await permanentError(
      locateTool("ffprobe", env({ MEDIAFLOW_FFPROBE: "/nonexistent/ffprobe" })),
    );
    assert.equal(error.code, ErrorCodes.toolMissing);
    assert.match(error.message, /MEDIAFLOW_FFPROBE/);
    assert.equal(await locateTool("ffprobe", env({ MEDIAFLOW_FFPROBE: tools.ffprobe })), tools.ffprobe);
  });

  it("ffmpeg missing from PATH is tool_missing with an installation hint", async () => {
    const error = await permanentError(detectTools({ PATH: "/nonexistent" }));
    assert.equal(error.code, ErrorCodes.toolMissing);
    assert.match(error.message, /^ffmpeg was not found on PATH \(\/nonexistent\)/);
    assert.match(error.message, /apt-get install ffmpeg/);
  });

  it("a binary that is not ffmpeg is refused", async () => {
    const error = await permanentError(detectTools(env({ MEDIAFLOW_FFMPEG: "/bin/echo" })));
    assert.equal(error.code, ErrorCodes.toolMissing);
    assert.match(error.message, /does not look like ffmpeg/);
  });
});

describe("ffmpeg list parsing", () => {
  it("reads encoder names after the rule", () => {
    const text = [
      "Encoders:",
      " V..... = Video",
      " ------",
      " V....D libx264              libx264 H.264 / AVC (codec h264)",
      " A....D aac                  AAC (Advanced Audio Coding)",
    ].join("\n");
    assert.deepEqual([...parseEncoderList(text)], ["libx264", "aac"]);
  });

  it("reads format names with and without the device column, splitting aliases", () => {
    const v5 = [
      "File formats:",
      " D. = Demuxing supported",
      " --",
      " DE mov,mp4,m4a  QuickTime / MOV",
      "  E hls  HLS",
    ];
    const v6 = [
      "Formats:",
      " --",
      " D  alsa            ALSA audio input",
      " D d x11grab  X11 screen capture",
    ];
    assert.deepEqual([...parseFormatList(v5.join("\n"))], ["mov", "mp4", "m4a", "hls"]);
    assert.deepEqual([...parseFormatList(v6.join("\n"))], ["alsa", "x11grab"]);
  });
});
