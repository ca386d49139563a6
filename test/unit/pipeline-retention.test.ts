import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ValidationError } from "../../src/errors/errors.js";
import { parsePipeline } from "../../src/pipeline/parse-pipeline.js";
import { expiresAtOf, retentionDefaults, retentionOf } from "../../src/pipeline/retention.js";
import { builtinCatalog } from "../../src/steps/builtin-steps.js";

const catalog = builtinCatalog();
const withRetention = (retention: string) => `name: kept\n${retention}steps:\n  wait:\n    use: util.noop\n`;

describe("pipeline retention", () => {
  it("is a week when the file leaves it out", () => {
    const spec = parsePipeline(withRetention(""), "kept.yaml", catalog);
    assert.equal(spec.retentionMs, 7 * 86_400_000);
    assert.equal(retentionOf(spec), retentionDefaults.retentionMs);
  });

  it("takes a duration such as 30d or 1s", () => {
    assert.equal(
      parsePipeline(withRetention("retention: 30d\n"), "kept.yaml", catalog).retentionMs,
      30 * 86_400_000,
    );
    assert.equal(parsePipeline(withRetention("retention: 1s\n"), "kept.yaml", catalog).retentionMs, 1_000);
  });

  it("refuses a retention shorter than a second or one that is not a duration, naming the field", () => {
    for (const bad of ["retention: 0s\n", "retention: 500ms\n", "retention: forever\n"]) {
      assert.throws(
        () => parsePipeline(withRetention(bad), "kept.yaml", catalog),
        (error: unknown) =>
          error instanceof ValidationError && error.issues.some((issue) => issue.path === "retention"),
      );
    }
  });

  it("a job stored before retention existed is kept for the default week after it finishes", () => {
    assert.equal(expiresAtOf({ finishedAt: 1_000, pipeline: {} }), 1_000 + retentionDefaults.retentionMs);
    assert.equal(expiresAtOf({ finishedAt: null, pipeline: { retentionMs: 5 } }), null);
  });
});
