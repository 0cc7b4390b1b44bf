import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import sinon from 'sinon';
import { Backoff, sleep } from '../../transport/backoff.js';

const t = suite('backoff');

t('doubles up to the ceiling and starts over after reset', () => {
  const backoff = new Backoff(50, 500);
  assert.equal([1, 2, 3, 4, 5, 6].map(() => backoff.next()), [50, 100, 200, 400, 500, 500]);
  assert.is(backoff.attempt, 6);
  backoff.reset();
  assert.is(backoff.next(), 50);
});

t('sleep resolves after its delay and can be aborted', async () => {
  const clock = sinon.useFakeTimers();
  try {
    let done = false;
    const slept = sleep(100).then(() => (done = true));
    await clock.tickAsync(99);
    assert.is(done, false);
    await clock.tickAsync(1);
    await slept;
    assert.is(done, true);
    const controller = new AbortController();
    const aborted = sleep(1000, controller.signal);
    controller.abort(new Error('stop'));
    await aborted.then(() => assert.unreachable('should reject'), (e: Error) => assert.is(e.message, 'stop'));
  } finally {
    clock.restore();
  }
});

t.run();
