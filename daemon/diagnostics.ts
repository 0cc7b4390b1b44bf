/**
 * The daemon's own latency marks, for the bench: from the moment a WM event's
 * bytes arrived to the moment the `cont` (or a start) it caused was written.
 * A fixed ring, so that a long session costs nothing more.
 */
const RING = 4096;

export class SwitchMarks {
  #ring = new Float64Array(RING);
  #count = 0;
  #eventAt: number | null = null;

  /** A focus event arrived at `at` (performance.now()). */
  eventArrived(at: number): void {
    this.#eventAt = at;
  }

  /** A command that makes a VM run was just written. */
  commandWritten(): void {
    if (this.#eventAt === null) return;
    this.#ring[this.#count % RING] = performance.now() - this.#eventAt;
    this.#count += 1;
    this.#eventAt = null;
  }

  /** The event was decided: a command it did not cause must not be counted against it. */
  settled(): void {
    this.#eventAt = null;
  }

  /** The last intervals (ms), oldest first. */
  intervals(): number[] {
    const n = Math.min(this.#count, RING);
    const start = this.#count - n;
    return Array.from({ length: n }, (_, i) => this.#ring[(start + i) % RING]!);
  }
}
