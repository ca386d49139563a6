import { strict as assert } from "node:assert";
import { mkdir, mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { ErrorCodes, PermanentError, ValidationError } from "../../src/errors/errors.js";
import { loadPipelineDir, loadPipelineFile } from "../../src/pipeline/load-pipelines.js";
import { builtinCatalog } from "../../src/steps/builtin-steps.js";

const catalog = builtinCatalog();
// Compiled tests live in <outDir>/test/unit, three levels below the repository.
const bundled = fileURLToPath(new URL("../../../pipelines/", import.meta.url));

const scratch = await mkdtemp(join(tmpdir(), "mediaflow-pipeline-load-"));
after(async () => {
  await rm(scratch, { recursive: true, force: true });
});

async function directory(name: string, files: Record<string, string>): Promise<string> {
  const dir = join(scratch, name);
  await mkdir(dir);
  for (const [file, text] of Object.entries(files)) await writeFile(join(dir, file), text);
  return dir;
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  assert.fail("expected a rejection");
}

describe("loadPipelineFile and loadPipelineDir", () => {
  it("load the bundled demo pipelines with the built-in steps", async () => {
    const pipelines = await loadPipelineDir(bundled, catalog);
    // Every file in the folder loads, each under the name it declares (the file's own name).
    const files = (await readdir(bundled)).filter((file) => /\.(ya?ml|json)$/.test(file));
    assert.deepEqual(
      [...pipelines.keys()].sort(),
      files.map((file) => file.replace(/\.(ya?ml|json)$/, "")).sort(),
    );
    assert.ok(pipelines.has("demo") && pipelines.has("retry-demo"));
    const demo = pipelines.get("demo");
    assert.ok(demo?.description);
    assert.deepEqual(demo.steps.finish?.needs, ["left", "right", "split"]);
    assert.equal(demo.steps.split?.use, "util.split");
    assert.equal(pipelines.get("retry-demo")?.steps.unreliable?.retry.attempts, 4);
  });

  it("reads YAML, YML and JSON files and ignores others", async () => {
    const dir = await directory("mixed", {
      "a.yaml": "name: a\nsteps:\n  s: { use: util.noop }\n",
      "b.yml": "name: b\nsteps:\n  s: { use: util.noop }\n",
      "c.json": '{"name": "c", "steps": {"s": {"use": "util.noop"}}}',
      "notes.txt": "not a pipeline",
    });
    assert.deepEqual([...(await loadPipelineDir(dir, catalog)).keys()], ["a", "b", "c"]);
  });

  it("reports a name defined twice, naming both files", async () => {
    const dir = await directory("duplicates", {
      "first.yaml": "name: same\nsteps:\n  s: { use: util.noop }\n",
      "second.yaml": "name: same\nsteps:\n  s: { use: util.sleep }\n",
    });
    const error = await rejection(loadPipelineDir(dir, catalog));
    assert.ok(error instanceof ValidationError);
    assert.equal(error.source, dir);
    assert.deepEqual(error.issues, [
      { path: "second.yaml:name", message: 'pipeline "same" is already defined in first.yaml' },
    ]);
  });

  it("reports the problems of every invalid file, each under its file name", async () => {
    const dir = await directory("invalid", {
      "one.yaml": "name: one\nsteps:\n  s: { use: util.nope }\n",
      "two.yaml": "name: two\nsteps: {\n",
    });
    const error = await rejection(loadPipelineDir(dir, catalog));
    assert.ok(error instanceof ValidationError);
    assert.equal(error.code, ErrorCodes.invalidPipeline);
    assert.deepEqual(
      error.issues.map((issue) => issue.path),
      ["one.yaml:steps.s.use", "two.yaml"],
    );
  });

  it("reports a missing file as not_found and an invalid one with its path as source", async () => {
    const missing = await rejection(loadPipelineFile(join(scratch, "nope.yaml"), catalog));
    assert.ok(missing instanceof PermanentError);
    assert.equal(missing.code, ErrorCodes.notFound);
    assert.match(missing.message, /pipeline file .*nope\.yaml does not exist/);

    const dir = await directory("single", {
      "bad.yaml": "name: bad\nsteps:\n  s: { use: util.noop, need: x }\n",
    });
    const invalid = await rejection(loadPipelineFile(join(dir, "bad.yaml"), catalog));
    assert.ok(invalid instanceof ValidationError);
    assert.equal(invalid.source, join(dir, "bad.yaml"));
    assert.equal(invalid.issues[0]?.path, "steps.s.need");
  });

  it("reports a missing directory as not_found", async () => {
    const error = await rejection(loadPipelineDir(join(scratch, "absent"), catalog));
    assert.ok(error instanceof PermanentError);
    assert.equal(error.code, ErrorCodes.notFound);
  });
});
