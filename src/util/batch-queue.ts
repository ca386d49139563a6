/** What a batch did for one of its items. */
export type ItemOutcome<O> = { ok: true; value: O } | { ok: false; error: unknown };

/**
 * Gathers items submitted while earlier batches run, and hands them to `run` together: with up to
 * `maxInFlight` batches running, a new item waits for one to end, then goes with everything that waited
 * alongside it. An item submitted while there is room waits only for the end of the event loop's current
 * turn, so that items submitted together (the results of tasks claimed together) go together: no item
 * waits for company that is not already there.
 */
export class BatchQueue<I, O> {
  private waiting: Array<{ item: I; resolve: (value: O) => void; reject: (error: unknown) => void }> = [];
  private inFlight = 0;
  private drainScheduled = false;

  constructor(
    private readonly run: (items: readonly I[]) => Promise<ItemOutcome<O>[]>,
    private readonly maxInFlight: number,
    private readonly maxBatch: number,
  ) {}

  submit(item: I): Promise<O> {
    return new Promise<O>((resolve, reject) => {
      this.waiting.push({ item, resolve, reject });
      if (this.drainScheduled) return;
      this.drainScheduled = true;
      setImmediate(() => {
        this.drainScheduled = false;
        this.drain();
      });
    });
  }

  private drain(): void {
    while (this.inFlight < this.maxInFlight && this.waiting.length > 0) {
      const batch = this.waiting.splice(0, this.maxBatch);
      this.inFlight++;
      void this.runBatch(batch).finally(() => {
        this.inFlight--;
        this.drain();
      });
    }
  }

  private async runBatch(batch: BatchQueue<I, O>["waiting"]): Promise<void> {
    let outcomes: ItemOutcome<O>[];
    try {
      outcomes = await this.run(batch.map((entry) => entry.item));
    } catch (error) {
      for (const entry of batch) entry.reject(error);
      return;
    }
    batch.forEach((entry, index) => {
      const outcome = outcomes[index];
      if (outcome === undefined) entry.reject(new Error("the batch returned no outcome for this item"));
      else if (outcome.ok) entry.resolve(outcome.value);
      else entry.reject(outcome.error);
    });
  }
}
