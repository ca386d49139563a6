#!/usr/bin/env node
// Runs every compiled test file under dist/test with Node's test runner. Arguments narrow the run to files
// whose path contains one of them, e.g. `node scripts/run-tests.mjs conformance`.
import { spawnSync } from "node:child_process";
import { readdirSync } from "node:fs";
import { join } from "node:path";

function findTests(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return findTests(path);
    return entry.name.endsWith(".test.js") ? [path] : [];
  });
}

const filters = process.argv.slice(2);
const files = findTests("dist/test")
  .filter((file) => filters.length === 0 || filters.some((filter) => file.includes(filter)))
  .sort();
if (files.length === 0) {
  console.error(`no test files match ${filters.join(" ") || "dist/test"}`);
  process.exit(1);
}
// A test that restarts the PostgreSQL server must not run beside other files that use it.
const serial = process.env.MEDIAFLOW_TEST_POSTGRES_RESTART ? ["--test-concurrency=1"] : [];
const result = spawnSync(process.execPath, ["--test", "--test-reporter=spec", ...serial, ...files], {
  stdio: "inherit",
});
process.exit(result.status ?? 1);
