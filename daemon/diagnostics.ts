/**
 * The daemon's own latency marks, for the bench: from the moment a WM event's
 * bytes arrived to the moment the `cont` (or a start) it caused was written,
 * and how long that write call took. Fixed rings, so that a long session costs
 * nothing more.
 */
const RING = 4096;

export class SwitchMarks {
  #intervals = new Float64Array(RING);
  #calls = new Float64Array(RING);
  #count = 0;
  #eventAt: number | null = null;

  /** A focus event arrived at `at` (performance.now()). */
  eventArrived(at: number): void {
    this.#eventAt = at;
  }

  /** A command that makes a VM run was just written; its write call began at `callStartedAt` (null: not timed). */
  commandWritten(callStartedAt: number | null = null): void {
    if (this.#eventAt === null) return;
    const now = performance.now();
    this.#intervals[this.#count % RING] = now - this.#eventAt;
    this.#calls[this.#count % RING] = callStartedAt === null ? 0 : now - callStartedAt;
    this.#count += 1;
    this.#eventAt = null;
  }

  /** The event was decided: a command it did not cause must not be counted against it. */
  settled(): void {
    this.#eventAt = null;
  }

  /** The last intervals, event → write returned (ms), oldest first. */
  intervals(): number[] {
    return this.#last(this.#intervals);
  }

  /** For the same switches, the write call's own duration (ms). */
  writeCalls(): number[] {
    return this.#last(this.#calls);
  }

  #last(ring: Float64Array): number[] {
    const n = Math.min(this.#count, RING);
    const start = this.#count - n;
    return Array.from({ length: n }, (_, i) => ring[(start + i) % RING]!);
  }
}
