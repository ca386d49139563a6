/**
 * `npm run bench:api`: the HTTP API of a real server (SQLite, local storage, embedded worker) in a child
 * process, loaded by autocannon from this one: requests/s and p99 for reading a job and for creating one,
 * then one large upload through a signed PUT URL, streamed from a generator, with the server's resident
 * memory sampled every 100 ms throughout. See docs/benchmarks.md.
 *
 * Options: --size 256MB (default 1GB; KB, MB and GB are powers of 1024), --duration SECONDS (default 10,
 * per autocannon run), --connections N (default 10).
 */
import { type ChildProcess, fork } from "node:child_process";
import { randomBytes } from "node:crypto";
import { once } from "node:events";
import { mkdtemp, rm } from "node:fs/promises";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import autocannon from "autocannon";
import type { ApiBenchCommand, ApiServerMessage } from "./api-server.js";
import {
  type Column,
  machineFacts,
  print,
  progress,
  renderTable,
  runBench,
  withDeadline,
} from "./harness.js";

const serverPath = fileURLToPath(new URL("./api-server.js", import.meta.url));

/** The pipeline every created job runs: one step that does nothing, so the API and the queue are measured. */
const noopJobBody = JSON.stringify({
  pipeline: { name: "bench-noop", steps: { noop: { use: "util.noop" } } },
});

/**
 * 1 MiB chunks: large enough that per-chunk overhead is negligible, small beside any server buffer
 * worth noticing. The same random chunk is sent over and over, so the client holds 1 MiB, not the file.
 */
const chunkBytes = 1024 * 1024;

interface EndpointResult {
  name: string;
  requestsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  requests: number;
  failures: number;
}

interface UploadResult {
  bytes: number;
  seconds: number;
  rss: Extract<ApiServerMessage, { type: "rss" }>;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      size: { type: "string", default: "1GB" },
      duration: { type: "string", default: "10" },
      connections: { type: "string", default: "10" },
    },
  });
  const uploadBytes = parseSize(values.size);
  const duration = positive(values.duration, "--duration");
  const connections = positive(values.connections, "--connections");
  const started = performance.now();
  const startedAt = new Date();
  const dir = await mkdtemp(join(tmpdir(), "mediaflow-bench-api-"));
  const server = new ServerProcess(
    fork(serverPath, [dir], { stdio: ["ignore", "inherit", "inherit", "ipc"] }),
  );
  try {
    const { url, key } = await withDeadline(server.ready(), 30_000, "starting the API server");
    const headers = { authorization: `Bearer ${key}`, "content-type": "application/json" };

    const created = await fetch(`${url}/v1/jobs`, { method: "POST", headers, body: noopJobBody });
    if (created.status !== 202)
      throw new Error(`creating a job answered ${created.status}: ${await created.text()}`);
    const { id } = (await created.json()) as { id: string };

    progress(`GET /v1/jobs/:id, ${connections} connections, ${duration} s`);
    const read = await load("GET /v1/jobs/:id", {
      url: `${url}/v1/jobs/${id}`,
      headers: { authorization: headers.authorization },
      connections,
      duration,
    });
    progress(`POST /v1/jobs, ${connections} connections, ${duration} s`);
    const create = await load("POST /v1/jobs (inline util.noop)", {
      url: `${url}/v1/jobs`,
      method: "POST",
      headers,
      body: noopJobBody,
      connections,
      duration,
    });
    progress("waiting for the embedded worker to finish the jobs created above");
    await withDeadline(untilIdle(url, headers), 300_000, "the worker finishing the created jobs");
    progress(`upload of ${formatMiB(uploadBytes)} through a signed PUT URL`);
    const upload = await measureUpload(server, url, headers, uploadBytes);

    print(
      "mediaflow API benchmark: a server process (SQLite, local storage, embedded worker) loaded by autocannon",
    );
    print("");
    for (const line of machineFacts(startedAt)) print(line);
    print("");
    print(
      `Requests: ${connections} connections for ${duration} s each, autocannon's figures (mean requests/s,`,
    );
    print("latency percentiles in ms); rate limit raised so that no request is refused for it.");
    print(endpointTable([read, create]));
    print("");
    print("Upload: POST /v1/uploads, then the file streamed to the signed PUT URL from a generator.");
    print(uploadTable(upload));
    print(`\ntotal time: ${((performance.now() - started) / 1000).toFixed(1)} s`);
  } finally {
    await server.close();
    await rm(dir, { recursive: true, force: true });
  }
}

async function load(name: string, options: Parameters<typeof autocannon>[0]): Promise<EndpointResult> {
  const result = await autocannon(options);
  return {
    name,
    requestsPerSecond: result.requests.average,
    p50Ms: result.latency.p50,
    p99Ms: result.latency.p99,
    requests: result["2xx"] + result.non2xx,
    failures: result.non2xx + result.errors + result.timeouts,
  };
}

/**
 * Resolves once no job is queued or running, so that the upload is measured without the worker working
 * off the jobs of the POST measurement beside it.
 */
async function untilIdle(baseUrl: string, headers: Record<string, string>): Promise<void> {
  const pending = async (status: string) => {
    const response = await fetch(`${baseUrl}/v1/jobs?status=${status}&limit=1`, { headers });
    if (response.status !== 200) throw new Error(`listing ${status} jobs answered ${response.status}`);
    return ((await response.json()) as { jobs: unknown[] }).jobs.length > 0;
  };
  while ((await pending("queued")) || (await pending("running"))) {
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

async function measureUpload(
  server: ServerProcess,
  baseUrl: string,
  headers: Record<string, string>,
  bytes: number,
): Promise<UploadResult> {
  const asked = await fetch(`${baseUrl}/v1/uploads`, {
    method: "POST",
    headers,
    body: JSON.stringify({ filename: "bench.bin", contentType: "application/octet-stream", bytes }),
  });
  if (asked.status !== 201)
    throw new Error(`POST /v1/uploads answered ${asked.status}: ${await asked.text()}`);
  const { url } = (await asked.json()) as { url: string };

  server.send({ type: "track-rss" });
  const start = performance.now();
  await putStream(new URL(url, baseUrl), bytes);
  const seconds = (performance.now() - start) / 1000;
  return { bytes, seconds, rss: await server.reportRss() };
}

/** PUTs `bytes` bytes generated on the fly; resolves when the server has answered 2xx. */
async function putStream(url: URL, bytes: number): Promise<void> {
  const put = request(url, {
    method: "PUT",
    headers: { "content-type": "application/octet-stream", "content-length": String(bytes) },
  });
  const answered = once(put, "response") as Promise<[import("node:http").IncomingMessage]>;
  await pipeline(Readable.from(generate(bytes)), put);
  const [response] = await answered;
  let text = "";
  for await (const chunk of response) text += String(chunk);
  const status = response.statusCode ?? 0;
  if (status < 200 || status > 299) throw new Error(`the upload PUT answered ${status}: ${text}`);
}

function* generate(bytes: number): Generator<Buffer> {
  const chunk = randomBytes(chunkBytes);
  for (let sent = 0; sent < bytes; sent += chunkBytes) {
    yield bytes - sent >= chunkBytes ? chunk : chunk.subarray(0, bytes - sent);
  }
}

/** The forked server and the replies it sends over IPC. */
class ServerProcess {
  private readonly messages: ApiServerMessage[] = [];
  private readonly listeners: (() => void)[] = [];
  private readonly exited: Promise<void>;

  constructor(private readonly child: ChildProcess) {
    child.on("message", (message: ApiServerMessage) => {
      this.messages.push(message);
      for (const listener of this.listeners.splice(0)) listener();
    });
    this.exited = new Promise((resolve) => child.once("exit", () => resolve()));
  }

  async ready(): Promise<{ url: string; key: string }> {
    const message = await this.next("ready");
    return { url: message.url, key: message.key };
  }

  send(command: ApiBenchCommand): void {
    this.child.send(command);
  }

  async reportRss(): Promise<Extract<ApiServerMessage, { type: "rss" }>> {
    this.send({ type: "report-rss" });
    return withDeadline(this.next("rss"), 10_000, "the server's memory report");
  }

  async close(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    if (this.child.connected) this.send({ type: "close" });
    const forced = setTimeout(() => this.child.kill("SIGKILL"), 10_000);
    await this.exited;
    clearTimeout(forced);
  }

  private next<T extends ApiServerMessage["type"]>(type: T): Promise<Extract<ApiServerMessage, { type: T }>> {
    return new Promise((resolve, reject) => {
      const look = () => {
        const index = this.messages.findIndex((message) => message.type === type);
        if (index >= 0) {
          resolve(this.messages.splice(index, 1)[0] as Extract<ApiServerMessage, { type: T }>);
        } else if (this.child.exitCode !== null) {
          reject(new Error(`the API server exited with ${this.child.exitCode}`));
        } else {
          this.listeners.push(look);
        }
      };
      this.child.once("exit", () => look());
      look();
    });
  }
}

function endpointTable(results: readonly EndpointResult[]): string {
  const columns: Column[] = [
    { title: "endpoint", align: "left" },
    { title: "requests", align: "right" },
    { title: "requests/s", align: "right" },
    { title: "p50 ms", align: "right" },
    { title: "p99 ms", align: "right" },
    { title: "not 2xx or failed", align: "right" },
  ];
  return renderTable(
    columns,
    results.map((result) => [
      result.name,
      String(result.requests),
      Math.round(result.requestsPerSecond).toString(),
      result.p50Ms.toFixed(1),
      result.p99Ms.toFixed(1),
      String(result.failures),
    ]),
  );
}

function uploadTable(result: UploadResult): string {
  const columns: Column[] = [
    { title: "size", align: "right" },
    { title: "seconds", align: "right" },
    { title: "MiB/s", align: "right" },
    { title: "server RSS before", align: "right" },
    { title: "peak", align: "right" },
    { title: "delta", align: "right" },
    { title: "samples", align: "right" },
  ];
  const { beforeBytes, peakBytes, samples } = result.rss;
  return renderTable(columns, [
    [
      formatMiB(result.bytes),
      result.seconds.toFixed(2),
      (result.bytes / 2 ** 20 / result.seconds).toFixed(1),
      formatMiB(beforeBytes),
      formatMiB(peakBytes),
      formatMiB(peakBytes - beforeBytes),
      String(samples),
    ],
  ]);
}

function formatMiB(bytes: number): string {
  return `${(bytes / 2 ** 20).toFixed(bytes >= 2 ** 30 ? 0 : 1)} MiB`;
}

const units: Record<string, number> = { B: 1, KB: 2 ** 10, MB: 2 ** 20, GB: 2 ** 30 };

function parseSize(text: string): number {
  const match = /^(\d+(?:\.\d+)?)\s*(B|KB|MB|GB)$/i.exec(text.trim());
  const unit = match?.[2] === undefined ? undefined : units[match[2].toUpperCase()];
  if (match?.[1] === undefined || unit === undefined)
    throw new Error(`--size must look like 256MB or 1GB, not ${JSON.stringify(text)}`);
  const bytes = Math.round(Number(match[1]) * unit);
  if (bytes < 1) throw new Error("--size must be at least one byte");
  return bytes;
}

function positive(text: string, name: string): number {
  const value = Number(text);
  if (!Number.isInteger(value) || value < 1)
    throw new Error(`${name} must be a positive integer, not ${text}`);
  return value;
}

runBench("bench:api", main);
