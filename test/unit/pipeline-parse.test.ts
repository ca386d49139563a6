import { strict as assert } from "node:assert";
import { describe, it } from "node:test";
import { ErrorCodes, ValidationError } from "../../src/errors/errors.js";
import { parsePipeline } from "../../src/pipeline/parse-pipeline.js";
import { retryDefaults } from "../../src/pipeline/types.js";
import { testCatalog } from "./pipeline-test-catalog.js";

const catalog = testCatalog();

const renditionsYaml = `
name: renditions
description: Two renditions of a video
params:
  height: { default: 720, description: "target height" }
steps:
  probe:
    use: media.probe
  sd:
    use: video.transcode
    needs: probe
    with: { height: "\${params.height}" }
    retry: { attempts: 5, initialDelay: 2s, maxDelay: 1m, jitter: 0.3 }
    timeout: 10m
    priority: 2
    join: some-succeeded
  hd:
    use: video.transcode
    needs: [probe]
    with: { height: 1080 }
`;

/** Parses `text` expecting a ValidationError and returns it. */
function parseError(text: string): ValidationError {
  try {
    parsePipeline(text, "test.yaml", catalog);
  } catch (error) {
    assert.ok(error instanceof ValidationError, `expected a ValidationError, got ${String(error)}`);
    return error;
  }
  assert.fail("the pipeline was accepted");
}

function messageAt(error: ValidationError, path: string): string {
  const issue = error.issues.find((candidate) => candidate.path === path);
  assert.ok(issue, `no issue at ${path}; issues: ${JSON.stringify(error.issues)}`);
  return issue.message;
}

describe("parsePipeline", () => {
  it("parses a YAML pipeline and fills in every default", () => {
    const spec = parsePipeline(renditionsYaml, "renditions.yaml", catalog);
    assert.equal(spec.name, "renditions");
    assert.equal(spec.description, "Two renditions of a video");
    assert.deepEqual(spec.params, { height: { default: 720, description: "target height" } });
    assert.deepEqual(Object.keys(spec.steps), ["probe", "sd", "hd"]);
    assert.deepEqual(spec.steps.probe, {
      use: "media.probe",
      needs: [],
      with: {},
      retry: retryDefaults,
      priority: 0,
      join: "all-succeeded",
    });
    assert.deepEqual(spec.steps.sd, {
      use: "video.transcode",
      needs: ["probe"],
      with: { height: `\${params.height}` },
      retry: { attempts: 5, initialDelayMs: 2_000, maxDelayMs: 60_000, jitter: 0.3 },
      timeoutMs: 600_000,
      priority: 2,
      join: "some-succeeded",
    });
    assert.deepEqual(spec.steps.hd?.needs, ["probe"]);
  });

  it("fills retry fields a step leaves out from the retry defaults", () => {
    const spec = parsePipeline(
      "name: p\nsteps:\n  a: { use: util.noop, retry: { attempts: 1 } }\n",
      "p.yaml",
      catalog,
    );
    assert.deepEqual(spec.steps.a?.retry, { ...retryDefaults, attempts: 1 });
  });

  it("parses the same pipeline written as JSON, tabs and all", () => {
    const json = JSON.stringify(
      {
        name: "renditions",
        description: "Two renditions of a video",
        params: { height: { default: 720, description: "target height" } },
        steps: {
          probe: { use: "media.probe" },
          sd: {
            use: "video.transcode",
            needs: "probe",
            with: { height: `\${params.height}` },
            retry: { attempts: 5, initialDelay: "2s", maxDelay: "1m", jitter: 0.3 },
            timeout: "10m",
            priority: 2,
            join: "some-succeeded",
          },
          hd: { use: "video.transcode", needs: ["probe"], with: { height: 1080 } },
        },
      },
      null,
      "\t",
    );
    const fromJson = parsePipeline(json, "renditions.json", catalog);
    assert.deepEqual(fromJson, parsePipeline(renditionsYaml, "renditions.yaml", catalog));
  });

  it("accepts a $schema key so JSON files can point editors at the JSON Schema", () => {
    const spec = parsePipeline(
      '{"$schema": "./pipeline.schema.json", "name": "p", "steps": {"a": {"use": "util.noop"}}}',
      "p.json",
      catalog,
    );
    assert.equal(spec.name, "p");
    assert.equal("$schema" in spec, false);
  });

  it("reports a YAML syntax error with its line and column and the file as source", () => {
    const error = parseError("name: p\nsteps:\n  a: { use: util.noop\n  b: 1\n");
    assert.equal(error.code, ErrorCodes.invalidPipeline);
    assert.equal(error.source, "test.yaml");
    assert.equal(error.issues[0]?.path, "");
    assert.match(error.issues[0]?.message ?? "", /YAML syntax error at line \d+, column \d+/);
    assert.match(error.message, /^test\.yaml: /);
  });

  it("rejects a step defined twice instead of keeping the last one", () => {
    const error = parseError("name: p\nsteps:\n  a: { use: util.noop }\n  a: { use: util.sleep }\n");
    assert.match(error.issues[0]?.message ?? "", /line 4, column 3: Map keys must be unique/);
  });

  it("rejects a document that is not a mapping", () => {
    const error = parseError("- just\n- a list\n");
    assert.equal(error.issues[0]?.path, "");
  });

  it("rejects unknown keys at their own path and suggests the key that was meant", () => {
    const error = parseError(
      "name: p\ndescripton: x\nsteps:\n  a: { use: util.noop, timout: 5s, retry: { atempts: 2 } }\n",
    );
    assert.equal(messageAt(error, "steps.a.timout"), 'unknown field (did you mean "timeout"?)');
    assert.equal(messageAt(error, "steps.a.retry.atempts"), 'unknown field (did you mean "attempts"?)');
    assert.equal(messageAt(error, "descripton"), 'unknown field (did you mean "description"?)');
  });

  it("rejects a missing name, invalid names and a pipeline without steps", () => {
    assert.match(messageAt(parseError("steps:\n  a: { use: util.noop }\n"), "name"), /expected string/);
    assert.match(
      messageAt(parseError("name: Renditions\nsteps:\n  a: { use: util.noop }\n"), "name"),
      /lower case/,
    );
    assert.match(messageAt(parseError("name: p\nsteps: {}\n"), "steps"), /at least one step/);
    const badStep = parseError("name: p\nsteps:\n  'a b': { use: util.noop }\n");
    assert.match(messageAt(badStep, 'steps["a b"]'), /step name may only contain/);
  });

  it("names an unknown step type and suggests the closest known one", () => {
    const error = parseError("name: p\nsteps:\n  sd: { use: vdeo.transcode, with: { height: 1 } }\n");
    assert.equal(
      messageAt(error, "steps.sd.use"),
      'unknown step type "vdeo.transcode" (did you mean "video.transcode"?)',
    );
  });

  it("suggests nothing for a step type that resembles no known one", () => {
    const error = parseError("name: p\nsteps:\n  a: { use: audio.normalize }\n");
    assert.equal(messageAt(error, "steps.a.use"), 'unknown step type "audio.normalize"');
  });

  it("names a needs entry that is not a step, at its index, with the closest step name", () => {
    const error = parseError(
      "name: p\nsteps:\n  probe: { use: media.probe }\n  sd: { use: util.noop, needs: [probe, prob] }\n",
    );
    assert.equal(messageAt(error, "steps.sd.needs[1]"), 'unknown step "prob" (did you mean "probe"?)');
    assert.equal(error.issues.length, 1);
  });

  it("rejects a step that needs itself", () => {
    const error = parseError("name: p\nsteps:\n  a: { use: util.noop, needs: a }\n");
    assert.equal(messageAt(error, "steps.a.needs[0]"), "a step cannot need itself");
  });

  it("rejects a step listed twice in needs", () => {
    const error = parseError(
      "name: p\nsteps:\n  a: { use: util.noop }\n  b: { use: util.noop, needs: [a, a] }\n",
    );
    assert.match(messageAt(error, "steps.b.needs[1]"), /listed twice/);
  });

  it("names the steps of a cycle in order, at the first step's needs entry", () => {
    const error = parseError(
      [
        "name: p",
        "steps:",
        "  start: { use: util.noop }",
        "  a: { use: util.noop, needs: [start, b] }",
        "  b: { use: util.noop, needs: c }",
        "  c: { use: util.noop, needs: a }",
      ].join("\n"),
    );
    assert.equal(messageAt(error, "steps.a.needs[1]"), "needs form a cycle: a -> b -> c -> a");
    assert.equal(error.issues.length, 1);
  });

  it("validates with against the step type's schema, at the field's path", () => {
    const error = parseError(
      "name: p\nsteps:\n  sd: { use: video.transcode, with: { height: -1, codec: vp9, sizes: [1, x] } }\n",
    );
    assert.match(messageAt(error, "steps.sd.with.height"), /expected number to be >0/);
    assert.match(messageAt(error, "steps.sd.with.codec"), /h264/);
    assert.match(messageAt(error, "steps.sd.with.sizes[1]"), /expected number/);
  });

  it("suggests the field meant for an unknown field in with", () => {
    const error = parseError("name: p\nsteps:\n  sd: { use: video.transcode, with: { hieght: 720 } }\n");
    assert.equal(messageAt(error, "steps.sd.with.hieght"), 'unknown field (did you mean "height"?)');
  });

  it("checks with after substituting parameter defaults, and says which parameter a bad value came from", () => {
    const error = parseError(
      `name: p\nparams:\n  height: { default: tall }\nsteps:\n  sd: { use: video.transcode, with: { height: "\${params.height}" } }\n`,
    );
    assert.match(messageAt(error, "steps.sd.with.height"), /expected number.*\(from \$\{params\.height\}\)/);
  });

  it("leaves a field that uses a parameter without default to be checked when a job sets it", () => {
    const spec = parsePipeline(
      `name: p\nparams:\n  height: {}\nsteps:\n  sd: { use: video.transcode, with: { height: "\${params.height}" } }\n`,
      "p.yaml",
      catalog,
    );
    assert.deepEqual(spec.params, { height: {} });
  });

  it("accepts a parameter default substituted into a field of another type", () => {
    const spec = parsePipeline(
      `name: p\nparams:\n  nap: { default: 2s }\nsteps:\n  s: { use: util.sleep, with: { duration: "\${params.nap}" } }\n`,
      "p.yaml",
      catalog,
    );
    assert.equal(spec.steps.s?.with.duration, `\${params.nap}`);
  });

  it("rejects a reference to an undeclared parameter, also inside a longer string or a list", () => {
    const error = parseError(
      [
        "name: p",
        "params:",
        "  height: { default: 720 }",
        "steps:",
        `  sd: { use: video.transcode, with: { height: "\${params.heigth}", name: "h\${params.size}", sizes: ["\${params.height}", "\${params.x}"] } }`,
      ].join("\n"),
    );
    assert.equal(
      messageAt(error, "steps.sd.with.height"),
      `unknown parameter "heigth" in \${params.heigth} (did you mean "height"?)`,
    );
    assert.match(messageAt(error, "steps.sd.with.name"), /unknown parameter "size"/);
    assert.match(messageAt(error, "steps.sd.with.sizes[1]"), /unknown parameter "x"/);
    assert.equal(error.issues.length, 3);
  });

  it("reports every problem in one error, the shape's and the graph's together", () => {
    const error = parseError(
      [
        "name: p",
        "steps:",
        "  a: { use: util.noop, priority: high }",
        "  b: { use: util.sleeep, needs: [a, nope] }",
        "  c: { use: util.sleep, needs: c, with: { duration: soon } }",
        "  d: { use: util.noop, needs: e }",
        "  e: { use: util.noop, needs: d }",
        "  f: { use: util.noop, needs: a }",
      ].join("\n"),
    );
    assert.deepEqual(error.issues.map((issue) => issue.path).sort(), [
      "steps.a.priority",
      "steps.b.needs[1]",
      "steps.b.use",
      "steps.c.needs[0]",
      "steps.c.with.duration",
      "steps.d.needs[0]",
    ]);
    assert.match(messageAt(error, "steps.b.use"), /did you mean "util.sleep"/);
    assert.match(messageAt(error, "steps.d.needs[0]"), /d -> e -> d/);
    assert.match(error.message, /6 problems/);
  });

  it("does not call a step unknown when only its own fields are invalid", () => {
    const error = parseError("name: p\nsteps:\n  a: { use: 5 }\n  b: { use: util.noop, needs: a }\n");
    assert.deepEqual(
      error.issues.map((issue) => issue.path),
      ["steps.a.use"],
    );
  });
});
