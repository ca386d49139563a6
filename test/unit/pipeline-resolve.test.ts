import { strict as assert } from "node:assert";
import { describe, it } from "node:test";
import { ErrorCodes, ValidationError } from "../../src/errors/errors.js";
import { parsePipeline } from "../../src/pipeline/parse-pipeline.js";
import { parseParamAssignments, resolvePipeline } from "../../src/pipeline/resolve-pipeline.js";
import type { PipelineSpec } from "../../src/pipeline/types.js";
import type { JsonValue } from "../../src/util/json.js";
import { testCatalog } from "./pipeline-test-catalog.js";

const catalog = testCatalog();

const pipeline = parsePipeline(
  `
name: renditions
params:
  height: { description: "target height" }
  codec: { default: av1 }
  label: { default: "video" }
  sizes: { default: [240, 480] }
steps:
  sd:
    use: video.transcode
    with:
      height: "\${params.height}"
      codec: "\${params.codec}"
      name: "\${params.label}-\${params.height}p"
      sizes: "\${params.sizes}"
  nap:
    use: util.sleep
    needs: sd
    with: { duration: 1s }
`,
  "renditions.yaml",
  catalog,
);

function resolveError(spec: PipelineSpec, values: Record<string, JsonValue>): ValidationError {
  try {
    resolvePipeline(spec, values, catalog);
  } catch (error) {
    assert.ok(error instanceof ValidationError, `expected a ValidationError, got ${String(error)}`);
    return error;
  }
  assert.fail("the values were accepted");
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === "object") {
    for (const item of Object.values(value)) deepFreeze(item);
    Object.freeze(value);
  }
  return value;
}

describe("resolvePipeline", () => {
  it("replaces a string that is exactly one reference by the value, keeping its type", () => {
    const resolved = resolvePipeline(pipeline, { height: 720 }, catalog);
    assert.equal(resolved.steps.sd?.with.height, 720);
    assert.deepEqual(resolved.steps.sd?.with.sizes, [240, 480]);
  });

  it("interpolates references inside a longer string", () => {
    const resolved = resolvePipeline(pipeline, { height: 720, label: "clip" }, catalog);
    assert.equal(resolved.steps.sd?.with.name, "clip-720p");
  });

  it("interpolates non-string values as JSON", () => {
    const spec = parsePipeline(
      `name: p\nparams:\n  n: {}\nsteps:\n  a: { use: util.noop, with: { data: "n=\${params.n}" } }\n`,
      "p.yaml",
      catalog,
    );
    assert.equal(resolvePipeline(spec, { n: [1, 2] }, catalog).steps.a?.with.data, "n=[1,2]");
    assert.equal(resolvePipeline(spec, { n: null }, catalog).steps.a?.with.data, "n=null");
  });

  it("tolerates spaces inside the braces of a reference", () => {
    const spec = parsePipeline(
      `name: p\nparams:\n  n: {}\nsteps:\n  a: { use: util.noop, with: { data: "\${ params.n }" } }\n`,
      "p.yaml",
      catalog,
    );
    assert.equal(resolvePipeline(spec, { n: 3 }, catalog).steps.a?.with.data, 3);
  });

  it("substitutes references nested in objects and lists", () => {
    const spec = parsePipeline(
      `name: p\nparams:\n  n: {}\nsteps:\n  a: { use: util.noop, with: { data: { list: ["\${params.n}", { deep: "\${params.n}" }] } } }\n`,
      "p.yaml",
      catalog,
    );
    assert.deepEqual(resolvePipeline(spec, { n: 3 }, catalog).steps.a?.with.data, { list: [3, { deep: 3 }] });
  });

  it("uses a parameter's default unless the job sets it", () => {
    assert.equal(resolvePipeline(pipeline, { height: 720 }, catalog).steps.sd?.with.codec, "av1");
    assert.equal(
      resolvePipeline(pipeline, { height: 720, codec: "h264" }, catalog).steps.sd?.with.codec,
      "h264",
    );
  });

  it("refuses a job that leaves a required parameter unset, at params.<name>", () => {
    const error = resolveError(pipeline, {});
    assert.equal(error.code, ErrorCodes.invalidParams);
    assert.deepEqual(error.issues, [
      { path: "params.height", message: "required parameter is not set (target height)" },
    ]);
  });

  it("refuses parameters the pipeline does not declare and suggests the one meant", () => {
    const error = resolveError(pipeline, { height: 720, labl: "x" });
    assert.equal(error.code, ErrorCodes.invalidParams);
    assert.deepEqual(error.issues, [
      { path: "params.labl", message: 'unknown parameter (did you mean "label"?)' },
    ]);
  });

  it("does not mistake inherited object properties for parameters", () => {
    const error = resolveError(pipeline, { height: 720, constructor: 1 });
    assert.deepEqual(
      error.issues.map((issue) => issue.path),
      ["params.constructor"],
    );
  });

  it("validates each step's with against its type's schema once values are in", () => {
    const error = resolveError(pipeline, { height: "tall", codec: "vp9" });
    assert.equal(error.code, ErrorCodes.invalidParams);
    assert.match(
      error.issues.find((issue) => issue.path === "steps.sd.with.height")?.message ?? "",
      /from \$\{params\.height\}/,
    );
    assert.ok(error.issues.some((issue) => issue.path === "steps.sd.with.codec"));
  });

  it("reports every problem at once", () => {
    const error = resolveError(pipeline, { codec: "vp9", extra: true });
    assert.deepEqual(error.issues.map((issue) => issue.path).sort(), [
      "params.extra",
      "params.height",
      "steps.sd.with.codec",
    ]);
  });

  it("keeps with in the form written, for the step's schema to parse when it runs", () => {
    const resolved = resolvePipeline(pipeline, { height: 720 }, catalog);
    assert.equal(resolved.steps.nap?.with.duration, "1s");
  });

  it("leaves the spec and the values untouched and returns a spec that shares nothing with them", () => {
    const spec = deepFreeze(structuredClone(pipeline));
    const values = deepFreeze({ height: 720, sizes: [1, 2] });
    const resolved = resolvePipeline(spec, values, catalog);
    assert.deepEqual(spec, pipeline);
    assert.equal(spec.steps.sd?.with.height, `\${params.height}`);
    assert.notEqual(resolved.steps.sd, spec.steps.sd);
    assert.notEqual(resolved.steps.sd?.retry, spec.steps.sd?.retry);
    assert.notEqual(resolved.steps.sd?.with.sizes, values.sizes);
    assert.deepEqual(resolved.steps.sd?.with.sizes, [1, 2]);
    assert.deepEqual(resolved.steps.nap?.needs, ["sd"]);
  });
});

describe("parseParamAssignments", () => {
  it("parses values as JSON when they are JSON and keeps other text as strings", () => {
    assert.deepEqual(
      parseParamAssignments([
        "height=720",
        "ratio=1.5",
        "on=true",
        "nothing=null",
        "sizes=[240,480]",
        'meta={"a":1}',
        "title=hello world",
        'quoted="720"',
        "padded=007",
        "empty=",
      ]),
      {
        height: 720,
        ratio: 1.5,
        on: true,
        nothing: null,
        sizes: [240, 480],
        meta: { a: 1 },
        title: "hello world",
        quoted: "720",
        padded: "007",
        empty: "",
      },
    );
  });

  it("splits at the first = only", () => {
    assert.deepEqual(parseParamAssignments(["filter=a=b"]), { filter: "a=b" });
  });

  it("keeps the last value of a key set twice", () => {
    assert.deepEqual(parseParamAssignments(["h=1", "h=2"]), { h: 2 });
  });

  it("keeps a number too large for JSON as the text typed", () => {
    assert.deepEqual(parseParamAssignments(["n=1e999"]), { n: "1e999" });
  });

  it("rejects assignments without a key or an = as invalid arguments, all at once", () => {
    try {
      parseParamAssignments(["height", "=720", "ok=1"]);
      assert.fail("accepted");
    } catch (error) {
      assert.ok(error instanceof ValidationError);
      assert.equal(error.code, ErrorCodes.invalidArgument);
      assert.deepEqual(
        error.issues.map((issue) => issue.message),
        ['"height" is not key=value', '"=720" is not key=value'],
      );
    }
  });
});
