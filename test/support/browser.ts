import { access, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type BrowserContext, chromium, type Page } from "playwright-core";

/** The system's Chromium (the Debian package): tests never download a browser. */
export const chromiumPath = process.env.MEDIAFLOW_CHROMIUM ?? "/usr/bin/chromium";

/**
 * Flags for a quiet, reproducible headless run: no GPU, no sandbox (containers lack the namespaces), and
 * nothing that phones home or updates itself while a test runs.
 */
const chromiumArgs = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

export interface TestBrowser {
  context: BrowserContext;
  page: Page;
  /** Closes the browser and removes its profile. */
  close(): Promise<void>;
}

export async function chromiumAvailable(): Promise<boolean> {
  try {
    await access(chromiumPath);
    return true;
  } catch {
    return false;
  }
}

/** Chromium on a fresh profile, so localStorage and caches start empty for every test file. */
export async function launchBrowser(): Promise<TestBrowser> {
  const profile = await mkdtemp(join(tmpdir(), "mediaflow-chromium-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: chromiumPath,
    headless: true,
    args: chromiumArgs,
    viewport: { width: 1280, height: 900 },
  });
  const page = context.pages()[0] ?? (await context.newPage());
  return {
    context,
    page,
    async close() {
      await context.close();
      await rm(profile, { recursive: true, force: true });
    },
  };
}
