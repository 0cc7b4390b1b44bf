import type { Test } from 'uvu';
import * as assert from 'uvu/assert';
import { bound } from './bounds.js';

/**
 * Wraps a uvu suite so every test is bounded: a missing event fails the test with a
 * clear message instead of hanging the whole file. The bound is stretched by the
 * load factor (bounds.ts) when the test starts.
 */
export function bounded(suite: Test, defaultTimeoutMs: number) {
  return (name: string, body: () => Promise<void>, timeoutMs = defaultTimeoutMs): void => {
    suite(name, () => {
      const limit = bound(timeoutMs);
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`test did not finish within ${limit} ms`)), limit);
      });
      return Promise.race([body(), timeout]).finally(() => clearTimeout(timer));
    });
  };
}

/** Resolves with the error `promise` rejects with; fails the test if it resolves. */
export async function rejection(promise: Promise<unknown>): Promise<Error> {
  try {
    const value = await promise;
    assert.unreachable(`expected a rejection, got ${JSON.stringify(value)}`);
  } catch (error) {
    if ((error as Error).name === 'Assertion') throw error;
    return error as Error;
  }
  throw new Error('unreachable');
}
