import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { access, mkdtemp, rm } from "node:fs/promises";
import { request as httpRequest } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { apiLimitDefaults } from "../../src/api/api-dependencies.js";
import { apiKeyAuthenticator } from "../../src/api/api-keys.js";
import { buildApi } from "../../src/api/app.js";
import { ApiMetrics } from "../../src/api/metrics.js";
import { UrlSigner } from "../../src/api/url-signer.js";
import { bundledPipelinesDir } from "../../src/pipeline/bundled-pipelines.js";
import { loadPipelineDir } from "../../src/pipeline/load-pipelines.js";
import { safeKeySegment } from "../../src/storage/keys.js";
import { startTestServer, type TestServer } from "../support/api-server.js";

const tus = { "tus-resumable": "1.0.0" };
const maxUploadBytes = 4 * 1024 * 1024;

/** `Upload-Metadata`: comma-separated `key base64(value)` pairs. */
function metadataHeader(values: Record<string, string>): string {
  return Object.entries(values)
    .map(([key, value]) => `${key} ${Buffer.from(value).toString("base64")}`)
    .join(",");
}

async function createUpload(
  server: TestServer,
  length: number,
  metadata: Record<string, string>,
  key: string | null = server.keys.alice,
): Promise<Response> {
  return server.request("/v1/tus", {
    method: "POST",
    key,
    headers: { ...tus, "upload-length": String(length), "upload-metadata": metadataHeader(metadata) },
  });
}

function patch(server: TestServer, location: string, offset: number, body: Uint8Array): Promise<Response> {
  return server.request(new URL(location).pathname, {
    method: "PATCH",
    headers: {
      ...tus,
      "upload-offset": String(offset),
      "content-type": "application/offset+octet-stream",
    },
    body,
  });
}

async function head(server: TestServer, location: string, key = server.keys.alice): Promise<Response> {
  return server.request(new URL(location).pathname, { method: "HEAD", headers: tus, key });
}

/**
 * Starts a PATCH that declares all of `body` but sends only its first `sent` bytes, then cuts the
 * connection, as a phone losing its network does.
 */
async function patchThenCut(
  server: TestServer,
  location: string,
  body: Uint8Array,
  sent: number,
): Promise<void> {
  const request = httpRequest(new URL(location), {
    method: "PATCH",
    headers: {
      ...tus,
      authorization: `Bearer ${server.keys.alice}`,
      "upload-offset": "0",
      "content-type": "application/offset+octet-stream",
      "content-length": String(body.byteLength),
    },
  });
  const closed = new Promise<void>((resolve) => request.on("close", resolve));
  request.on("error", () => undefined);
  request.write(body.subarray(0, sent));
  // Long enough for the server to write what it was sent to the partial file.
  await new Promise((resolve) => setTimeout(resolve, 300));
  request.destroy();
  await closed;
}

async function sha256OfBlob(server: TestServer, key: string): Promise<string> {
  const hash = createHash("sha256");
  for await (const chunk of await server.runtime.storage.get(key)) hash.update(chunk as Buffer);
  return hash.digest("hex");
}

async function waitForJob(server: TestServer, id: string): Promise<string> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const job = (await (await server.request(`/v1/jobs/${id}`)).json()) as { status: string };
    if (["succeeded", "failed", "cancelled"].includes(job.status)) return job.status;
    if (Date.now() > deadline) throw new Error(`job ${id} still ${job.status}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

async function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}

describe("tus resumable uploads", () => {
  let dir: string;
  let server: TestServer;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "mediaflow-tus-"));
    server = await startTestServer(dir, { maxUploadBytes });
  });
  after(async () => {
    await server.close();
    await rm(dir, { recursive: true, force: true });
  });

  it("resumes after a cut connection from the stored offset, stores the exact bytes and starts the job", async () => {
    const file = randomBytes(512 * 1024);
    const created = await createUpload(server, file.byteLength, {
      filename: "../holiday clip.mp4",
      filetype: "video/mp4",
      pipeline: "demo",
      params: JSON.stringify({ nap: "10ms" }),
    });
    assert.equal(created.status, 201, await created.text());
    assert.equal(created.headers.get("tus-resumable"), "1.0.0");
    const location = created.headers.get("location") ?? "";
    const id = location.split("/").at(-1) ?? "";
    assert.match(location, /\/v1\/tus\/upl_/);

    await patchThenCut(server, location, file, file.byteLength / 2);
    const afterCut = await head(server, location);
    assert.equal(afterCut.status, 200);
    assert.equal(afterCut.headers.get("upload-length"), String(file.byteLength));
    const offset = Number(afterCut.headers.get("upload-offset"));
    assert.ok(offset > 0 && offset <= file.byteLength / 2, `stored offset ${offset}`);

    const rest = await patch(server, location, offset, file.subarray(offset));
    assert.equal(rest.status, 204, await rest.text());
    assert.equal(rest.headers.get("upload-offset"), String(file.byteLength));
    assert.equal(rest.headers.get("mediaflow-upload-id"), id);
    const jobId = rest.headers.get("mediaflow-job-id");
    assert.ok(jobId, "the final PATCH names the job it created");

    const upload = await server.runtime.backend.uploads.get(id);
    assert.equal(upload?.state, "completed");
    assert.equal(upload?.bytes, file.byteLength);
    assert.equal(upload?.key, `tenants/alice/uploads/${id}/${safeKeySegment("holiday clip.mp4")}`);
    assert.equal(await sha256OfBlob(server, upload.key), createHash("sha256").update(file).digest("hex"));
    assert.equal(await exists(join(dir, "tus-uploads", id)), false, "the partial file is removed");
    assert.equal(await waitForJob(server, jobId), "succeeded");

    const done = await head(server, location);
    assert.equal(done.status, 200, "a finished upload still answers HEAD");
    assert.equal(done.headers.get("upload-offset"), String(file.byteLength));
  });

  it("creates with the first bytes in the POST and leaves the upload usable as a job input", async () => {
    const file = randomBytes(1000);
    const created = await server.request("/v1/tus", {
      method: "POST",
      headers: {
        ...tus,
        "upload-length": String(file.byteLength),
        "upload-metadata": metadataHeader({ filename: "notes.bin" }),
        "content-type": "application/offset+octet-stream",
      },
      body: file,
    });
    assert.equal(created.status, 201, await created.text());
    assert.equal(created.headers.get("upload-offset"), String(file.byteLength));
    const id = created.headers.get("mediaflow-upload-id") ?? "";
    assert.equal(created.headers.get("mediaflow-job-id"), null, "no pipeline named, no job");
    const job = await server.request("/v1/jobs", {
      method: "POST",
      body: JSON.stringify({ pipeline: "demo", input: { uploadId: id }, params: { nap: "10ms" } }),
    });
    assert.equal(job.status, 202, await job.text());
  });

  it("answers another tenant's upload with 404 and a request without a key with 401", async () => {
    const created = await createUpload(server, 10, { filename: "a.txt" });
    const location = created.headers.get("location") ?? "";
    assert.equal((await head(server, location, server.keys.bob)).status, 404);
    const foreignPatch = await server.request(new URL(location).pathname, {
      method: "PATCH",
      key: server.keys.bob,
      headers: { ...tus, "upload-offset": "0", "content-type": "application/offset+octet-stream" },
      body: "0123456789",
    });
    assert.equal(foreignPatch.status, 404);
    const foreignDelete = await server.request(new URL(location).pathname, {
      method: "DELETE",
      key: server.keys.bob,
      headers: tus,
    });
    assert.equal(foreignDelete.status, 404);
    assert.equal((await createUpload(server, 10, { filename: "a.txt" }, null)).status, 401);
    assert.equal((await head(server, location)).headers.get("upload-offset"), "0", "bob changed nothing");
  });

  it("refuses an upload over the size limit (413), a deferred length (501) and a PATCH at the wrong offset (409)", async () => {
    const tooLarge = await createUpload(server, maxUploadBytes + 1, { filename: "big.mp4" });
    assert.equal(tooLarge.status, 413);
    assert.equal(tooLarge.headers.get("content-type"), "application/problem+json; charset=utf-8");
    const deferred = await server.request("/v1/tus", {
      method: "POST",
      headers: { ...tus, "upload-defer-length": "1" },
    });
    assert.equal(deferred.status, 501, "the size must be declared up front");
    const options = await server.request("/v1/tus", { method: "OPTIONS" });
    assert.equal(options.status, 204);
    assert.equal(options.headers.get("tus-max-size"), String(maxUploadBytes));
    assert.doesNotMatch(options.headers.get("tus-extension") ?? "", /creation-defer-length/);
    const created = await createUpload(server, 10, { filename: "a.txt" });
    const location = created.headers.get("location") ?? "";
    const wrong = await patch(server, location, 5, Buffer.from("01234"));
    assert.equal(wrong.status, 409);
    assert.equal(((await wrong.json()) as { code: string }).code, "conflict");
  });

  it("refuses an unknown pipeline or bad params in the metadata with 422 before any byte is sent", async () => {
    const unknown = await createUpload(server, 10, { filename: "a.mp4", pipeline: "no-such-pipeline" });
    assert.equal(unknown.status, 422);
    assert.equal(((await unknown.json()) as { code: string }).code, "invalid_pipeline");
    const badParams = await createUpload(server, 10, {
      filename: "a.mp4",
      pipeline: "demo",
      params: JSON.stringify({ unknownParam: 1 }),
    });
    assert.equal(badParams.status, 422, await badParams.clone().text());
  });

  it("terminates an unfinished upload with DELETE", async () => {
    const created = await createUpload(server, 10, { filename: "a.txt" });
    const location = created.headers.get("location") ?? "";
    const deleted = await server.request(new URL(location).pathname, { method: "DELETE", headers: tus });
    assert.equal(deleted.status, 204);
    assert.equal((await head(server, location)).status, 404);
  });

  it("answers the last PATCH with 422 when the job cannot be created, and keeps the upload complete", async () => {
    // A second API on the same runtime whose pipelines this test can change between creation and finish.
    const { runtime } = server;
    const pipelines = await loadPipelineDir(bundledPipelinesDir, runtime.catalog);
    const app = await buildApi({
      engine: runtime.engine,
      storage: runtime.storage,
      uploads: runtime.backend.uploads,
      catalog: runtime.catalog,
      pipelines,
      authenticate: apiKeyAuthenticator(runtime.backend.apiKeys),
      signer: new UrlSigner(Buffer.from("tus-test-secret")),
      metrics: new ApiMetrics(runtime.engine),
      log: runtime.log,
      limits: { ...apiLimitDefaults, allowPrivateImports: true },
      uploadTmpDir: join(dir, "second-api-uploads"),
      ready: async () => undefined,
    });
    const url = await app.listen({ host: "127.0.0.1", port: 0 });
    try {
      const file = randomBytes(2000);
      const created = await fetch(`${url}/v1/tus`, {
        method: "POST",
        headers: {
          ...tus,
          authorization: `Bearer ${server.keys.alice}`,
          "upload-length": String(file.byteLength),
          "upload-metadata": metadataHeader({ filename: "late.bin", pipeline: "demo" }),
        },
      });
      assert.equal(created.status, 201, await created.text());
      pipelines.delete("demo");
      const location = created.headers.get("location") ?? "";
      const last = await fetch(location, {
        method: "PATCH",
        headers: {
          ...tus,
          authorization: `Bearer ${server.keys.alice}`,
          "upload-offset": "0",
          "content-type": "application/offset+octet-stream",
        },
        body: file,
      });
      assert.equal(last.status, 422);
      const problem = (await last.json()) as { code: string; detail: string };
      assert.equal(problem.code, "invalid_pipeline");
      const id = location.split("/").at(-1) ?? "";
      assert.match(problem.detail, new RegExp(id));
      assert.equal((await server.runtime.backend.uploads.get(id))?.state, "completed");
      const job = await server.request("/v1/jobs", {
        method: "POST",
        body: JSON.stringify({ pipeline: "demo", input: { uploadId: id }, params: { nap: "10ms" } }),
      });
      assert.equal(job.status, 202, "the complete upload is a job input for a later POST /v1/jobs");
    } finally {
      await app.close();
    }
  });
});
