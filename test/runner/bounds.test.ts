/** The harness's one load factor for give-up points (test/harness/bounds.ts). */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { bound, loadFactor, MAX_LOAD_FACTOR } from '../harness/bounds.js';

const withFactor = (value: string | undefined, fn: () => void) => {
  const saved = process.env.HIBOSS_TEST_LOAD_FACTOR;
  if (value === undefined) delete process.env.HIBOSS_TEST_LOAD_FACTOR;
  else process.env.HIBOSS_TEST_LOAD_FACTOR = value;
  try {
    fn();
  } finally {
    if (saved === undefined) delete process.env.HIBOSS_TEST_LOAD_FACTOR;
    else process.env.HIBOSS_TEST_LOAD_FACTOR = saved;
  }
};

test('a factor CI sets stretches every bound, capped so a hang still fails', () => {
  withFactor('2.5', () => assert.is(bound(10_000), 25_000));
  withFactor('100', () => assert.is(bound(10_000), 10_000 * MAX_LOAD_FACTOR));
});

test('a bound never shrinks below what the test asked for', () => {
  withFactor('0.2', () => assert.is(bound(10_000), 10_000));
});

test('measured from the load average when not set: between 1 and the cap', () => {
  withFactor(undefined, () => {
    const factor = loadFactor();
    assert.ok(factor >= 1 && factor <= MAX_LOAD_FACTOR, String(factor));
  });
});

test('a factor that is not a number is a clear error', () => {
  withFactor('fast', () => assert.throws(() => bound(1000), /HIBOSS_TEST_LOAD_FACTOR must be a number, got "fast"/));
});

test.run();
