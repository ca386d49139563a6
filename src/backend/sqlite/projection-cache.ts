import { copyProjection, type JobProjection } from "../../engine/projection.js";
import type { TransactionHooks } from "./connection.js";

/**
 * The projections of the jobs this process's writer loaded or saved last, so that a job changed by a
 * claim and then by its result is read from the database once, not twice, and its steps' JSON is not
 * parsed again. A saved projection is kept as it was handed over (the port's `appendEvents` takes it
 * over), and every load gets a copy to change, so no entry is ever changed in place. Entries hold only
 * what is durable or about to be: a rolled-back unit of work drops what it saved, a failed commit drops
 * all, and so does any commit by another connection to the file (another process), which SQLite's
 * data_version reveals when the writer begins a transaction.
 */
export class ProjectionCache implements TransactionHooks {
  /**
   * Two generations instead of one map kept in least-recently-used order: a map that has entries deleted
   * from its front and added at its back keeps the deleted slots until it is rehashed, and finding its
   * oldest entry walked over all of them (4-11 µs per save with 10,000-20,000 jobs, measured). Entries go
   * into `recent`; when it holds half the budget, it becomes `older` and the previous `older` is dropped.
   * A job read or saved again moves to `recent`, so what is dropped is what went unused the longest.
   */
  private recent = new Map<string, JobProjection>();
  private older = new Map<string, JobProjection>();
  /** Steps of the entries in `recent`: a job's size is mostly its steps. */
  private recentSteps = 0;
  /** Jobs stored by the unit of work running now, dropped if it rolls back. */
  private storedByWork: string[] = [];

  /**
   * `maxSteps`: the most steps, summed over the jobs kept. The jobs used last are kept up to half of it at
   * least; those unused the longest go first.
   */
  constructor(private readonly maxSteps: number) {}

  /** A copy of the job's projection, if this cache holds it. */
  get(jobId: string): JobProjection | undefined {
    let entry = this.recent.get(jobId);
    if (entry === undefined) {
      entry = this.older.get(jobId);
      if (entry === undefined) return undefined;
      this.older.delete(jobId);
      this.keep(jobId, entry);
    }
    return copyProjection(entry);
  }

  /** Keeps the projection as the database now holds it, within the current transaction. */
  set(state: JobProjection): void {
    const jobId = state.job.id;
    this.delete(jobId);
    this.keep(jobId, state);
    this.storedByWork.push(jobId);
  }

  began(changedElsewhere: boolean): void {
    if (changedElsewhere) this.clear();
  }

  beganWork(): void {
    this.storedByWork = [];
  }

  rolledBackWork(): void {
    for (const jobId of this.storedByWork) this.delete(jobId);
    this.storedByWork = [];
  }

  rolledBack(): void {
    this.clear();
    this.storedByWork = [];
  }

  private keep(jobId: string, entry: JobProjection): void {
    this.recent.set(jobId, entry);
    this.recentSteps += stepCount(entry);
    if (this.recentSteps >= this.maxSteps / 2) {
      this.older = this.recent;
      this.recent = new Map();
      this.recentSteps = 0;
    }
  }

  private delete(jobId: string): void {
    const entry = this.recent.get(jobId);
    if (entry !== undefined) {
      this.recent.delete(jobId);
      this.recentSteps -= stepCount(entry);
    }
    this.older.delete(jobId);
  }

  private clear(): void {
    this.recent.clear();
    this.older.clear();
    this.recentSteps = 0;
  }
}

// An empty pipeline still takes room.
const stepCount = (state: JobProjection) => Math.max(1, Object.keys(state.steps).length);
