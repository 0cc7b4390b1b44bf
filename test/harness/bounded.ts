import type { Test } from 'uvu';

/**
 * Wraps a uvu suite so every test is bounded: a missing event fails the test with a
 * clear message instead of hanging the whole file.
 */
export function bounded(suite: Test, defaultTimeoutMs: number) {
  return (name: string, body: () => Promise<void>, timeoutMs = defaultTimeoutMs): void => {
    suite(name, () => {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`test did not finish within ${timeoutMs} ms`)), timeoutMs);
      });
      return Promise.race([body(), timeout]).finally(() => clearTimeout(timer));
    });
  };
}
