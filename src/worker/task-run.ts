import { randomBytes } from "node:crypto";
import { mkdirSync } from "node:fs";
import { mkdir, rm, rmdir } from "node:fs/promises";
import { basename, join } from "node:path";
import type { Logger } from "pino";
import type { ClaimedTask, Engine } from "../engine/engine.js";
import {
  coerceError,
  ErrorCodes,
  LeaseLostError,
  PermanentError,
  RetryLaterError,
} from "../errors/errors.js";
import type { StepCatalog } from "../steps/catalog.js";
import { isSplitRequest, type StepContext, type StepOutput } from "../steps/step-type.js";
import type { BlobStore } from "../storage/blob-store.js";
import { safeKeySegment } from "../storage/keys.js";
import { contentTypeFor } from "../util/content-type.js";
import type { JsonObject } from "../util/json.js";
import { StepTimeoutError, WorkerShutdownError } from "./abort-reasons.js";

export interface TaskRunDependencies {
  engine: Engine;
  catalog: StepCatalog;
  storage: BlobStore;
  log: Logger;
  tmpDir: string;
  leaseMs: number;
  defaultTimeoutMs: number;
  /** The step has returned and only its result is left to record: its slot can be refilled meanwhile. */
  finishing(run: TaskRun): void;
}

/**
 * One claimed task on this worker: runs the step in a directory of its own, under an AbortSignal that
 * cancellation, lease loss, the timeout and shutdown all use, then records what happened with the lease.
 */
export class TaskRun {
  /** Why the attempt was stopped (cancel, lease loss, timeout, shutdown); undefined while it may go on. */
  abortReason: Error | undefined;
  /**
   * Made the first time the step asks for its signal: an AbortSignal costs microseconds to make, a
   * noticeable share of a quick step's whole cost, and many quick steps never look at it.
   */
  private controller: AbortController | undefined;
  /** Epoch ms when the lease runs out unless renewed. */
  leaseExpiresAt: number;
  /** Progress reported and not yet written. */
  pendingProgress: { fraction: number; message: string | undefined } | undefined;
  /** The step said it is alive since the lease was last renewed. */
  alive = false;
  lastRenewedAt = Date.now();
  readonly done: Promise<void>;
  /** Made when first used, as the signal is: most attempts log nothing. */
  private logger: Logger | undefined;

  constructor(
    readonly claim: ClaimedTask,
    private readonly deps: TaskRunDependencies,
  ) {
    this.leaseExpiresAt = claim.leaseExpiresAt;
    this.done = this.run();
  }

  private get log(): Logger {
    if (this.logger === undefined) {
      const { lease, attempt } = this.claim;
      this.logger = this.deps.log.child({
        job: lease.jobId,
        step: lease.step,
        part: lease.part ?? undefined,
        attempt,
      });
    }
    return this.logger;
  }

  get signal(): AbortSignal {
    if (this.controller === undefined) {
      this.controller = new AbortController();
      if (this.abortReason !== undefined) this.controller.abort(this.abortReason);
    }
    return this.controller.signal;
  }

  abort(reason: Error): void {
    if (this.abortReason !== undefined) return;
    this.abortReason = reason;
    this.controller?.abort(reason);
  }

  private async run(): Promise<void> {
    const { claim, deps } = this;
    const type = deps.catalog.get(claim.spec.use);
    const timeoutMs = claim.spec.timeoutMs ?? type?.defaultTimeoutMs ?? deps.defaultTimeoutMs;
    const timer = setTimeout(() => this.abort(new StepTimeoutError(timeoutMs)), timeoutMs);
    // Several databases (and so several task 1s) may share one temp directory: the process's random tag
    // and a count of this process's attempts keep their names apart. Named only when a step asks.
    let name: string | undefined;
    const unique = () =>
      (name ??= `${claim.lease.taskId}-t${claim.lease.token}-${processTag}${(++attemptsNamed).toString(36)}`);
    const workDir = new LazyDirectory(() => join(deps.tmpDir, `task-${unique()}`));
    const tempFiles = new TempFiles(deps.tmpDir, () => `file-${unique()}`);
    try {
      if (type === undefined) {
        throw new PermanentError(
          ErrorCodes.invalidPipeline,
          `this worker does not know step type ${claim.spec.use}`,
        );
      }
      const parsed = type.params.safeParse(claim.spec.with);
      if (!parsed.success) {
        const problems = parsed.error.issues.map(
          (issue) => `${issue.path.join(".") || "with"}: ${issue.message}`,
        );
        throw new PermanentError(ErrorCodes.invalidParams, `invalid parameters: ${problems.join("; ")}`);
      }
      const outcome = await type.run(this.context(parsed.data, workDir, tempFiles));
      this.throwIfAborted();
      if (isSplitRequest(outcome)) await deps.engine.splitTask(claim.lease, outcome.split);
      else {
        deps.finishing(this);
        await deps.engine.completeTask(claim.lease, outcome);
      }
    } catch (thrown) {
      await this.recordFailure(thrown);
    } finally {
      clearTimeout(timer);
      await Promise.all([workDir.remove(), tempFiles.remove()]);
    }
  }

  private throwIfAborted(): void {
    if (this.abortReason !== undefined) throw this.abortReason;
  }

  private async recordFailure(thrown: unknown): Promise<void> {
    const { engine } = this.deps;
    const { lease } = this.claim;
    // When the signal fired, its reason says what happened, whatever the step threw on its way out.
    const reason = this.abortReason ?? thrown;
    try {
      if (reason instanceof LeaseLostError) {
        this.log.warn({ reason: reason.message }, "stopped: lease lost, nothing recorded");
      } else if (reason instanceof WorkerShutdownError) {
        await engine.releaseTask(lease, reason.message);
        this.log.info("handed back on shutdown");
      } else if (reason instanceof RetryLaterError) {
        await engine.deferTask(lease, reason);
      } else {
        const error = coerceError(reason);
        this.log.warn({ code: error.code, err: error }, "attempt failed");
        await engine.failTask(lease, error);
      }
    } catch (recordError) {
      if (recordError instanceof LeaseLostError) {
        this.log.warn({ reason: recordError.message }, "result not recorded: lease lost");
      } else {
        // The lease will run out and another attempt will follow: at-least-once, nothing lost.
        this.log.error({ err: recordError }, "could not record the attempt's result");
      }
    }
  }

  private context<P>(params: P, workDir: LazyDirectory, tempFiles: TempFiles): StepContext<P> {
    const { claim, deps } = this;
    const { lease } = claim;
    const run = this;
    return {
      params,
      get workDir() {
        return workDir.path();
      },
      tempFile: (name) => tempFiles.path(name),
      job: claim.job,
      step: {
        name: lease.step,
        type: claim.spec.use,
        attempt: claim.attempt,
        maxAttempts: claim.maxAttempts,
      },
      part: claim.part,
      needs: claim.needs,
      get signal() {
        return run.signal;
      },
      storage: deps.storage,
      get log() {
        return run.log;
      },
      progress: (fraction, message) => {
        this.pendingProgress = { fraction: Math.min(1, Math.max(0, fraction)), message };
        this.alive = true;
      },
      heartbeat: () => {
        this.alive = true;
      },
      localFile: async (key) => {
        const direct = deps.storage.localPath(key);
        if (direct !== undefined) return direct;
        const dir = join(workDir.path(), "inputs");
        await mkdir(dir, { recursive: true });
        const path = join(dir, safeKeySegment(basename(key)));
        await deps.storage.download(key, path, { signal: this.signal });
        return path;
      },
      saveOutput: async (name, path, options = {}) => {
        this.throwIfAborted();
        const contentType = options.contentType ?? contentTypeFor(name);
        // The lease token in the key: a stale attempt can never overwrite what a later one stored. One
        // folder per attempt (`thumb.t1`, `encode.p2.t1`; step names have no dots), not one per level:
        // each new folder costs a put an fsync of its parent.
        const part = lease.part === null ? "" : `.p${lease.part}`;
        // A name may have folders (an HLS package); each part is made safe on its own.
        const relative = name.split("/").filter(Boolean).map(safeKeySegment).join("/");
        const key = `jobs/${lease.jobId}/${lease.step}${part}.t${lease.token}/${relative}`;
        const put = { contentType, signal: this.signal };
        const info = options.move
          ? await deps.storage.moveFile(key, path, put)
          : await deps.storage.putFile(key, path, put);
        if (options.move) tempFiles.taken(path);
        const output: StepOutput = { name, key, contentType, bytes: info.bytes };
        if (options.meta !== undefined) output.meta = options.meta as JsonObject;
        return output;
      },
    };
  }
}

/** Random per process: the temp names of two worker processes never meet, without random bytes per task. */
const processTag = randomBytes(4).toString("hex");
let attemptsNamed = 0;

/**
 * A task's scratch directory, made the first time a step asks for it: most steps that only call tools
 * on stored files never need one, and making and removing a directory per task was a fifth of the
 * engine's cost per job in the benchmark. The lease token in the name keeps two attempts apart.
 */
class LazyDirectory {
  private location: string | undefined;

  constructor(private readonly name: () => string) {}

  path(): string {
    if (this.location === undefined) {
      const location = this.name();
      mkdirSync(location, { recursive: true });
      this.location = location;
    }
    return this.location;
  }

  async remove(): Promise<void> {
    const location = this.location;
    if (location === undefined) return;
    // Steps mostly move what they made into the store, leaving the directory empty: one rmdir then.
    await rmdir(location).catch(() => rm(location, { recursive: true, force: true }));
  }
}

/**
 * The files handed out by `tempFile`, side by side in the worker's scratch folder. The folder is made
 * again if it is missing (the worker makes it as it starts, concurrently with the first tasks): a mkdir
 * of a folder that exists is a lookup, unlike making and removing a directory for every task.
 */
class TempFiles {
  private readonly paths = new Set<string>();
  private count = 0;

  constructor(
    private readonly dir: string,
    private readonly prefix: () => string,
  ) {}

  path(name: string): string {
    if (this.paths.size === 0) mkdirSync(this.dir, { recursive: true });
    this.count += 1;
    const path = join(this.dir, `${this.prefix()}-${this.count}-${safeKeySegment(basename(name))}`);
    this.paths.add(path);
    return path;
  }

  /** The store took the file: nothing is left to remove. */
  taken(path: string): void {
    this.paths.delete(path);
  }

  async remove(): Promise<void> {
    await Promise.all([...this.paths].map((path) => rm(path, { force: true })));
    this.paths.clear();
  }
}
