import { once } from "node:events";
import { Worker } from "node:worker_threads";
import type { SqliteDatabase } from "./connection.js";

/** What the writer tells its checkpoints, and waits for. */
export interface Checkpoints {
  /** The writer committed a transaction. */
  committed(): void;
  /** Undefined when the writer may begin its next transaction now, else when it may. */
  beforeTransaction(): Promise<void> | undefined;
  close(): Promise<void>;
}

/** SQLite's own checkpoints, in the COMMIT that takes the log past 1000 pages. */
export const checkpointsInCommit: Checkpoints = {
  committed: () => {},
  beforeTransaction: () => undefined,
  close: () => Promise.resolve(),
};

export interface CheckpointSettings {
  /** Commits before the thread is started: a short-lived connection (a CLI command) never starts one. */
  startAfterCommits: number;
  /** Log pages between two checkpoints, counted from the pages each checkpoint finds. */
  framesPerCheckpoint: number;
  /** Commits before the first checkpoint, before any has told how many pages a commit writes. */
  firstCheckpointAfterCommits: number;
  /**
   * Log pages past which the writer pauses for a checkpoint, so that the log starts over: while the writer
   * keeps committing, checkpoints alongside it never catch up with the log's end, and it would grow.
   */
  pauseAtLogFrames: number;
}

export const defaultCheckpointSettings: CheckpointSettings = {
  startAfterCommits: 100,
  // As often as SQLite's own: more often only adds fsyncs that a commit's flush then queues behind.
  framesPerCheckpoint: 1_000,
  // About 700 pages at concurrency 10 (21 per commit).
  firstCheckpointAfterCommits: 32,
  // 16 MiB of log with 4 KiB pages.
  pauseAtLogFrames: 4_000,
};

/** Sent to the thread. */
export type CheckpointRequest = "checkpoint" | "close";
/** Sent back: once when the thread is ready, then once per request. */
export type CheckpointReply =
  | { ok: true; logFrames: number; copiedFrames: number }
  | { ok: false; message: string };
export interface CheckpointThreadData {
  path: string;
}

function checkpointThread(data: CheckpointThreadData): Worker {
  return new Worker(new URL("./checkpoint-thread.js", import.meta.url), { workerData: data });
}

/**
 * Checkpoints on a thread of their own. A checkpoint copies the pages of the write-ahead log into the
 * database file and fsyncs both; SQLite makes it inside the COMMIT that takes the log past 1000 pages, so
 * on the writer's thread, which is the event loop: 3.5-5 ms at a time, every 50 commits at worker
 * concurrency 10 (7% of the writer's time, measured), during which nothing else in the process runs.
 * Here the writer commits without them (`wal_autocheckpoint = 0`) and a thread with its own connection
 * makes PASSIVE checkpoints, which neither wait for the writer nor block it, as often as SQLite's own
 * would (every 1000 pages of log, as counted from what each checkpoint finds).
 *
 * The log starts over from its beginning only when a transaction begins on a log copied to its end. When
 * the writer keeps committing, a checkpoint alongside it rarely ends there, so once the log has grown past
 * `pauseAtLogFrames` the writer waits for one checkpoint before its next transaction (without blocking the
 * event loop). A failure of the thread hands checkpoints back to SQLite's own, which are just as correct.
 */
export class BackgroundCheckpoints implements Checkpoints {
  private state: "waiting" | "starting" | "running" | "stopped" = "waiting";
  private thread: Worker | undefined;
  private commits = 0;
  /** Commits between two checkpoints: `framesPerCheckpoint` over the pages a commit was seen to write. */
  private commitsPerCheckpoint: number;
  /** Commits counted when the checkpoint under way was asked for, and the log's pages the last one found. */
  private commitsAsked = 0;
  private lastLogFrames = 0;
  private checkpointsMade = 0;
  private inFlight: Promise<CheckpointReply> | undefined;
  private settle: ((reply: CheckpointReply) => void) | undefined;
  private pauseWriter = false;
  /** Past this, the writer pauses; raised while a reader keeps part of the log from being copied. */
  private pauseAt: number;

  constructor(
    private readonly db: SqliteDatabase,
    private readonly settings: CheckpointSettings = defaultCheckpointSettings,
    private readonly startThread: (data: CheckpointThreadData) => Worker = checkpointThread,
  ) {
    this.pauseAt = settings.pauseAtLogFrames;
    this.commitsPerCheckpoint = settings.firstCheckpointAfterCommits;
  }

  /** Checkpoints the thread has made. */
  get made(): number {
    return this.checkpointsMade;
  }

  committed(): void {
    this.commits += 1;
    if (this.state === "waiting" && this.commits >= this.settings.startAfterCommits) this.start();
    else if (
      this.state === "running" &&
      this.inFlight === undefined &&
      this.commits >= this.commitsPerCheckpoint
    ) {
      void this.checkpoint();
    }
  }

  beforeTransaction(): Promise<void> | undefined {
    return this.pauseWriter ? this.copyWholeLog() : undefined;
  }

  async close(): Promise<void> {
    const thread = this.thread;
    this.state = "stopped";
    if (thread === undefined) return;
    this.thread = undefined;
    await this.inFlight;
    // Referenced again: an unreferenced thread would let the process end before it has closed.
    thread.ref();
    const exited = once(thread, "exit");
    thread.postMessage("close" satisfies CheckpointRequest);
    await exited;
  }

  private start(): void {
    this.state = "starting";
    const thread = this.startThread({ path: this.db.name });
    // Held only while a checkpoint is under way, so that an idle writer never keeps a process alive.
    thread.unref();
    thread.on("message", (reply: CheckpointReply) => this.received(reply));
    thread.on("error", () => this.fallBack());
    thread.on("exit", () => this.fallBack());
    this.thread = thread;
  }

  private received(reply: CheckpointReply): void {
    if (!reply.ok) {
      this.fallBack();
      return;
    }
    if (this.state === "starting") {
      this.db.pragma("wal_autocheckpoint = 0");
      this.state = "running";
      // The commits made while it started are due too.
      if (this.commits >= this.commitsPerCheckpoint) void this.checkpoint();
      return;
    }
    this.checkpointsMade += 1;
    if (reply.logFrames >= this.pauseAt) this.pauseWriter = true;
    this.learnPagesPerCommit(reply.logFrames);
    this.finish(reply);
  }

  private checkpoint(): Promise<CheckpointReply> {
    const thread = this.thread;
    if (thread === undefined || this.state !== "running") {
      return Promise.resolve({ ok: false, message: "no checkpoint thread" });
    }
    this.commitsAsked = this.commits;
    this.commits = 0;
    this.inFlight = new Promise<CheckpointReply>((resolve) => {
      this.settle = resolve;
    });
    thread.ref();
    thread.postMessage("checkpoint" satisfies CheckpointRequest);
    return this.inFlight;
  }

  /**
   * The log grew by this many pages since the previous checkpoint began, over the commits counted between
   * the two requests (when it started over meanwhile, the pages since then: an underestimate, which only
   * spaces checkpoints further apart).
   */
  private learnPagesPerCommit(logFrames: number): void {
    const grown = logFrames >= this.lastLogFrames ? logFrames - this.lastLogFrames : logFrames;
    this.lastLogFrames = logFrames;
    if (grown <= 0 || this.commitsAsked <= 0) return;
    const perCommit = grown / this.commitsAsked;
    this.commitsPerCheckpoint = Math.min(
      1_000,
      Math.max(1, Math.round(this.settings.framesPerCheckpoint / perCommit)),
    );
  }

  private finish(reply: CheckpointReply): void {
    const settle = this.settle;
    this.settle = undefined;
    this.inFlight = undefined;
    this.thread?.unref();
    settle?.(reply);
  }

  /** While the writer waits, a checkpoint copies the log to its end; its next transaction starts it over. */
  private async copyWholeLog(): Promise<void> {
    await this.inFlight;
    const reply = await this.checkpoint();
    this.pauseWriter = false;
    // A reader kept part of the log: pausing again before it lets go would not help.
    const held = reply.ok && reply.copiedFrames < reply.logFrames;
    this.pauseAt = (held ? reply.logFrames : 0) + this.settings.pauseAtLogFrames;
  }

  /** Back to SQLite's own checkpoints; idempotent. */
  private fallBack(): void {
    if (this.state === "stopped") return;
    this.state = "stopped";
    const thread = this.thread;
    this.thread = undefined;
    if (this.db.open) this.db.pragma("wal_autocheckpoint = 1000");
    this.pauseWriter = false;
    this.finish({ ok: false, message: "the checkpoint thread stopped" });
    void thread?.terminate();
  }
}
