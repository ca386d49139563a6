/**
 * Runs async sections one at a time per key, in arrival order, within this process. The local store uses it
 * around the short commit of a put and around a delete, so that the read-modify-write of a key's sidecar is
 * never interleaved with another writer of the same key. Streaming a body happens outside the lock.
 */
export class KeyedLock {
  private readonly tails = new Map<string, Promise<void>>();

  async run<T>(key: string, section: () => Promise<T>): Promise<T> {
    const previous = this.tails.get(key) ?? Promise.resolve();
    let release = (): void => {};
    const done = new Promise<void>((resolve) => {
      release = resolve;
    });
    const tail = previous.then(() => done);
    this.tails.set(key, tail);
    await previous;
    try {
      return await section();
    } finally {
      release();
      // Only the last waiter removes the entry, so the map does not grow with every key ever written.
      if (this.tails.get(key) === tail) this.tails.delete(key);
    }
  }
}
