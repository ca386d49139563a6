import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ErrorCodes, MediaflowError } from "../../src/errors/errors.js";
import { runTool, ToolError } from "../../src/media/run-tool.js";

const node = process.execPath;

/** Runs a snippet of JavaScript in a child node process. */
function script(source: string): { command: string; args: string[]; name: string } {
  return { command: node, args: ["-e", source], name: "node" };
}

/** Resolves to the error the promise rejects with, failing the test if it resolves. */
async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  assert.fail("expected the promise to reject");
}

async function toolError(promise: Promise<unknown>): Promise<ToolError> {
  const error = await rejection(promise);
  assert.ok(error instanceof ToolError, `expected a ToolError, got ${String(error)}`);
  return error;
}

function assertGone(pid: number | undefined): void {
  assert.ok(pid !== undefined, "the child was never spawned");
  assert.throws(() => process.kill(pid, 0), { code: "ESRCH" });
}

/** A child that announces itself on stdout and then ignores SIGTERM, as a wedged ffmpeg might. */
const STUBBORN = "process.on('SIGTERM', () => {}); console.log('ready'); setInterval(() => {}, 1000);";

describe("runTool", () => {
  it("collects stdout of a successful run", async () => {
    const result = await runTool(script("process.stdout.write('hello\\nworld')"));
    assert.equal(result.stdout, "hello\nworld");
  });

  it("gives the child only PATH, LANG=C and what the caller passes", async () => {
    process.env.MEDIAFLOW_TEST_SECRET = "do-not-leak";
    try {
      const result = await runTool({
        ...script("process.stdout.write(JSON.stringify(process.env))"),
        env: { EXTRA: "1" },
      });
      const env = JSON.parse(result.stdout) as Record<string, string>;
      assert.deepEqual(Object.keys(env).sort(), ["EXTRA", "LANG", "PATH"]);
      assert.equal(env.LANG, "C");
    } finally {
      delete process.env.MEDIAFLOW_TEST_SECRET;
    }
  });

  it("passes stdout line by line, without line endings, including a last unterminated line", async () => {
    const lines: string[] = [];
    const result = await runTool({
      ...script("process.stdout.write('a=1\\r\\nb=2\\nc=3')"),
      onStdoutLine: (line) => lines.push(line),
    });
    assert.deepEqual(lines, ["a=1", "b=2", "c=3"]);
    assert.equal(result.stdout, "");
  });

  it("a timeout stops a sleeping child within the grace period and the child is gone", async () => {
    let pid: number | undefined;
    const started = Date.now();
    const error = await toolError(
      runTool({
        command: "sleep",
        args: ["30"],
        timeoutMs: 200,
        killGraceMs: 1_000,
        onSpawn: (p) => (pid = p),
      }),
    );
    const elapsed = Date.now() - started;
    assert.equal(error.code, ErrorCodes.timeout);
    assert.equal(error.signal, "SIGTERM");
    assert.match(error.message, /sleep ran longer than its 200 ms timeout/);
    assert.ok(elapsed < 1_200, `took ${elapsed} ms`);
    assertGone(pid);
  });

  it("an abort stops the child and keeps the abort reason as the cause", async () => {
    class UserCancelled extends Error {}
    const reason = new UserCancelled("the user cancelled the job");
    const controller = new AbortController();
    let pid: number | undefined;
    const error = await toolError(
      runTool({
        command: "sleep",
        args: ["30"],
        signal: controller.signal,
        onSpawn: (p) => {
          pid = p;
          setTimeout(() => controller.abort(reason), 50);
        },
      }),
    );
    assert.equal(error.code, ErrorCodes.cancelled);
    assert.equal(error.cause, reason);
    assert.equal(error.retryable, false);
    assert.match(error.message, /the user cancelled the job/);
    assertGone(pid);
  });

  it("a shutdown reason stays retryable, so the worker can hand the task back", async () => {
    const shutdown = new MediaflowError("worker_shutdown", "the worker is shutting down", {
      retryable: true,
    });
    const controller = new AbortController();
    const error = await toolError(
      runTool({
        command: "sleep",
        args: ["30"],
        signal: controller.signal,
        onSpawn: () => controller.abort(shutdown),
      }),
    );
    assert.equal(error.code, ErrorCodes.cancelled);
    assert.equal(error.cause, shutdown);
    assert.equal(error.retryable, true);
  });

  it("an already aborted signal starts nothing", async () => {
    const controller = new AbortController();
    controller.abort(new Error("too late"));
    let spawned = false;
    const error = await toolError(
      runTool({ command: "sleep", args: ["30"], signal: controller.signal, onSpawn: () => (spawned = true) }),
    );
    assert.equal(error.code, ErrorCodes.cancelled);
    assert.equal(spawned, false);
  });

  it("a child that ignores SIGTERM is killed with SIGKILL after the grace period", async () => {
    const controller = new AbortController();
    let pid: number | undefined;
    let abortedAt = 0;
    const error = await toolError(
      runTool({
        ...script(STUBBORN),
        signal: controller.signal,
        killGraceMs: 300,
        onSpawn: (p) => (pid = p),
        onStdoutLine: (line) => {
          if (line !== "ready") return;
          abortedAt = Date.now();
          controller.abort(new Error("stop"));
        },
      }),
    );
    const waited = Date.now() - abortedAt;
    assert.equal(error.code, ErrorCodes.cancelled);
    assert.equal(error.signal, "SIGKILL");
    assert.equal(error.details?.escalatedToSigkill, true);
    assert.ok(waited >= 290 && waited < 1_500, `SIGKILL came ${waited} ms after the abort`);
    assertGone(pid);
  });

  it("a non-zero exit gives a ToolError with the exit code and a bounded stderr tail", async () => {
    const error = await toolError(
      runTool({
        ...script("process.stderr.write('noise\\n'.repeat(5000) + 'boom: bad input\\n'); process.exit(3)"),
        stderrTailBytes: 1_024,
      }),
    );
    assert.equal(error.code, ErrorCodes.toolFailed);
    assert.equal(error.exitCode, 3);
    assert.equal(error.signal, null);
    assert.ok(error.stderrTail.length <= 1_024);
    assert.ok(error.stderrTail.startsWith("noise\n"), "the tail starts at a whole line");
    assert.ok(error.stderrTail.endsWith("boom: bad input\n"));
    assert.equal(error.message, "node exited with code 3: boom: bad input");
    assert.deepEqual(error.args.slice(0, 1), ["-e"]);
    assert.equal(error.details?.exitCode, 3);
  });

  it("a child that stops writing progress is stopped as stalled", async () => {
    let pid: number | undefined;
    const started = Date.now();
    const error = await toolError(
      runTool({
        ...script("console.log('progress=continue'); setInterval(() => {}, 1000);"),
        inactivityMs: 300,
        timeoutMs: 10_000,
        onSpawn: (p) => (pid = p),
        onStdoutLine: () => {},
      }),
    );
    assert.equal(error.code, ErrorCodes.timeout);
    assert.match(error.message, /stalled/);
    assert.equal(error.details?.stalled, true);
    assert.ok(Date.now() - started < 3_000);
    assertGone(pid);
  });

  it("stdout beyond the cap stops the child", async () => {
    const error = await toolError(
      runTool({ ...script("process.stdout.write('x'.repeat(1_000_000))"), maxStdoutBytes: 10_000 }),
    );
    assert.equal(error.code, ErrorCodes.toolFailed);
    assert.equal(error.retryable, false);
    assert.match(error.message, /more than 10000 bytes/);
  });

  it("an exception from the line callback stops the child and is rethrown as is", async () => {
    const thrown = new Error("bad progress line");
    let pid: number | undefined;
    const error = await rejection(
      runTool({
        ...script(STUBBORN),
        killGraceMs: 200,
        onSpawn: (p) => (pid = p),
        onStdoutLine: () => {
          throw thrown;
        },
      }),
    );
    assert.equal(error, thrown);
    assertGone(pid);
  });

  it("a missing binary is tool_missing, not an ENOENT stack", async () => {
    const error = await toolError(runTool({ command: "/nonexistent/ffmpeg", args: ["-version"] }));
    assert.equal(error.code, ErrorCodes.toolMissing);
    assert.equal(error.retryable, false);
    assert.equal(error.message, "ffmpeg could not be started: /nonexistent/ffmpeg does not exist");
  });

  it("a file that is not executable is tool_missing", async () => {
    const error = await toolError(runTool({ command: "/etc/passwd", args: [] }));
    assert.equal(error.code, ErrorCodes.toolMissing);
    assert.match(error.message, /is not executable/);
  });
});
