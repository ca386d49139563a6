import pg from "pg";

/**
 * Reconnection backoff for the listening connection: doubling from `firstReconnectDelayMs` up to
 * `maxReconnectDelayMs`, each delay drawn from its upper half. A restarting server is back within seconds;
 * the cap keeps a long outage from turning into a connection storm, and wake-ups are only a hint meanwhile.
 */
const firstReconnectDelayMs = 100;
const maxReconnectDelayMs = 10_000;

/**
 * Wake-ups for claimers: one connection that LISTENs on `channel` and calls the listeners for each
 * notification carrying `payload` (the schema, so deployments sharing a database wake only their own).
 *
 * States: idle (no listener yet) -> connecting -> listening -> (connection dropped) waiting -> connecting ...;
 * any state -> closed. After a reconnection the listeners are called once, since notifications sent while
 * the connection was down are lost; polling stays the contract, so a missed or spurious wake-up only moves
 * a claim earlier or later.
 */
export class WorkListener {
  private readonly listeners = new Set<() => void>();
  private client: pg.Client | undefined;
  private started = false;
  private closed = false;
  private listenedBefore = false;
  private failures = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly config: pg.ClientConfig,
    private readonly channel: string,
    private readonly payload: string,
  ) {}

  /** Adds a listener; the connection is opened on the first. Returns the function that removes it. */
  subscribe(listener: () => void): () => void {
    if (this.closed) return () => {};
    this.listeners.add(listener);
    if (!this.started) {
      this.started = true;
      void this.connect();
    }
    return () => {
      this.listeners.delete(listener);
    };
  }

  async close(): Promise<void> {
    this.closed = true;
    this.listeners.clear();
    clearTimeout(this.timer);
    const client = this.client;
    this.client = undefined;
    if (client !== undefined) await client.end().catch(() => {});
  }

  private async connect(): Promise<void> {
    if (this.closed) return;
    const client = new pg.Client(this.config);
    this.client = client;
    client.on("error", () => this.dropped(client));
    client.on("end", () => this.dropped(client));
    client.on("notification", (message) => {
      if (message.channel === this.channel && message.payload === this.payload) this.wake();
    });
    try {
      await client.connect();
      await client.query(`LISTEN ${this.channel}`);
    } catch {
      this.dropped(client);
      return;
    }
    if (this.client !== client) return;
    this.failures = 0;
    if (this.listenedBefore) this.wake();
    this.listenedBefore = true;
  }

  private dropped(client: pg.Client): void {
    // Both 'error' and 'end' arrive for one drop; only the first, for the current client, counts.
    if (this.client !== client) return;
    this.client = undefined;
    client.end().catch(() => {});
    if (this.closed) return;
    const ceiling = Math.min(maxReconnectDelayMs, firstReconnectDelayMs * 2 ** this.failures);
    this.failures++;
    this.timer = setTimeout(() => void this.connect(), ceiling * (0.5 + Math.random() / 2));
    // A wake-up hint must not keep the process alive on its own.
    this.timer.unref();
  }

  private wake(): void {
    for (const listener of [...this.listeners]) {
      try {
        listener();
      } catch (error) {
        // A listener's failure must not break the connection's event handling (pg calls this from its parser).
        process.emitWarning(
          `a work listener threw: ${error instanceof Error ? error.message : String(error)}`,
        );
      }
    }
  }
}
