import assert from "node:assert/strict";
import { access, mkdir, mkdtemp, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { after, before, describe, it, type TestContext } from "node:test";
import Fastify from "fastify";
import type { Page } from "playwright-core";
import { dashboardDir, registerDashboardRoutes } from "../../src/api/routes/dashboard.js";
import { startTestServer, type TestServer } from "../support/api-server.js";
import { chromiumAvailable, chromiumPath, launchBrowser, type TestBrowser } from "../support/browser.js";
import { makeImage, makeVideo } from "../support/media-fixtures.js";

/**
 * The dashboard end to end: a real server with an embedded worker, the built web/dist, and the system's
 * Chromium driving it as a user would. Screenshots of every page land in test-results/.
 */

const screenshots = "test-results";
const waitMs = 15_000;

interface JobBody {
  id: string;
  status: string;
}

const longSleep = {
  name: "long-sleep",
  steps: { nap: { use: "util.sleep", with: { duration: "30s", steps: 30 } } },
};

const failing = {
  name: "failing",
  steps: {
    ok: { use: "util.noop" },
    broken: {
      use: "util.fail",
      with: { code: "disk_on_fire", message: "the disk is on fire", retryable: true },
      retry: { attempts: 2, initialDelay: "50ms", jitter: 0 },
    },
  },
};

async function exists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}

async function createJob(server: TestServer, body: object): Promise<JobBody> {
  const response = await server.request("/v1/jobs", { method: "POST", body: JSON.stringify(body) });
  assert.equal(response.status, 202, await response.clone().text());
  return (await response.json()) as JobBody;
}

/** Uploads a file the way any API client does: a signed URL from POST /v1/uploads, then a PUT. */
async function uploadThroughApi(server: TestServer, path: string, contentType: string): Promise<string> {
  const bytes = await readFile(path);
  const created = await server.request("/v1/uploads", {
    method: "POST",
    body: JSON.stringify({ filename: basename(path), contentType, bytes: bytes.length }),
  });
  assert.equal(created.status, 201);
  const upload = (await created.json()) as { id: string; url: string };
  const put = await fetch(`${server.url}${upload.url}`, {
    method: "PUT",
    body: bytes,
    headers: { "content-type": contentType },
  });
  assert.equal(put.status, 201, await put.clone().text());
  return upload.id;
}

async function screenshot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: join(screenshots, `dashboard-${name}.png`), fullPage: true });
}

/** Polls `check` until it holds: the graph reaches its final colours a moment after the badge does. */
async function until(check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + waitMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error("timed out waiting for the page");
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** The x range of a timeline bar, in the chart's own coordinates. */
async function barRange(page: Page, step: string): Promise<[number, number]> {
  const bar = page.locator(`rect.timeline-bar[data-step="${step}"]`).first();
  const x = Number(await bar.getAttribute("x"));
  const width = Number(await bar.getAttribute("width"));
  return [x, x + width];
}

describe("dashboard", () => {
  let dir: string;
  let server: TestServer;
  let browser: TestBrowser | undefined;
  let skipReason: string | undefined;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "mediaflow-dashboard-"));
    await mkdir(screenshots, { recursive: true });
    server = await startTestServer(dir);
    if (!(await exists(join(dashboardDir, "index.html")))) {
      skipReason = `the dashboard is not built (${dashboardDir}): run npm run build:web`;
    } else if (!(await chromiumAvailable())) {
      skipReason = `no Chromium at ${chromiumPath} (apt-get install chromium, or set MEDIAFLOW_CHROMIUM)`;
    } else {
      browser = await launchBrowser();
    }
  });

  after(async () => {
    await browser?.close();
    await server?.close();
    await rm(dir, { recursive: true, force: true });
  });

  /** The page, or a loud skip when the dashboard or the browser is missing. */
  const pageOr = (t: TestContext): Page | undefined => {
    if (browser === undefined) {
      console.warn(`dashboard e2e test skipped: ${skipReason}`);
      t.skip(skipReason);
      return undefined;
    }
    return browser.page;
  };

  it("serves index.html uncached for app paths and hashed assets with a long cache", async (t) => {
    if (skipReason?.startsWith("the dashboard is not built")) return void t.skip(skipReason);
    const index = await fetch(`${server.url}/`);
    assert.equal(index.status, 200);
    assert.match(index.headers.get("content-type") ?? "", /text\/html/);
    assert.equal(index.headers.get("cache-control"), "no-cache");
    const html = await index.text();
    const asset = /src="(\/assets\/[^"]+\.js)"/.exec(html)?.[1];
    assert.ok(asset, "index.html names its script");
    const script = await fetch(`${server.url}${asset}`);
    assert.equal(script.status, 200);
    assert.match(script.headers.get("cache-control") ?? "", /immutable/);

    const deepLink = await fetch(`${server.url}/jobs/some-job`);
    assert.equal(deepLink.status, 200);
    assert.match(await deepLink.text(), /<div id="app">/);

    // An encoded "../" is folded away before the lookup: it can only ever reach files of web/dist.
    const traversal = await fetch(`${server.url}/%2e%2e/%2e%2e/package.json`);
    assert.match(await traversal.text(), /<div id="app">/);

    const unknownApi = await server.request("/v1/no-such-route");
    assert.equal(unknownApi.status, 404);
    assert.match(unknownApi.headers.get("content-type") ?? "", /problem\+json/);
  });

  it("answers / with how to build the dashboard when web/dist is missing", async () => {
    const app = Fastify();
    await registerDashboardRoutes(app, join(dir, "no-such-build"));
    const answer = await app.inject({ url: "/" });
    assert.equal(answer.statusCode, 200);
    assert.match(answer.body, /npm run build/);
    await app.close();
  });

  it("asks for the API key once and keeps it across reloads", async (t) => {
    const page = pageOr(t);
    if (page === undefined) return;
    await page.goto(`${server.url}/`);
    await screenshot(page, "key");
    await page.getByLabel("API key").fill("not-a-key");
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.getByRole("alert").waitFor({ timeout: waitMs });
    await page.getByLabel("API key").fill(server.keys.alice);
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.getByRole("heading", { name: "Jobs" }).waitFor({ timeout: waitMs });
    await page.reload();
    await page.getByRole("heading", { name: "Jobs" }).waitFor({ timeout: waitMs });
  });

  it("lists a job created through the API on the Jobs page", async (t) => {
    const page = pageOr(t);
    if (page === undefined) return;
    const job = await createJob(server, { pipeline: "demo", params: { nap: "200ms" } });
    await page.goto(`${server.url}/#/jobs`);
    const row = page.locator(`tr[data-job="${job.id}"]`);
    await row.waitFor({ timeout: waitMs });
    assert.match((await row.textContent()) ?? "", /demo/);
    await page.locator(`tr[data-job="${job.id}"][data-status="succeeded"]`).waitFor({ timeout: waitMs });
    await screenshot(page, "jobs");
  });

  it("uploads a file from the New job page and follows the job live until it succeeds", async (t) => {
    const page = pageOr(t);
    if (page === undefined) return;
    const clip = await makeVideo(join(dir, "clip.mp4"), { seconds: 1, width: 160, height: 90 });
    await page.goto(`${server.url}/#/new`);
    await page.getByLabel("Pipeline", { exact: true }).selectOption("demo");
    await page.getByLabel("Value").first().fill("1s");
    await page.getByLabel(/Input file/).setInputFiles(clip);
    await screenshot(page, "new-job");
    // The page uploads with the tus protocol, so a dropped connection would resume, not restart.
    const tusMethods: string[] = [];
    page.on("request", (request) => {
      if (new URL(request.url()).pathname.startsWith("/v1/tus")) tusMethods.push(request.method());
    });
    await page.getByRole("button", { name: "Start job" }).click();
    await page.waitForURL(/#\/jobs\/[^/]+$/, { timeout: waitMs });
    const id = decodeURIComponent(page.url().split("#/jobs/")[1] ?? "");

    await page.locator(".page-head .badge", { hasText: "succeeded" }).waitFor({ timeout: waitMs });
    const boxes = page.locator("svg.pipeline-graph g.step-box");
    const notSucceeded = page.locator('svg.pipeline-graph g.step-box:not([data-status="succeeded"])');
    await until(async () => (await boxes.count()) === 5 && (await notSucceeded.count()) === 0);
    assert.equal(await boxes.count(), 5);

    // left and right both need only `prepare`, so with four worker slots they run side by side.
    const [leftStart, leftEnd] = await barRange(page, "left");
    const [rightStart, rightEnd] = await barRange(page, "right");
    assert.ok(leftStart < rightEnd && rightStart < leftEnd, "the parallel steps' bars overlap");
    await screenshot(page, "job");

    const events = (await (await server.request(`/v1/jobs/${id}/events`)).json()) as {
      events: { type: string; data: { input?: { filename: string; bytes: number } } }[];
    };
    const input = events.events.find((event) => event.type === "job.created")?.data.input;
    assert.equal(input?.filename, "clip.mp4");
    assert.equal(input?.bytes, (await stat(clip)).size);
    assert.ok(tusMethods.includes("POST") && tusMethods.includes("PATCH"), `tus requests: ${tusMethods}`);
  });

  it("cancels a long job from its page", async (t) => {
    const page = pageOr(t);
    if (page === undefined) return;
    const job = await createJob(server, { pipeline: longSleep });
    await page.goto(`${server.url}/#/jobs/${job.id}`);
    await page.locator('g.step-box[data-step="nap"][data-status="running"]').waitFor({ timeout: waitMs });
    await page.getByRole("button", { name: "Cancel job" }).click();
    await page.locator(".page-head .badge", { hasText: "cancelled" }).waitFor({ timeout: waitMs });
    await page.locator('g.step-box[data-step="nap"][data-status="cancelled"]').waitFor({ timeout: waitMs });
    await screenshot(page, "job-cancelled");
  });

  it("shows each failed attempt as its own bar with the error, and retries the failed step alone", async (t) => {
    const page = pageOr(t);
    if (page === undefined) return;
    const job = await createJob(server, { pipeline: failing });
    await page.goto(`${server.url}/#/jobs/${job.id}`);
    await page.locator(".page-head .badge", { hasText: "failed" }).waitFor({ timeout: waitMs });
    await page.locator('g.step-box[data-step="ok"][data-status="succeeded"]').waitFor({ timeout: waitMs });
    await page.locator('g.step-box[data-step="broken"][data-status="failed"]').waitFor({ timeout: waitMs });
    const brokenBars = page.locator('rect.timeline-bar[data-step="broken"]');
    await until(async () => (await brokenBars.count()) === 2);
    assert.equal(
      await page.locator('rect.timeline-bar[data-step="broken"][data-outcome="retrying"]').count(),
      1,
    );
    const jobError = (await page.getByRole("alert").first().textContent()) ?? "";
    assert.match(jobError, /attempts_exhausted: .*the disk is on fire/);
    assert.match((await page.locator('tr[data-step="broken"]').textContent()) ?? "", /the disk is on fire/);
    await screenshot(page, "job-failed");

    await page.getByRole("button", { name: "Retry broken" }).click();
    // The retried step fails again after two more attempts; the step that succeeded is not run again.
    await until(async () => (await brokenBars.count()) === 4);
    await page.locator(".page-head .badge", { hasText: "failed" }).waitFor({ timeout: waitMs });
    assert.equal(await page.locator('rect.timeline-bar[data-step="ok"]').count(), 1);
  });

  it("previews an image output through its signed URL", async (t) => {
    const page = pageOr(t);
    if (page === undefined) return;
    const picture = await makeImage(join(dir, "picture.jpg"), { width: 320, height: 180 });
    const uploadId = await uploadThroughApi(server, picture, "image/jpeg");
    const job = await createJob(server, { pipeline: "thumbnail", input: { uploadId } });
    await page.goto(`${server.url}/#/jobs/${job.id}`);
    await page.locator(".page-head .badge", { hasText: "succeeded" }).waitFor({ timeout: waitMs });
    // naturalWidth is 0 until the browser has fetched and decoded the picture.
    await page.waitForFunction(
      "[...document.querySelectorAll('.outputs img')].some((img) => img.naturalWidth === 100)",
      undefined,
      { timeout: waitMs },
    );
    await screenshot(page, "job-image");
  });

  it("plays an HLS output, whose playlists and segments are each signed", async (t) => {
    const page = pageOr(t);
    if (page === undefined) return;
    const clip = await makeVideo(join(dir, "talk.mp4"), { seconds: 4, width: 320, height: 180 });
    const uploadId = await uploadThroughApi(server, clip, "video/mp4");
    const job = await createJob(server, {
      pipeline: "abr",
      input: { uploadId },
      params: { preset: "ultrafast" },
    });
    await page.goto(`${server.url}/#/jobs/${job.id}`);
    await page.locator(".page-head .badge", { hasText: "succeeded" }).waitFor({ timeout: 60_000 });
    const player = page.locator("video.output-hls");
    await player.waitFor({ timeout: waitMs });
    assert.equal(await player.count(), 1, "one player, for the master playlist only");
    await page.evaluate("document.querySelector('video.output-hls').play()");
    await page.waitForFunction("document.querySelector('video.output-hls').currentTime > 0.5", undefined, {
      timeout: waitMs,
    });
    await screenshot(page, "job-hls");
  });

  it("shows the pipelines with their graphs and the system's queue", async (t) => {
    const page = pageOr(t);
    if (page === undefined) return;
    await page.goto(`${server.url}/#/pipelines`);
    await page
      .locator('[data-pipeline="demo"] svg.pipeline-graph g.step-box')
      .first()
      .waitFor({ timeout: waitMs });
    await screenshot(page, "pipelines");
    await page.goto(`${server.url}/#/system`);
    await page.locator('.counts li[data-status="succeeded"]').waitFor({ timeout: waitMs });
    await screenshot(page, "system");
    await page.setViewportSize({ width: 390, height: 844 });
    await page.goto(`${server.url}/#/jobs`);
    await page.locator("tr[data-job]").first().waitFor({ timeout: waitMs });
    await screenshot(page, "jobs-phone");
    await page.setViewportSize({ width: 1280, height: 900 });
  });
});
