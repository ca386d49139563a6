import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { ValidationError } from "../../src/errors/errors.js";
import { bundledPipelinesDir } from "../../src/pipeline/bundled-pipelines.js";
import { loadPipelineDir } from "../../src/pipeline/load-pipelines.js";
import { builtinCatalog } from "../../src/steps/builtin-steps.js";
import { isIgnoredName } from "../../src/triggers/inbox-scan.js";
import { createdObjects, s3EventSchema, storeKeyFor } from "../../src/triggers/s3-event.js";
import { checkRulePipelines, matchRule, parseTriggerRules } from "../../src/triggers/trigger-rules.js";

const rulesYaml = `
rules:
  - name: cameras
    prefix: cameras/
    match: { suffix: [".MP4", ".mov"] }
    pipeline: abr
    params: { ladder: small }
    tenant: studio
  - name: any-video
    match: { contentType: ["video/*"] }
    pipeline: renditions
`;

function validationIssues(run: () => unknown): { path: string; message: string }[] {
  try {
    run();
  } catch (error) {
    assert.ok(error instanceof ValidationError, `expected a ValidationError, got ${String(error)}`);
    return [...error.issues];
  }
  assert.fail("expected the rules to be refused");
}

describe("trigger rules", () => {
  const rules = parseTriggerRules(rulesYaml, "triggers.yaml");

  it("fills defaults: no prefix matches every key, the tenant is default, params are empty", () => {
    const anyVideo = rules[1];
    assert.equal(anyVideo?.prefix, "");
    assert.equal(anyVideo?.tenant, "default");
    assert.deepEqual(anyVideo?.params, {});
    assert.deepEqual(rules[0]?.params, { ladder: "small" });
  });

  it("matches a suffix case-insensitively under the rule's prefix, in subfolders too", () => {
    assert.equal(matchRule(rules, { key: "cameras/door/a.mp4" })?.name, "cameras");
    assert.equal(matchRule(rules, { key: "cameras/Door.MOV" })?.name, "cameras");
  });

  it("takes the first matching rule, in file order", () => {
    // Both rules take a camera .mp4 (it is also video/*); the earlier one wins.
    assert.equal(matchRule(rules, { key: "cameras/a.mp4", contentType: "video/mp4" })?.name, "cameras");
    assert.equal(matchRule(rules, { key: "elsewhere/a.mp4" })?.name, "any-video");
  });

  it("matches content types by wildcard, from the name when the source gives none", () => {
    assert.equal(matchRule(rules, { key: "x/clip.webm" })?.name, "any-video");
    assert.equal(
      matchRule(rules, { key: "x/blob", contentType: "video/quicktime; codecs=x" })?.name,
      "any-video",
    );
    assert.equal(matchRule(rules, { key: "x/blob.bin", contentType: "application/octet-stream" }), undefined);
  });

  it("matches nothing for a text file", () => {
    assert.equal(matchRule(rules, { key: "cameras/notes.txt" }), undefined);
  });

  it("names the rule and the field of every problem in one error", () => {
    const issues = validationIssues(() =>
      parseTriggerRules(
        `rules:
  - name: cams
    prefix: /abs/
    match: { suffix: ["mp4"] }
    pipeline: abr
  - name: cams
    match: { suffix: [".mp4"] }
    pipeline: abr
    tenannt: x
`,
        "triggers.yaml",
      ),
    );
    const paths = issues.map((issue) => issue.path);
    assert.ok(paths.includes("rules[0](cams).prefix"), paths.join(", "));
    assert.ok(
      paths.some((path) => path.startsWith("rules[0](cams).match")),
      paths.join(", "),
    );
    assert.ok(paths.includes("rules[1](cams)"), paths.join(", "));
  });

  it("refuses two rules with the same name", () => {
    const issues = validationIssues(() =>
      parseTriggerRules(
        "rules:\n  - {name: a, match: {suffix: ['.mp4']}, pipeline: p}\n  - {name: a, match: {suffix: ['.mov']}, pipeline: p}\n",
        "t.yaml",
      ),
    );
    assert.deepEqual(issues, [{ path: "rules[1](a).name", message: "another rule has this name" }]);
  });

  it("reports YAML syntax errors as validation problems", () => {
    const issues = validationIssues(() => parseTriggerRules("rules: [\n", "t.yaml"));
    assert.match(issues[0]?.message ?? "", /YAML syntax error/);
  });
});

describe("inbox names", () => {
  it("skips dotfiles and files still being written", () => {
    for (const name of [".DS_Store", ".processed", "a.mp4.part", "a.tmp", "a.mp4~", "a.crdownload"]) {
      assert.equal(isIgnoredName(name), true, name);
    }
    assert.equal(isIgnoredName("a.mp4"), false);
  });
});

describe("S3 event notifications", () => {
  const event = s3EventSchema.parse({
    Records: [
      {
        eventName: "s3:ObjectCreated:Put",
        s3: {
          bucket: { name: "media" },
          object: { key: "in/cameras/my+clip%281%29.mp4", size: 10, eTag: '"abc"', contentType: "video/mp4" },
        },
      },
      {
        eventName: "s3:ObjectRemoved:Delete",
        s3: { bucket: { name: "media" }, object: { key: "in/x.mp4" } },
      },
      { eventName: "ObjectCreated:Put", s3: { bucket: { name: "media" }, object: { key: "bad%zzkey" } } },
    ],
  });

  it("keeps created objects only, decodes `+` as a space and unquotes the ETag", () => {
    const objects = createdObjects(event);
    assert.equal(objects.length, 1);
    assert.deepEqual(objects[0], {
      bucket: "media",
      key: "in/cameras/my clip(1).mp4",
      bytes: 10,
      etag: "abc",
      contentType: "video/mp4",
    });
  });

  it("makes keys relative to the store's bucket and prefix, and drops objects outside it", () => {
    const [object] = createdObjects(event);
    assert.ok(object !== undefined);
    assert.equal(storeKeyFor(object, { bucket: "media", keyPrefix: "in/" }), "cameras/my clip(1).mp4");
    assert.equal(storeKeyFor(object, { bucket: "other", keyPrefix: "in/" }), undefined);
    assert.equal(storeKeyFor(object, { bucket: "media", keyPrefix: "out/" }), undefined);
    assert.equal(storeKeyFor(object, undefined), "in/cameras/my clip(1).mp4");
  });
});

describe("the example rules file", () => {
  it("is valid and names bundled pipelines only", async () => {
    const path = fileURLToPath(new URL("../../../docs/triggers.example.yaml", import.meta.url));
    const rules = parseTriggerRules(await readFile(path, "utf8"), path);
    assert.deepEqual(
      rules.map((rule) => rule.name),
      ["camera-uploads", "other-videos", "photos"],
    );
    const pipelines = await loadPipelineDir(bundledPipelinesDir, builtinCatalog());
    checkRulePipelines(rules, pipelines, path);
  });
});
