/**
 * Exponential backoff with a ceiling. Deterministic (no jitter): one desktop
 * session reconnects to one WM, there is no herd to spread.
 */
export class Backoff {
  #attempt = 0;

  constructor(
    readonly initialMs = 50,
    readonly maxMs = 5_000,
    readonly factor = 2,
  ) {}

  get attempt(): number {
    return this.#attempt;
  }

  /** The delay to wait before the next attempt. */
  next(): number {
    const delay = Math.min(this.maxMs, this.initialMs * this.factor ** this.#attempt);
    this.#attempt++;
    return delay;
  }

  reset(): void {
    this.#attempt = 0;
  }
}

/** Resolves after `ms`, or rejects with the signal's reason when aborted first. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal!.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
