/**
 * Lets a loop sleep until it is woken or a timeout passes, whichever comes first. A wake that arrives while
 * nobody waits is remembered, so the next wait returns at once and no notification is lost between a
 * check and a wait.
 */
export class Wakeup {
  private pending = false;
  private waiter: (() => void) | undefined;

  wake(): void {
    if (this.waiter === undefined) {
      this.pending = true;
      return;
    }
    const resolve = this.waiter;
    this.waiter = undefined;
    resolve();
  }

  wait(timeoutMs: number): Promise<void> {
    if (this.pending) {
      this.pending = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.waiter = undefined;
        resolve();
      }, timeoutMs);
      this.waiter = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }
}
