import { strict as assert } from "node:assert";
import { describe, it } from "node:test";
import { pipelineJsonSchema } from "../../src/pipeline/pipeline-json-schema.js";
import { builtinCatalog } from "../../src/steps/builtin-steps.js";
import { testCatalog } from "./pipeline-test-catalog.js";

type Node = Record<string, unknown>;

function node(value: unknown, where: string): Node {
  assert.ok(value !== null && typeof value === "object" && !Array.isArray(value), `no object at ${where}`);
  return value as Node;
}

/** Walks a JSON Schema down a chain of keys, failing with the chain when a link is missing. */
function at(schema: Node, ...keys: string[]): Node {
  return keys.reduce((current, key, index) => node(current[key], keys.slice(0, index + 1).join(".")), schema);
}

/** The `with` schema the if/then for `type` selects. */
function withSchemaOf(schema: Node, type: string): Node {
  const branches = at(schema, "properties", "steps", "additionalProperties").allOf;
  assert.ok(Array.isArray(branches));
  const branch = branches
    .map((item) => node(item, "allOf[]"))
    .find((item) => {
      return at(item, "if", "properties", "use").const === type;
    });
  assert.ok(branch, `no if/then for ${type}`);
  return at(branch, "then", "properties", "with");
}

function collectRefs(value: unknown, refs: string[] = []): string[] {
  if (Array.isArray(value)) for (const item of value) collectRefs(item, refs);
  else if (value !== null && typeof value === "object") {
    for (const [key, item] of Object.entries(value)) {
      if (key === "$ref" && typeof item === "string") refs.push(item);
      else collectRefs(item, refs);
    }
  }
  return refs;
}

describe("pipelineJsonSchema", () => {
  const catalog = testCatalog();
  const schema = pipelineJsonSchema(catalog);

  it("is a draft 2020-12 schema that survives a round trip through JSON", () => {
    assert.equal(schema.$schema, "https://json-schema.org/draft/2020-12/schema");
    assert.equal(schema.type, "object");
    assert.deepEqual(JSON.parse(JSON.stringify(schema)), schema);
    assert.deepEqual(schema.required, ["name", "steps"]);
    assert.equal(schema.additionalProperties, false);
  });

  it("lists every step type of the catalog in use and gives each its own with schema", () => {
    const use = at(schema, "properties", "steps", "additionalProperties", "properties", "use");
    assert.deepEqual(use.enum, [...catalog.keys()]);
    for (const type of catalog.keys()) withSchemaOf(schema, type);
    assert.ok(JSON.stringify(pipelineJsonSchema(builtinCatalog())).includes('"util.wait"'));
  });

  it("describes the with fields of a known step type, required ones and defaults included", () => {
    const transcode = withSchemaOf(schema, "video.transcode");
    assert.deepEqual(transcode.required, ["height"]);
    assert.equal(transcode.additionalProperties, false);
    const height = at(transcode, "properties", "height");
    assert.ok(Array.isArray(height.anyOf));
    assert.equal(node(height.anyOf[0], "height").type, "integer");
    const sleep = withSchemaOf(schema, "util.sleep");
    assert.equal(sleep.description, builtinCatalog().get("util.sleep")?.description);
    assert.match(JSON.stringify(at(sleep, "properties", "duration")), /"default":"1s"/);
  });

  it(`lets any with field be a \${params.x} reference`, () => {
    const height = at(withSchemaOf(schema, "video.transcode"), "properties", "height");
    assert.ok(Array.isArray(height.anyOf));
    assert.deepEqual(height.anyOf[1], { $ref: "#/$defs/paramReference" });
    const pattern = at(schema, "$defs", "paramReference").pattern;
    assert.equal(typeof pattern, "string");
    assert.ok(new RegExp(pattern as string).test(`\${params.height}`));
  });

  it("describes durations as written, a number of milliseconds or a string with a unit", () => {
    const initialDelay = at(
      schema,
      "properties",
      "steps",
      "additionalProperties",
      "properties",
      "retry",
      "properties",
      "initialDelay",
    );
    assert.ok(Array.isArray(initialDelay.anyOf));
    const types = initialDelay.anyOf.map((branch) => node(branch, "anyOf[]").type);
    assert.deepEqual(types, ["number", "string"]);
    const pattern = node(initialDelay.anyOf[1], "string branch").pattern;
    assert.ok(typeof pattern === "string");
    for (const good of ["2s", "500ms", "1.5h", "7d"]) assert.ok(new RegExp(pattern).test(good), good);
    assert.ok(!new RegExp(pattern).test("2 seconds"));
    assert.equal(initialDelay.default, 1000);
  });

  it("makes fields with defaults optional, as a user writes them", () => {
    const step = at(schema, "properties", "steps", "additionalProperties");
    assert.deepEqual(step.required, ["use"]);
    assert.equal(step.additionalProperties, false);
  });

  it("resolves every $ref inside the document", () => {
    const defs = at(schema, "$defs");
    const refs = collectRefs(schema);
    assert.ok(refs.length > 0);
    for (const ref of refs) {
      assert.match(ref, /^#\/\$defs\//);
      assert.ok(Object.hasOwn(defs, ref.slice("#/$defs/".length)), ref);
    }
  });
});
