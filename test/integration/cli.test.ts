import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { withTempDir } from "../support/namespaces.js";
import { cliPath } from "../support/worker-process.js";

const pipelinesDir = fileURLToPath(new URL("../../../pipelines/", import.meta.url));

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the real `mediaflow` command with a data directory of the test's own. */
function mediaflow(args: string[], dataDir: string): Promise<Run> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [cliPath, ...args], {
      cwd: dataDir,
      env: { PATH: process.env.PATH ?? "", MEDIAFLOW_DATA_DIR: dataDir, MEDIAFLOW_LOG_LEVEL: "warn" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk) => {
      stdout += chunk;
    });
    child.stderr.on("data", (chunk) => {
      stderr += chunk;
    });
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

describe("mediaflow command", () => {
  it("runs a pipeline end to end, prints each event as a plain line and exits 0", async () => {
    await withTempDir("cli", async (dir) => {
      const run = await mediaflow(["run", join(pipelinesDir, "demo.yaml"), "--set", "nap=50ms"], dir);
      assert.equal(run.code, 0, run.stderr);
      assert.match(run.stdout, /step\.succeeded finish/);
      assert.match(run.stdout, /step\.split split .*4 parts/);
      assert.match(run.stdout, /job job_\w+ succeeded/);
    });
  });

  it("exits 1 with the failing step's error when the job fails", async () => {
    await withTempDir("cli", async (dir) => {
      const file = join(dir, "fails.yaml");
      await writeFile(
        file,
        "name: fails\nsteps:\n  bad:\n    use: util.fail\n    with: { code: broken_input, message: the input is broken }\n",
      );
      const run = await mediaflow(["run", file], dir);
      assert.equal(run.code, 1);
      assert.match(run.stderr, /failed at step bad: broken_input: the input is broken/);
      assert.doesNotMatch(run.stderr, /\n\s+at /, "no stack trace");
    });
  });

  it("exits 2 with a clear message for a missing file, an invalid pipeline or a bad argument", async () => {
    await withTempDir("cli", async (dir) => {
      const missing = await mediaflow(["run", "nowhere.yaml"], dir);
      assert.equal(missing.code, 2);
      assert.match(missing.stderr, /no pipeline file "nowhere.yaml"/);

      const file = join(dir, "bad.yaml");
      await writeFile(
        file,
        "name: bad\nsteps:\n  a:\n    use: util.sleep\n    needs: [ghost]\n    with: { duration: soon }\n",
      );
      const invalid = await mediaflow(["pipelines", "validate", file], dir);
      assert.equal(invalid.code, 2);
      assert.match(invalid.stderr, /steps\.a\.needs\[0\]/);
      assert.match(invalid.stderr, /steps\.a\.with\.duration/);

      const badFlag = await mediaflow(["run", file, "--frobnicate"], dir);
      assert.equal(badFlag.code, 2);
      assert.match(badFlag.stderr, /usage: mediaflow run/);

      const unknown = await mediaflow(["transmogrify"], dir);
      assert.equal(unknown.code, 2);
      assert.match(unknown.stderr, /unknown command "transmogrify"/);

      const missingInput = await mediaflow(["run", join(pipelinesDir, "demo.yaml"), "nope.mp4"], dir);
      assert.equal(missingInput.code, 2);
      assert.match(missingInput.stderr, /input file "nope.mp4" does not exist/);
    });
  });

  it("prints a command's usage for --help and exits 0", async () => {
    await withTempDir("cli-help", async (dir) => {
      for (const command of ["worker", "serve", "run", "keys"]) {
        const help = await mediaflow([command, "--help"], dir);
        assert.equal(help.code, 0, `${command}: ${help.stderr}`);
        assert.match(help.stdout, new RegExp(`^usage: mediaflow ${command}`), command);
      }
    });
  });

  it("prints the pipeline JSON Schema and lists the bundled pipelines", async () => {
    await withTempDir("cli", async (dir) => {
      const schema = await mediaflow(["pipelines", "schema"], dir);
      assert.equal(schema.code, 0);
      const parsed = JSON.parse(schema.stdout) as { $schema?: string };
      assert.match(parsed.$schema ?? "", /json-schema/);
      const list = await mediaflow(["pipelines", "list"], dir);
      assert.equal(list.code, 0);
      assert.match(list.stdout, /^demo\s+5 steps/m);
    });
  });

  it("submits, lists, shows and cancels jobs in the configured database", async () => {
    await withTempDir("cli", async (dir) => {
      const submitted = await mediaflow(["jobs", "submit", "demo", "--idempotency-key", "k1"], dir);
      assert.equal(submitted.code, 0, submitted.stderr);
      const id = submitted.stdout.trim();
      assert.match(id, /^job_\w+$/);
      const again = await mediaflow(["jobs", "submit", "demo", "--idempotency-key", "k1"], dir);
      assert.match(again.stdout, new RegExp(`^${id} \\(existing job`));
      const list = await mediaflow(["jobs", "list"], dir);
      assert.match(list.stdout, new RegExp(`^${id}\\s+queued`, "m"));
      const cancelled = await mediaflow(["jobs", "cancel", id], dir);
      assert.equal(cancelled.stdout.trim(), `${id} cancelled`);
      const shown = await mediaflow(["jobs", "show", id, "--json"], dir);
      assert.equal((JSON.parse(shown.stdout) as { job: { status: string } }).job.status, "cancelled");
      const events = await mediaflow(["jobs", "events", id], dir);
      assert.match(events.stdout, /job\.created/);
      assert.match(events.stdout, /job\.cancelled/);
      const absent = await mediaflow(["jobs", "show", "job_missing"], dir);
      assert.equal(absent.code, 1);
      assert.match(absent.stderr, /job job_missing was not found/);
    });
  });
});
