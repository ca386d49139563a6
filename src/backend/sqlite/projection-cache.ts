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
  private readonly entries = new Map<string, JobProjection>();
  /** Steps of all entries: the cache's size, as a job's size is mostly its steps. */
  private steps = 0;
  /** Jobs stored by the unit of work running now, dropped if it rolls back. */
  private storedByWork: string[] = [];

  /** `maxSteps`: the most steps, summed over the jobs kept, before the least recently used go. */
  constructor(private readonly maxSteps: number) {}

  /** A copy of the job's projection, if this cache holds it. */
  get(jobId: string): JobProjection | undefined {
    const entry = this.entries.get(jobId);
    if (entry === undefined) return undefined;
    // Most recently used last: eviction takes the first.
    this.entries.delete(jobId);
    this.entries.set(jobId, entry);
    return copyProjection(entry);
  }

  /** Keeps the projection as the database now holds it, within the current transaction. */
  set(state: JobProjection): void {
    const jobId = state.job.id;
    this.delete(jobId);
    this.entries.set(jobId, state);
    this.steps += stepCount(state);
    this.storedByWork.push(jobId);
    for (const [oldest] of this.entries) {
      if (this.steps <= this.maxSteps) break;
      this.delete(oldest);
    }
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

  private delete(jobId: string): void {
    const entry = this.entries.get(jobId);
    if (entry === undefined) return;
    this.entries.delete(jobId);
    this.steps -= stepCount(entry);
  }

  private clear(): void {
    this.entries.clear();
    this.steps = 0;
  }
}

// An empty pipeline still takes room.
const stepCount = (state: JobProjection) => Math.max(1, Object.keys(state.steps).length);
