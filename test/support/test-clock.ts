/** A clock tests move by hand, so timing rules (leases, backoff, deadlines) are checked without sleeping. */
export class TestClock {
  constructor(public now = Date.UTC(2026, 0, 1)) {}

  readonly read = (): number => this.now;

  advance(ms: number): void {
    this.now += ms;
  }
}
