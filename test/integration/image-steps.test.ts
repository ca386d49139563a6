import assert from "node:assert/strict";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { crc32, deflateSync } from "node:zlib";
import sharp from "sharp";
import { ErrorCodes } from "../../src/errors/errors.js";
import type { PipelineSpec } from "../../src/pipeline/types.js";
import type { EngineFixture } from "../support/engine-fixture.js";
import { waitForJob } from "../support/engine-fixture.js";
import { makeImage, mediaPipeline, openMediaFixture, runMediaJob } from "../support/media-fixtures.js";

const resize = (withYaml: string): PipelineSpec =>
  mediaPipeline(`name: resize\nsteps:\n  thumb:\n    use: image.resize\n    with:\n${withYaml}`);
const transform = (withYaml: string): PipelineSpec =>
  mediaPipeline(`name: transform\nsteps:\n  turn:\n    use: image.transform\n    with:\n${withYaml}`);

/** A PNG: red, with a blue 10x10 square in the top-left corner, so turns and mirrors can be traced. */
async function cornerMarked(path: string): Promise<string> {
  const blue = await sharp({ create: { width: 10, height: 10, channels: 3, background: "#0000ff" } })
    .png()
    .toBuffer();
  await sharp({ create: { width: 40, height: 20, channels: 3, background: "#ff0000" } })
    .composite([{ input: blue, left: 0, top: 0 }])
    .png()
    .toFile(path);
  return path;
}

async function pixel(path: string, left: number, top: number): Promise<"blue" | "red" | "other"> {
  const [r = 0, g = 0, b = 0] = await sharp(path)
    .extract({ left, top, width: 1, height: 1 })
    .raw()
    .toBuffer();
  if (b > 200 && r < 50 && g < 50) return "blue";
  if (r > 200 && b < 50 && g < 50) return "red";
  return "other";
}

/**
 * A PNG whose header claims 30000x30000 (900 megapixels) followed by a few bytes of pixels: what a
 * decompression bomb looks like before anything is decoded.
 */
async function hugePngHeader(path: string): Promise<string> {
  const chunk = (type: string, data: Buffer): Buffer => {
    const body = Buffer.concat([Buffer.from(type, "ascii"), data]);
    const length = Buffer.alloc(4);
    length.writeUInt32BE(data.length);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(body) >>> 0);
    return Buffer.concat([length, body, crc]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(30_000, 0);
  ihdr.writeUInt32BE(30_000, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // truecolour
  const signature = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  const idat = chunk("IDAT", deflateSync(Buffer.alloc(16)));
  await writeFile(
    path,
    Buffer.concat([signature, chunk("IHDR", ihdr), idat, chunk("IEND", Buffer.alloc(0))]),
  );
  return path;
}

describe("image steps", () => {
  let fixture: EngineFixture;
  let photo: string;

  before(async () => {
    fixture = await openMediaFixture("mediaflow-image-");
    photo = await makeImage(join(fixture.dir, "photo.jpg"), { width: 640, height: 480 });
  });
  after(async () => {
    await fixture.close();
  });

  it("resize with fit cover makes exactly the box, named after the step and size", async () => {
    const run = await runMediaJob(
      fixture,
      resize("      sizes: { width: 100, height: 100, fit: cover }"),
      photo,
    );
    assert.equal(run.state.job.status, "succeeded");
    const [output] = run.outputs("thumb");
    assert.equal(output?.name, "thumb-100x100.jpg");
    assert.equal(output?.contentType, "image/jpeg");
    assert.deepEqual(output?.meta, { width: 100, height: 100, format: "jpeg" });
    const meta = await sharp(run.output("thumb")).metadata();
    assert.deepEqual([meta.format, meta.width, meta.height], ["jpeg", 100, 100]);
  });

  it("contain pads to the box and inside keeps the aspect ratio without padding", async () => {
    const sizes = [
      "      sizes:",
      "        - { width: 100, height: 100, fit: contain, name: padded }",
      "        - { width: 100, height: 100, fit: inside, name: fitted }",
      "        - { width: 200 }",
      "      format: png",
    ].join("\n");
    const run = await runMediaJob(fixture, resize(sizes), photo);
    assert.equal(run.state.job.status, "succeeded");
    assert.deepEqual(
      run.outputs("thumb").map((o) => o.name),
      ["padded.png", "fitted.png", "thumb-200w.png"],
    );
    const padded = await sharp(run.output("thumb", "padded.png")).metadata();
    assert.deepEqual([padded.width, padded.height, padded.hasAlpha], [100, 100, true]);
    // 640x480 is 4:3: inside a 100 box it is 100x75, and 200 wide is 200x150.
    const fitted = await sharp(run.output("thumb", "fitted.png")).metadata();
    assert.deepEqual([fitted.width, fitted.height], [100, 75]);
    const wide = await sharp(run.output("thumb", "thumb-200w.png")).metadata();
    assert.deepEqual([wide.format, wide.width, wide.height], ["png", 200, 150]);
    // The padding of a PNG is transparent by default.
    const [, , , alpha] = await sharp(run.output("thumb", "padded.png"))
      .extract({ left: 50, top: 2, width: 1, height: 1 })
      .raw()
      .toBuffer();
    assert.equal(alpha, 0);
  });

  it("does not enlarge a small picture unless asked to", async () => {
    const yaml = "      sizes: [{ width: 1000, name: kept }]\n";
    const kept = await runMediaJob(fixture, resize(yaml), photo);
    assert.deepEqual(kept.outputs("thumb")[0]?.meta, { width: 640, height: 480, format: "jpeg" });
    const grown = await runMediaJob(fixture, resize(`${yaml}      withoutEnlargement: false`), photo);
    assert.deepEqual(grown.outputs("thumb")[0]?.meta, { width: 1000, height: 750, format: "jpeg" });
  });

  for (const format of ["webp", "avif", "png"] as const) {
    it(`writes ${format} when asked, with its content type`, async () => {
      const run = await runMediaJob(
        fixture,
        resize(`      sizes: { width: 64 }\n      format: ${format}`),
        photo,
      );
      assert.equal(run.state.job.status, "succeeded");
      const output = run.outputs("thumb")[0];
      assert.equal(output?.contentType, `image/${format}`);
      const meta = await sharp(run.output("thumb")).metadata();
      // sharp reports AVIF as the HEIF container it lives in, with AV1 inside.
      assert.equal(
        meta.format === "heif" ? `${meta.format}/${meta.compression}` : meta.format,
        {
          webp: "webp",
          avif: "heif/av1",
          png: "png",
        }[format],
      );
      assert.deepEqual([meta.width, meta.height], [64, 48]);
    });
  }

  it("turns a photo with EXIF orientation 6 upright and strips its metadata", async () => {
    const sideways = join(fixture.dir, "sideways.jpg");
    await sharp(await sharp(photo).resize(64, 32, { fit: "fill" }).toBuffer())
      .withMetadata({ orientation: 6 })
      .jpeg()
      .toFile(sideways);
    assert.equal((await sharp(sideways).metadata()).orientation, 6);
    const run = await runMediaJob(fixture, resize("      sizes: { width: 1000 }"), sideways);
    const meta = await sharp(run.output("thumb")).metadata();
    assert.deepEqual([meta.width, meta.height], [32, 64]);
    assert.equal(meta.orientation, undefined);
    assert.equal(meta.exif, undefined);
  });

  it("rotate 90 turns the picture clockwise and swaps its sides", async () => {
    const marked = await cornerMarked(join(fixture.dir, "marked-rotate.png"));
    const run = await runMediaJob(fixture, transform("      rotate: 90"), marked);
    assert.equal(run.state.job.status, "succeeded");
    assert.equal(run.outputs("turn")[0]?.name, "turn.png");
    const path = run.output("turn");
    const meta = await sharp(path).metadata();
    assert.deepEqual([meta.format, meta.width, meta.height], ["png", 20, 40]);
    // Clockwise: the top-left corner goes to the top-right.
    assert.equal(await pixel(path, 15, 2), "blue");
    assert.equal(await pixel(path, 2, 2), "red");
  });

  it("flip mirrors top to bottom and flop mirrors left to right", async () => {
    const marked = await cornerMarked(join(fixture.dir, "marked-mirror.png"));
    const flipped = await runMediaJob(fixture, transform("      flip: true"), marked);
    assert.equal(await pixel(flipped.output("turn"), 2, 17), "blue");
    assert.equal(await pixel(flipped.output("turn"), 2, 2), "red");
    const flopped = await runMediaJob(fixture, transform("      flop: true\n      format: webp"), marked);
    assert.equal(flopped.outputs("turn")[0]?.name, "turn.webp");
    assert.equal(await pixel(flopped.output("turn"), 36, 2), "blue");
    assert.equal(await pixel(flopped.output("turn"), 2, 2), "red");
  });

  it("refuses bad inputs at once with clear codes, and the same worker then runs a good job", async () => {
    const bad = {
      "zero.jpg": Buffer.alloc(0),
      "one.jpg": Buffer.from([0xff]),
      "random.jpg": Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 7919 + 13) % 251)),
      "text.jpg": Buffer.from("this is not a picture, only some text\n".repeat(20)),
    };
    const expected = new Map<string, string>();
    for (const [name, bytes] of Object.entries(bad)) {
      await writeFile(join(fixture.dir, name), bytes);
      expected.set(name, ErrorCodes.unsupportedMedia);
    }
    const whole = await sharp(photo).toBuffer();
    await writeFile(join(fixture.dir, "truncated.jpg"), whole.subarray(0, Math.floor(whole.length * 0.6)));
    expected.set("truncated.jpg", ErrorCodes.corruptMedia);
    await hugePngHeader(join(fixture.dir, "huge.png"));
    expected.set("huge.png", ErrorCodes.inputTooLarge);

    const pipeline = resize("      sizes: { width: 100, height: 100, fit: cover }");
    const worker = fixture.worker();
    worker.start();
    try {
      const submit = async (filename: string) => {
        const key = `inputs/bad/${filename}`;
        const info = await fixture.storage.putFile(key, join(fixture.dir, filename));
        const { job } = await fixture.engine.createJob({
          pipeline,
          input: { key, filename, bytes: info.bytes },
          params: {},
        });
        return job.job.id;
      };
      for (const [filename, code] of expected) {
        const started = Date.now();
        const state = await waitForJob(fixture.engine, await submit(filename), 10_000);
        const elapsed = Date.now() - started;
        assert.equal(state.job.status, "failed", filename);
        const error = state.steps.thumb?.error;
        assert.equal(error?.code, code, `${filename}: ${error?.message}`);
        assert.match(error?.message ?? "", new RegExp(filename.replace(".", "\\.")));
        // One attempt only: retrying the same bytes cannot help.
        assert.equal(state.steps.thumb?.attempts, 1, filename);
        assert.ok(elapsed < 2_000, `${filename} took ${elapsed} ms to fail`);
        if (filename === "huge.png") {
          assert.match(error?.message ?? "", /30000x30000, above the 100 megapixel limit/);
        }
      }

      await writeFile(join(fixture.dir, "good.jpg"), await sharp(photo).toBuffer());
      const good = await waitForJob(fixture.engine, await submit("good.jpg"), 10_000);
      assert.equal(good.job.status, "succeeded");
    } finally {
      await worker.stop();
    }
  });

  it("rejects a size with neither width nor height when the pipeline is parsed", () => {
    assert.throws(() => resize("      sizes: { fit: cover }"), /give a width, a height, or both/);
  });
});
