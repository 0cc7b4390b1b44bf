/** Reads a child's output line by line, so a test awaits the line it expects instead of sleeping. */
import type { Readable } from 'node:stream';
import { bound } from '../harness/bounds.js';

export class LineReader {
  readonly lines: string[] = [];
  #buffer = '';
  #waiters: { from: number; match: (line: string) => boolean; resolve: (line: string) => void }[] = [];
  /** Lines before this one were matched already: next() reads on from here by default. */
  #cursor = 0;
  /** Arrival time (performance.now()) of each line. */
  readonly times: number[] = [];

  constructor(stream: Readable) {
    stream.setEncoding('utf8');
    stream.on('data', (chunk: string) => {
      this.#buffer += chunk;
      let nl: number;
      while ((nl = this.#buffer.indexOf('\n')) !== -1) {
        const line = this.#buffer.slice(0, nl);
        this.#buffer = this.#buffer.slice(nl + 1);
        this.lines.push(line);
        this.times.push(performance.now());
        this.#check();
      }
    });
  }

  #check(): void {
    this.#waiters = this.#waiters.filter((w) => {
      const index = this.lines.findIndex((line, i) => i >= w.from && w.match(line));
      if (index === -1) return true;
      this.#cursor = Math.max(this.#cursor, index + 1);
      w.resolve(this.lines[index]!);
      return false;
    });
  }

  /**
   * The first line at index ≥ `from` that matches. By default `from` is just
   * past the last matched line: lines are consumed in order, and one that came
   * before the test asked for it is not missed.
   */
  next(match: (line: string) => boolean = () => true, timeoutMs = 10_000, from = this.#cursor): Promise<string> {
    return new Promise((resolve, reject) => {
      const limit = bound(timeoutMs);
      const timer = setTimeout(() => reject(new Error(`no matching line within ${limit} ms; got: ${JSON.stringify(this.lines.slice(from))}`)), limit);
      this.#waiters.push({ from, match, resolve: (line) => (clearTimeout(timer), resolve(line)) });
      this.#check();
    });
  }
}
