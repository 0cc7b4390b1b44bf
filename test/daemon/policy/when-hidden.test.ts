/**
 * The pure policy: `"whenHidden": "run"` — a VM that keeps running while its
 * workspace is out of sight: never paused, saved or taken by the memory budget
 * for being hidden; restarted after a failure without waiting to be shown. A
 * pause or hibernate by hand still holds. Driven by ./driver.ts.
 */
import * as assert from 'uvu/assert';
import type { PolicySettings } from '../../../daemon/policy/policy.js';
import { SETTINGS, vm, describe, newSuite, Driver, clock } from './driver.js';

const hidden = newSuite('policy: whenHidden');

const MiB = 1024 * 1024;
const RUNS = { ...vm('build', '1'), whenHidden: 'run' as const };
const PAUSES = { ...vm('mail', '2'), whenHidden: 'pause' as const };
const FOCUS = vm('web', '3');
const HIBERNATE: PolicySettings = { ...SETTINGS, hibernateAfterMs: 60_000 };

/** build (runs when hidden) and mail (pauses) booted in turn, then the user went to web on 3. */
function bothHidden(settings: PolicySettings = HIBERNATE): Driver {
  const d = new Driver([RUNS, PAUSES, FOCUS], settings);
  d.switchTo('1');
  d.observe('build', 'running');
  d.switchTo('2');
  d.observe('mail', 'running');
  d.switchTo('3');
  d.observe('web', 'running');
  d.take();
  return d;
}

hidden('hidden, a "run" VM runs on; a "pause" VM is paused after pauseAfterMs, then saved; build never is', () => {
  const d = bothHidden();
  clock.tick(SETTINGS.pauseAfterMs);
  assert.equal(d.take(), ['pause mail']);
  d.observe('mail', 'paused');
  clock.tick(10 * 60_000);
  assert.equal(d.take(), ['changed mail paused: QEMU paused', 'hibernate mail', 'changed mail saving: workspace hidden for 1 min']);
  d.send({ type: 'observed', name: 'mail', state: 'hibernated', image: { bytes: MiB, savedAt: Date.now() } });
  d.take();
  assert.is(d.vm('build').state, 'running');
  assert.is(d.wakeAt, null, 'no timer for build: nothing will pause it');
});

hidden('the memory budget never takes a "run" VM: the "pause" one goes, even if it was focused later', () => {
  const d = bothHidden({ ...SETTINGS, memoryBudgetMiB: 250 });
  clock.tick(SETTINGS.pauseAfterMs);
  d.observe('mail', 'paused');
  d.take();
  assert.equal(d.send({ type: 'memory', rssBytes: { build: 100 * MiB, mail: 100 * MiB, web: 100 * MiB } }).map(describe), [
    'hibernate mail',
    'changed mail saving: over the memory budget (250 MiB)',
  ]);
  d.send({ type: 'observed', name: 'mail', state: 'hibernated', image: { bytes: MiB, savedAt: Date.now() } });
  assert.equal(d.send({ type: 'memory', rssBytes: { build: 300 * MiB, web: 100 * MiB } }), [], 'over the budget, and still build is not taken');
  assert.is(d.vm('build').state, 'running');
});

hidden('a "run" VM that fails while hidden is restarted after the delay, not when it is next shown', () => {
  const d = bothHidden();
  clock.tick(500);
  assert.equal(d.observe('build', 'failed', 'QEMU killed').map(describe), [
    'notify hiboss: VM build failed: QEMU killed (restart 1/3 in 1 s)',
    'changed build failed: QEMU killed (restart 1/3 in 1 s)',
  ]);
  clock.tick(1000);
  assert.equal(d.takeOps(), ['1500 start build', '1500 pause mail']);
  assert.is(d.vm('build').reason, 'restarting after a failure (1/3)');
});

hidden('a pause by hand of a "run" VM holds; resume releases it, and it runs on hidden', () => {
  const d = bothHidden();
  assert.equal(d.user('pause', 'build').map(describe), ['pause build']);
  d.observe('build', 'paused', 'paused by the user');
  clock.tick(60_000);
  d.take();
  assert.is(d.vm('build').state, 'paused');
  assert.equal(d.user('resume', 'build').map(describe), ['resume build']);
  d.observe('build', 'running');
  clock.tick(60_000);
  assert.equal(d.take(), ['resume build', 'changed build running: QEMU running'], 'not paused again');
});

hidden.run();
