/**
 * The thread that copies the write-ahead log into the database file (see checkpoints.ts). It has a
 * connection of its own and runs one PASSIVE checkpoint per request: it copies what the log holds
 * without waiting for, or blocking, the writer or any reader.
 */
import { parentPort, workerData } from "node:worker_threads";
import Database from "better-sqlite3";
import type { CheckpointReply, CheckpointRequest, CheckpointThreadData } from "./checkpoints.js";

const port = parentPort;
if (port === null) throw new Error("checkpoint-thread.js runs as a worker thread");

const { path } = workerData as CheckpointThreadData;
const db = new Database(path, { fileMustExist: true });
// Waiting here holds up nobody: a lock another connection holds for a moment is waited for, not an error.
db.pragma("busy_timeout = 10000");
// The log is synced before the copy and the database file after it, whatever mode: NORMAL says so.
db.pragma("synchronous = NORMAL");
const checkpoint = db.prepare("PRAGMA wal_checkpoint(PASSIVE)");

port.on("message", (request: CheckpointRequest) => {
  if (request === "close") {
    db.close();
    port.close();
    return;
  }
  let reply: CheckpointReply;
  try {
    const row = checkpoint.get() as { busy: number; log: number; checkpointed: number };
    reply = { ok: true, logFrames: row.log, copiedFrames: row.checkpointed };
  } catch (error) {
    reply = { ok: false, message: error instanceof Error ? error.message : String(error) };
  }
  port.postMessage(reply);
});
port.postMessage({ ok: true, logFrames: 0, copiedFrames: 0 } satisfies CheckpointReply);
