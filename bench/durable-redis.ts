import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { mkdirSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { redisUnavailableReason } from "./bullmq-target.js";
import type { RedisAddress } from "./redis-probe.js";

/**
 * A Redis server of the benchmark's own that acknowledges a write only once its append-only file is
 * flushed (`appendfsync always`), as mediaflow acknowledges a job only once its commit is flushed: BullMQ
 * on it is the reference with the same promise. Started from `redis-server` on the PATH, in a directory
 * under the benchmark's, on a port nobody was using a moment before; stopped at the end of the run.
 */
export interface DurableRedis {
  address: RedisAddress;
  stop(): Promise<void>;
}

/** How long a starting Redis may take to answer PING: it loads an empty AOF. */
const startTimeoutMs = 5_000;

/** The server, or why there is none (no `redis-server` on the PATH, or it did not start). */
export async function startDurableRedis(dir: string): Promise<DurableRedis | { skipped: string }> {
  const port = await freePort();
  const dataDir = join(dir, "redis-aof-always");
  mkdirSync(dataDir, { recursive: true });
  const args = [
    ...["--port", String(port), "--bind", "127.0.0.1", "--dir", dataDir],
    ...["--appendonly", "yes", "--appendfsync", "always", "--save", ""],
    ...["--daemonize", "no", "--loglevel", "warning"],
  ];
  const server = spawn("redis-server", args, { stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  server.stderr?.on("data", (chunk: Buffer) => {
    stderr = (stderr + chunk.toString("utf8")).slice(-500);
  });
  const exited = once(server, "exit").then(() => undefined);
  const spawnError = once(server, "error").then(([error]) =>
    (error as NodeJS.ErrnoException).code === "ENOENT"
      ? "redis-server is not on the PATH (Debian: apt-get install redis-server)"
      : String(error),
  );
  const address: RedisAddress = { host: "127.0.0.1", port, username: undefined, password: undefined, db: 0 };
  const deadline = Date.now() + startTimeoutMs;
  for (;;) {
    const failed = await Promise.race([spawnError, exited.then(() => "exited"), sleep(50, undefined)]);
    if (failed !== undefined) {
      return { skipped: failed === "exited" ? `redis-server exited: ${stderr.trim()}` : failed };
    }
    if ((await redisUnavailableReason(address)) === undefined) break;
    if (Date.now() > deadline) {
      await stop(server, exited);
      return { skipped: `redis-server did not answer within ${startTimeoutMs} ms: ${stderr.trim()}` };
    }
  }
  return { address, stop: () => stop(server, exited) };
}

async function stop(server: ChildProcess, exited: Promise<void>): Promise<void> {
  if (server.exitCode === null && server.signalCode === null) server.kill("SIGTERM");
  await exited;
}

/** A port the kernel just gave out and took back: free unless something takes it in between. */
async function freePort(): Promise<number> {
  const probe = createServer();
  probe.listen(0, "127.0.0.1");
  await once(probe, "listening");
  const address = probe.address();
  probe.close();
  await once(probe, "close");
  if (address === null || typeof address === "string") throw new Error("no TCP port to give Redis");
  return address.port;
}
