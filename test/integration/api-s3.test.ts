import assert from "node:assert/strict";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { startTestServer, type TestServer } from "../support/api-server.js";
import { makeImage } from "../support/media-fixtures.js";
import { type LocalS3Server, startS3Server } from "../support/s3-server.js";

interface JobBody {
  id: string;
  status: string;
  outputs: { name: string; bytes: number; url: string }[];
}

/**
 * With S3 storage, clients move bytes to and from the bucket themselves: the upload link is a presigned
 * PUT (its size signed), and standalone outputs are presigned GETs; mediaflow never proxies them.
 */
describe("the HTTP API on S3 storage", () => {
  let dir: string;
  let s3: LocalS3Server;
  let server: TestServer;
  const saved = { ...process.env };

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "mediaflow-api-s3-"));
    s3 = await startS3Server();
    await s3.createBucket("media");
    // The AWS SDK reads credentials from the environment, as a deployment would provide them.
    process.env.AWS_ACCESS_KEY_ID = s3.credentials.accessKeyId;
    process.env.AWS_SECRET_ACCESS_KEY = s3.credentials.secretAccessKey;
    process.env.AWS_REGION = s3.region;
    server = await startTestServer(
      dir,
      {},
      { storageUrl: `s3://media/api?endpoint=${encodeURIComponent(s3.endpoint)}&forcePathStyle=true` },
    );
  });
  after(async () => {
    await server.close();
    await s3.close();
    process.env = saved;
    await rm(dir, { recursive: true, force: true });
  });

  it("uploads to the bucket through a presigned PUT and serves the output through a presigned GET", async () => {
    const photo = await readFile(await makeImage(join(dir, "photo.jpg"), { width: 320, height: 240 }));
    const created = await server.request("/v1/uploads", {
      method: "POST",
      body: JSON.stringify({ filename: "photo.jpg", contentType: "image/jpeg", bytes: photo.length }),
    });
    assert.equal(created.status, 201, await created.clone().text());
    const upload = (await created.json()) as { id: string; url: string };
    assert.ok(upload.url.startsWith(s3.endpoint), `the link points at the bucket: ${upload.url}`);

    // Not there yet: a job cannot use it.
    const early = await server.request("/v1/jobs", {
      method: "POST",
      body: JSON.stringify({ pipeline: "thumbnail", input: { uploadId: upload.id } }),
    });
    assert.equal(early.status, 409);

    const put = await fetch(upload.url, {
      method: "PUT",
      body: photo,
      headers: { "content-type": "image/jpeg" },
    });
    assert.equal(put.status, 200, await put.text());

    const response = await server.request("/v1/jobs", {
      method: "POST",
      body: JSON.stringify({ pipeline: "thumbnail", input: { uploadId: upload.id } }),
    });
    assert.equal(response.status, 202, await response.clone().text());
    const { id } = (await response.json()) as JobBody;
    let job: JobBody | undefined;
    for (let i = 0; i < 400; i++) {
      job = (await (await server.request(`/v1/jobs/${id}`)).json()) as JobBody;
      if (!["queued", "running"].includes(job.status)) break;
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    assert.equal(job?.status, "succeeded", JSON.stringify(job));
    const output = job?.outputs[0];
    assert.ok(output !== undefined);
    assert.ok(output.url.startsWith(s3.endpoint), `the download comes from the bucket: ${output.url}`);
    const download = await fetch(output.url);
    assert.equal(download.status, 200);
    const body = Buffer.from(await download.arrayBuffer());
    assert.equal(body.length, output.bytes);
    assert.deepEqual([...body.subarray(0, 3)], [0xff, 0xd8, 0xff], "a JPEG");
  });
});
