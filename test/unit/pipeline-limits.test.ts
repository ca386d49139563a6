import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ValidationError } from "../../src/errors/errors.js";
import { parsePipeline } from "../../src/pipeline/parse-pipeline.js";
import { resolvePipeline } from "../../src/pipeline/resolve-pipeline.js";
import { builtinCatalog } from "../../src/steps/builtin-steps.js";

const catalog = builtinCatalog();
const withLimits = (limits: string) => `name: bounded\n${limits}steps:\n  wait:\n    use: util.noop\n`;

describe("pipeline limits", () => {
  it("are unset when the file leaves them out", () => {
    assert.equal(parsePipeline(withLimits(""), "bounded.yaml", catalog).limits, undefined);
  });

  it("take bytes, a duration and sides in pixels, and survive resolving a job's pipeline", () => {
    const spec = parsePipeline(
      withLimits("limits: { maxBytes: 1000000, maxDuration: 90s, maxWidth: 1920, maxHeight: 1080 }\n"),
      "bounded.yaml",
      catalog,
    );
    const expected = { maxBytes: 1_000_000, maxDurationMs: 90_000, maxWidth: 1920, maxHeight: 1080 };
    assert.deepEqual(spec.limits, expected);
    assert.deepEqual(resolvePipeline(spec, {}, catalog).limits, expected);
  });

  it("refuse a misspelt key, a zero and a duration that is not one, naming the field", () => {
    const cases = [
      ["limits: { maxSize: 10 }\n", "limits.maxSize"],
      ["limits: { maxBytes: 0 }\n", "limits.maxBytes"],
      ["limits: { maxWidth: 0 }\n", "limits.maxWidth"],
      ["limits: { maxDuration: forever }\n", "limits.maxDuration"],
    ] as const;
    for (const [bad, path] of cases) {
      assert.throws(
        () => parsePipeline(withLimits(bad), "bounded.yaml", catalog),
        (error: unknown) =>
          error instanceof ValidationError && error.issues.some((issue) => issue.path === path),
        bad,
      );
    }
  });
});
