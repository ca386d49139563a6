import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { constants } from "node:fs";
import { copyFile, mkdtemp, open, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { promisify } from "node:util";
import { ErrorCodes, PermanentError } from "../../src/errors/errors.js";
import { ffmpegGlobalArgs, safeInputArgs } from "../../src/media/ffmpeg-args.js";
import { type FfprobeOutput, mediaInfoFromProbe, probeMedia } from "../../src/media/probe.js";
import { runTool, ToolError } from "../../src/media/run-tool.js";
import { detectTools, type MediaTools } from "../../src/media/tools.js";

const run = promisify(execFile);

/** Makes a test file with ffmpeg; lavfi is fine here because the test, not a user, chooses the input. */
async function ffmpeg(tools: MediaTools, args: string[]): Promise<void> {
  await run(tools.ffmpeg, ["-hide_banner", "-nostdin", "-loglevel", "error", "-y", ...args]);
}

const LAVFI_AV = [
  "-f",
  "lavfi",
  "-i",
  "testsrc2=size=320x240:rate=25:duration=2",
  "-f",
  "lavfi",
  "-i",
  "sine=frequency=440:sample_rate=48000:duration=2",
];

async function probeFailure(promise: Promise<unknown>): Promise<PermanentError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof PermanentError, `expected a PermanentError, got ${String(error)}`);
    return error;
  }
  assert.fail("expected probeMedia to reject");
}

/**
 * A named pipe standing in for a file an input must never open: opening it for writing completes only
 * once someone opens it for reading, so `wasOpened` tells whether a tool tried to read it.
 */
async function sentinel(path: string): Promise<{ wasOpened: () => Promise<boolean> }> {
  await run("mkfifo", [path]);
  const opened = open(path, "w").then(async (handle) => {
    await handle.close();
    return true;
  });
  return {
    async wasOpened() {
      const early = await Promise.race([opened, new Promise<false>((r) => setTimeout(() => r(false), 100))]);
      if (early) return true;
      // Nobody read it: open the reading end ourselves so the pending open completes and frees its thread.
      const reader = await open(path, constants.O_RDONLY | constants.O_NONBLOCK);
      await opened;
      await reader.close();
      return false;
    },
  };
}

const REFUSED = new Set<string>([ErrorCodes.corruptMedia, ErrorCodes.unsupportedMedia]);

describe("probeMedia", () => {
  let tools: MediaTools;
  let dir: string;
  let mp4: string;

  before(async () => {
    tools = await detectTools();
    dir = await mkdtemp(join(tmpdir(), "mediaflow-probe-"));
    mp4 = join(dir, "clip.mp4");
    await ffmpeg(
      tools,
      [...LAVFI_AV, "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"].concat([
        "-c:a",
        "aac",
        "-shortest",
        mp4,
      ]),
    );
  });

  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("describes an h264/aac mp4", async () => {
    const info = await probeMedia(tools, mp4);
    assert.equal(info.kind, "video");
    assert.equal(info.container, "mov,mp4,m4a,3gp,3g2,mj2");
    assert.ok(info.duration !== undefined && Math.abs(info.duration - 2) <= 0.1, `duration ${info.duration}`);
    assert.ok(info.bytes > 0);
    assert.ok(info.bitRate !== undefined && info.bitRate > 0);
    assert.equal(info.streams, 2);
    assert.deepEqual(
      { ...info.video, bitRate: undefined },
      {
        codec: "h264",
        width: 320,
        height: 240,
        rotation: 0,
        frameRate: 25,
        pixelFormat: "yuv420p",
        bitRate: undefined,
      },
    );
    assert.equal(info.audio?.codec, "aac");
    assert.equal(info.audio?.channels, 1);
    assert.equal(info.audio?.sampleRate, 48000);
  });

  it("swaps width and height of a video with rotation metadata", async () => {
    const rotated = join(dir, "rotated.mp4");
    try {
      // ffmpeg 6 and later: a display matrix on the input, copied to the output.
      await ffmpeg(tools, ["-display_rotation", "90", "-i", mp4, "-c", "copy", rotated]);
    } catch {
      // ffmpeg 5.1: the mov muxer turns the rotate tag into a display matrix.
      await ffmpeg(tools, ["-i", mp4, "-c", "copy", "-metadata:s:v", "rotate=90", rotated]);
    }
    const info = await probeMedia(tools, rotated);
    assert.equal(info.video?.width, 240);
    assert.equal(info.video?.height, 320);
    assert.ok(
      info.video?.rotation === 90 || info.video?.rotation === 270,
      `rotation ${info.video?.rotation}`,
    );
  });

  it("probes an MXF file with mpeg2video and 48 kHz PCM", async () => {
    const mxf = join(dir, "clip.mxf");
    await ffmpeg(
      tools,
      [...LAVFI_AV, "-c:v", "mpeg2video", "-c:a", "pcm_s16le", "-ar", "48000", "-shortest"].concat([
        "-f",
        "mxf",
        mxf,
      ]),
    );
    const info = await probeMedia(tools, mxf);
    assert.equal(info.kind, "video");
    assert.equal(info.container, "mxf");
    assert.equal(info.video?.codec, "mpeg2video");
    assert.equal(info.audio?.codec, "pcm_s16le");
    assert.equal(info.audio?.sampleRate, 48000);
    assert.ok(info.duration !== undefined && Math.abs(info.duration - 2) <= 0.1);
  });

  it("reports a PNG as an image", async () => {
    const png = join(dir, "frame.png");
    await ffmpeg(tools, ["-f", "lavfi", "-i", "testsrc2=size=64x48", "-frames:v", "1", png]);
    const info = await probeMedia(tools, png);
    assert.equal(info.kind, "image");
    assert.equal(info.container, "png_pipe");
    assert.equal(info.duration, undefined);
    assert.equal(info.video?.codec, "png");
    assert.equal(info.video?.width, 64);
    assert.equal(info.video?.height, 48);
    assert.equal(info.audio, undefined);
  });

  it("reports an mp3 as audio", async () => {
    const mp3 = join(dir, "tone.mp3");
    await ffmpeg(tools, ["-f", "lavfi", "-i", "sine=duration=1", "-c:a", "libmp3lame", mp3]);
    const info = await probeMedia(tools, mp3);
    assert.equal(info.kind, "audio");
    assert.equal(info.audio?.codec, "mp3");
    assert.equal(info.video, undefined);
  });

  describe("refuses what is not media, quickly and in words", () => {
    const cases: Array<{ name: string; file: string; make: () => Promise<Buffer | string> }> = [
      { name: "an empty file", file: "empty.mp4", make: async () => Buffer.alloc(0) },
      { name: "a one-byte file", file: "one.mp4", make: async () => (await readFile(mp4)).subarray(0, 1) },
      {
        name: "an mp4 cut to its first third",
        file: "truncated.mp4",
        make: async () => {
          const whole = await readFile(mp4);
          return whole.subarray(0, Math.floor(whole.length / 3));
        },
      },
      {
        name: "random bytes named .mp4",
        file: "random.mp4",
        make: async () => pseudoRandom(65_536),
      },
      { name: "random bytes named .mp3", file: "random.mp3", make: async () => pseudoRandom(65_536) },
      {
        name: "a text file",
        file: "notes.txt",
        make: async () => "These are my notes.\nNot a video.\n".repeat(50),
      },
    ];
    for (const testCase of cases) {
      it(`${testCase.name} is corrupt or unsupported media`, async () => {
        const path = join(dir, testCase.file);
        await writeFile(path, await testCase.make());
        const started = Date.now();
        const error = await probeFailure(probeMedia(tools, path));
        const elapsed = Date.now() - started;
        assert.ok(REFUSED.has(error.code), `code ${error.code}`);
        assert.ok(elapsed < 2_000, `took ${elapsed} ms`);
        assert.doesNotMatch(
          error.message,
          /ffprobe version|@ 0x|Invalid data found/,
          "no raw stderr in the message",
        );
        assert.match(error.message, /^the file /);
      });
    }

    it("a truncated mp4 says it is incomplete", async () => {
      const whole = await readFile(mp4);
      const path = join(dir, "cut.mp4");
      await writeFile(path, whole.subarray(0, Math.floor(whole.length / 3)));
      const error = await probeFailure(probeMedia(tools, path));
      assert.equal(error.code, ErrorCodes.corruptMedia);
      assert.match(error.message, /incomplete or damaged/);
      assert.match(String(error.details?.stderrTail), /moov atom not found/);
    });
  });

  describe("a file that is not what its name says", () => {
    // Timed lyrics: a headerless text format ffprobe recognises on its own and mediaflow does not read.
    const lyrics = "[00:01.00]first line\n[00:02.50]second line\n[00:04.00]third line\n";

    it("named like a format mediaflow reads, it is corrupt media, whatever ffprobe took it for", async () => {
      const path = join(dir, "lyrics.mp4");
      await writeFile(path, lyrics);
      const error = await probeFailure(probeMedia(tools, path));
      assert.equal(error.code, ErrorCodes.corruptMedia);
      assert.match(error.message, /^the file is named like a \.mp4 file but is not one/);
      assert.doesNotMatch(error.message, /lrc/, "ffprobe's guess is no explanation for a person");
      assert.equal(error.details?.guessedFormat, "lrc");
    });

    it("named for what it is, a format mediaflow does not read is unsupported media", async () => {
      const path = join(dir, "lyrics.lrc");
      await writeFile(path, lyrics);
      const error = await probeFailure(probeMedia(tools, path));
      assert.equal(error.code, ErrorCodes.unsupportedMedia);
      assert.match(error.message, /ffprobe took it for lrc/);
    });
  });

  describe("refuses playlists and lists of files without reading what they name", () => {
    it("the sentinel does notice an unprotected ffprobe reading a playlist entry", async () => {
      const segment = join(dir, "control.ts");
      const watch = await sentinel(segment);
      const playlist = join(dir, "control.m3u8");
      await writeFile(playlist, `#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:2,\n${segment}\n#EXT-X-ENDLIST\n`);
      // Deliberately without the safe options, to prove the check below is not vacuous.
      await runTool({
        command: tools.ffprobe,
        args: ["-v", "error", "-show_format", playlist],
        timeoutMs: 5_000,
      }).catch(() => undefined);
      assert.equal(await watch.wasOpened(), true);
    });

    it("an HLS playlist naming /etc/passwd is unsupported media and nothing it names is read", async () => {
      const segment = join(dir, "secret.ts");
      const watch = await sentinel(segment);
      const playlist = join(dir, "evil.m3u8");
      await writeFile(
        playlist,
        `#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:2,\n${segment}\n#EXTINF:2,\n/etc/passwd\n#EXT-X-ENDLIST\n`,
      );
      const error = await probeFailure(probeMedia(tools, playlist));
      assert.equal(error.code, ErrorCodes.unsupportedMedia);
      assert.match(error.message, /playlist or refers to other files \(hls\)/);
      assert.equal(await watch.wasOpened(), false);
    });

    it("ffmpeg on the safe input options refuses the same playlist without reading what it names", async () => {
      const segment = join(dir, "secret2.ts");
      const watch = await sentinel(segment);
      const playlist = join(dir, "evil2.m3u8");
      await writeFile(playlist, `#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:2,\n${segment}\n#EXT-X-ENDLIST\n`);
      const error = await runTool({
        command: tools.ffmpeg,
        args: [...ffmpegGlobalArgs(), ...safeInputArgs(playlist), "-f", "null", "-"],
        timeoutMs: 5_000,
      }).catch((thrown: unknown) => thrown);
      assert.ok(error instanceof ToolError);
      assert.equal(error.code, ErrorCodes.toolFailed);
      assert.match(error.stderrTail, /\[hls @ [^\]]+\] Format not on whitelist/);
      assert.equal(await watch.wasOpened(), false);
    });

    it("an HLS playlist with a media file name is refused too", async () => {
      const playlist = join(dir, "sneaky.mp4");
      await writeFile(
        playlist,
        "#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:2,\n/etc/passwd\n#EXT-X-ENDLIST\n",
      );
      const error = await probeFailure(probeMedia(tools, playlist));
      assert.ok(REFUSED.has(error.code), `code ${error.code}`);
    });

    it("a concat list is unsupported media and nothing it names is read", async () => {
      const watch = await sentinel(join(dir, "part.ts"));
      const list = join(dir, "list.txt");
      await writeFile(list, "ffconcat version 1.0\nfile part.ts\nfile /etc/passwd\n");
      const error = await probeFailure(probeMedia(tools, list));
      assert.equal(error.code, ErrorCodes.unsupportedMedia);
      assert.match(error.message, /\(concat\)/);
      assert.equal(await watch.wasOpened(), false);
    });

    it("a file name that is an image2 sequence pattern does not read the numbered files", async () => {
      const plain = join(dir, "plain.png");
      await ffmpeg(tools, ["-f", "lavfi", "-i", "testsrc2=size=64x48", "-frames:v", "1", plain]);
      const pattern = join(dir, "still%d.png");
      await copyFile(plain, pattern);
      const watch = await sentinel(join(dir, "still1.png"));
      const error = await probeFailure(probeMedia(tools, pattern));
      assert.equal(error.code, ErrorCodes.unsupportedMedia);
      assert.match(error.message, /\(image2\)/);
      assert.equal(await watch.wasOpened(), false);
    });
  });
});

describe("mediaInfoFromProbe", () => {
  const video = (extra: Record<string, unknown>): FfprobeOutput => ({
    format: { format_name: "mov,mp4,m4a,3gp,3g2,mj2", duration: "10.5", bit_rate: "1000", probe_score: 100 },
    streams: [{ codec_type: "video", codec_name: "h264", width: 1920, height: 1080, ...extra }],
  });

  it("reads rotation from the display matrix, counter-clockwise in ffprobe, as clockwise degrees", () => {
    const info = mediaInfoFromProbe(
      video({ side_data_list: [{ side_data_type: "Display Matrix", rotation: -90 }] }),
      1,
    );
    assert.deepEqual([info.video?.rotation, info.video?.width, info.video?.height], [90, 1080, 1920]);
  });

  it("reads rotation from the older rotate tag", () => {
    const info = mediaInfoFromProbe(video({ tags: { rotate: "270" } }), 1);
    assert.deepEqual([info.video?.rotation, info.video?.width, info.video?.height], [270, 1080, 1920]);
    const upsideDown = mediaInfoFromProbe(video({ tags: { rotate: "180" } }), 1);
    assert.deepEqual([upsideDown.video?.width, upsideDown.video?.height], [1920, 1080]);
  });

  it("prefers avg_frame_rate and falls back to r_frame_rate", () => {
    const ntsc = mediaInfoFromProbe(video({ avg_frame_rate: "30000/1001", r_frame_rate: "60/1" }), 1);
    assert.ok(Math.abs((ntsc.video?.frameRate ?? 0) - 29.97) < 0.01);
    const unknownAverage = mediaInfoFromProbe(video({ avg_frame_rate: "0/0", r_frame_rate: "24/1" }), 1);
    assert.equal(unknownAverage.video?.frameRate, 24);
  });

  it("cover art does not make an audio file a video", () => {
    const info = mediaInfoFromProbe(
      {
        format: { format_name: "mp3", duration: "3.0", probe_score: 51 },
        streams: [
          { codec_type: "audio", codec_name: "mp3", channels: 2, sample_rate: "44100" },
          {
            codec_type: "video",
            codec_name: "mjpeg",
            width: 500,
            height: 500,
            disposition: { attached_pic: 1 },
          },
        ],
      },
      1,
    );
    assert.equal(info.kind, "audio");
    assert.equal(info.video, undefined);
    assert.equal(info.streams, 2);
  });

  it("refuses a format outside the allow-list even if ffprobe read it", () => {
    assert.throws(
      () => mediaInfoFromProbe({ format: { format_name: "hls" }, streams: [] }, 1),
      (error: unknown) => error instanceof PermanentError && error.code === ErrorCodes.unsupportedMedia,
    );
  });

  it("refuses a file with no audio or video", () => {
    assert.throws(
      () =>
        mediaInfoFromProbe(
          { format: { format_name: "matroska,webm" }, streams: [{ codec_type: "subtitle" }] },
          1,
        ),
      /no video or audio/,
    );
  });
});

function pseudoRandom(length: number): Buffer {
  const bytes = Buffer.alloc(length);
  let state = 0x2545f491;
  for (let i = 0; i < length; i++) {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    bytes[i] = state & 0xff;
  }
  return bytes;
}
