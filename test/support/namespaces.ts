import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

/**
 * Gives a test a directory of its own. It is removed when the test passes and kept (its path printed)
 * when it fails, so what the test left behind can be inspected.
 */
export async function withTempDir<T>(prefix: string, body: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), `mediaflow-${prefix}-`));
  try {
    const result = await body(dir);
    await rm(dir, { recursive: true, force: true });
    return result;
  } catch (error) {
    process.stderr.write(`test files kept for inspection: ${dir}\n`);
    throw error;
  }
}
