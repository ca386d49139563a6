import { ErrorCodes, MediaflowError } from "../errors/errors.js";

/**
 * What every blob store adapter does around its operations: refuse new ones once closed (with a message
 * naming the store), and let close wait for those under way, whose callers are awaiting them anyway.
 */
export class StoreLifecycle {
  private readonly running = new Set<Promise<unknown>>();
  private closedFlag = false;

  /** `what` names the store in errors, e.g. "the S3 blob store on bucket media". */
  constructor(private readonly what: string) {}

  get closed(): boolean {
    return this.closedFlag;
  }

  assertOpen(): void {
    if (this.closedFlag) throw new MediaflowError(ErrorCodes.notAvailable, `${this.what} is closed`);
  }

  /** Runs an operation that close must wait for. */
  async track<T>(operation: () => Promise<T>): Promise<T> {
    this.assertOpen();
    const promise = operation();
    this.running.add(promise);
    try {
      return await promise;
    } finally {
      this.running.delete(promise);
    }
  }

  /** Refuses new operations and waits for those under way; false when it was closed already. */
  async close(): Promise<boolean> {
    if (this.closedFlag) return false;
    this.closedFlag = true;
    await Promise.allSettled([...this.running]);
    return true;
  }
}
