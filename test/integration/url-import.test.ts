import assert from "node:assert/strict";
import { createReadStream } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { ErrorCodes, PermanentError } from "../../src/errors/errors.js";
import { guardedLookup, PrivateAddressError } from "../../src/net/address-guard.js";
import { guardedGet } from "../../src/net/guarded-get.js";
import { startTestServer, type TestServer } from "../support/api-server.js";
import { makeVideo } from "../support/media-fixtures.js";

/** A plain web server the tests import from: a video, a web page, a redirect chain, a missing file. */
async function startOrigin(video: string): Promise<{ server: Server; url: string }> {
  const server = createServer((request, response) => {
    const port = (server.address() as AddressInfo).port;
    switch (request.url) {
      case "/clip.mp4":
        response.writeHead(200, { "content-type": "video/mp4" });
        createReadStream(video).pipe(response);
        return;
      case "/page.html":
        response.writeHead(200, { "content-type": "text/html" });
        response.end(`<!doctype html><title>not a video</title>${"<p>text</p>".repeat(100)}`);
        return;
      case "/to-localhost":
        response.writeHead(302, { location: `http://localhost:${port}/clip.mp4` });
        response.end();
        return;
      case "/to-other-loopback":
        response.writeHead(301, { location: `http://127.0.0.2:${port}/clip.mp4` });
        response.end();
        return;
      default:
        response.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

async function refusal(promise: Promise<unknown>): Promise<PermanentError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof PermanentError, String(error));
    return error;
  }
  assert.fail("expected a refusal");
}

describe("importing an input from a URL", () => {
  let dir: string;
  let origin: { server: Server; url: string };
  let guarded: TestServer;
  let open: TestServer;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "mediaflow-import-"));
    origin = await startOrigin(
      await makeVideo(join(dir, "clip.mp4"), { seconds: 1, width: 160, height: 90 }),
    );
    guarded = await startTestServer(join(dir, "guarded"));
    open = await startTestServer(join(dir, "open"), { allowPrivateImports: true, maxUploadBytes: 1_000_000 });
  });
  after(async () => {
    await guarded.close();
    await open.close();
    origin.server.close();
    await rm(dir, { recursive: true, force: true });
  });

  const probePipeline = { name: "probe", steps: { probe: { use: "media.probe" } } };
  const create = (server: TestServer, url: string) =>
    server.request("/v1/jobs", {
      method: "POST",
      body: JSON.stringify({ pipeline: probePipeline, input: { url } }),
    });

  it("imports a video and runs the job on it", async () => {
    const response = await create(open, `${origin.url}/clip.mp4`);
    assert.equal(response.status, 202, await response.clone().text());
    const { id } = (await response.json()) as { id: string };
    for (let i = 0; i < 200; i++) {
      const job = (await (await open.request(`/v1/jobs/${id}`)).json()) as { status: string };
      if (job.status === "succeeded") break;
      assert.ok(["queued", "running"].includes(job.status), job.status);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const stored = await open.runtime.engine.getJob(id);
    assert.equal(stored?.job.status, "succeeded");
    assert.match(stored?.job.input?.key ?? "", /^tenants\/alice\/imports\/imp_[\w-]+\/clip\.mp4$/);
  });

  it("refuses loopback, private, link-local and metadata addresses, and names that resolve to them", async () => {
    for (const url of [
      `${origin.url}/clip.mp4`,
      "http://10.1.2.3/clip.mp4",
      "http://192.168.0.10/clip.mp4",
      "http://169.254.169.254/latest/meta-data/",
      "http://[::1]/clip.mp4",
      `http://localhost:${new URL(origin.url).port}/clip.mp4`,
    ]) {
      const response = await create(guarded, url);
      assert.equal(response.status, 422, url);
      const problem = (await response.json()) as { code: string; detail: string };
      assert.equal(problem.code, "private_address", url);
      assert.match(problem.detail, /loopback, private or link-local/);
    }
    const file = await create(guarded, "file:///etc/passwd");
    assert.equal(file.status, 400);
    assert.match(((await file.json()) as { detail: string }).detail, /only http and https/);
  });

  it("re-checks every redirect: a hop to a private address or a name resolving to one is refused", async () => {
    // The first hop is allowed on purpose (a stand-in for a public server); the hops it redirects to are not.
    const allowFirstHopOnly = (hostname: string) => {
      if (hostname !== "127.0.0.1") throw new PrivateAddressError(hostname, hostname);
    };
    const options = { timeoutMs: 5_000, allowPrivateAddresses: false, checkLiteral: allowFirstHopOnly };
    const toOther = await refusal(guardedGet(new URL(`${origin.url}/to-other-loopback`), options));
    assert.equal(toOther.code, ErrorCodes.privateAddress);
    assert.match(toOther.message, /127\.0\.0\.2/);
    const toName = await refusal(
      guardedGet(new URL(`${origin.url}/to-localhost`), { ...options, lookup: guardedLookup }),
    );
    assert.equal(toName.code, ErrorCodes.privateAddress);
    assert.match(toName.message, /localhost resolves to/);
  });

  it("refuses a web page (415), a file over the size limit (413) and a missing file (422), storing nothing", async () => {
    const page = await create(open, `${origin.url}/page.html`);
    assert.equal(page.status, 415, await page.clone().text());
    const missing = await create(open, `${origin.url}/nothing-here.mp4`);
    assert.equal(missing.status, 422);
    assert.match(((await missing.json()) as { detail: string }).detail, /HTTP 404/);

    const small = await startTestServer(join(dir, "small"), {
      allowPrivateImports: true,
      maxUploadBytes: 1_000,
    });
    try {
      const large = await create(small, `${origin.url}/clip.mp4`);
      assert.equal(large.status, 413);
      const imports: string[] = [];
      for await (const blob of small.runtime.storage.list("tenants/alice/imports/")) imports.push(blob.key);
      assert.deepEqual(imports, []);
    } finally {
      await small.close();
    }
    const stored: string[] = [];
    for await (const blob of open.runtime.storage.list("tenants/alice/imports/")) stored.push(blob.key);
    assert.ok(
      stored.every((key) => key.endsWith("clip.mp4")),
      stored.join(", "),
    );
  });
});
