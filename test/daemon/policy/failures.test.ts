/** The pure policy: failures. Driven by ./driver.ts (fake clock, invariants checked on every decision). */
import * as assert from 'uvu/assert';
import { T0, SETTINGS, DEV, MAIL, vm, describe, newSuite, Driver, clock } from './driver.js';

const failures = newSuite('policy: failures');

/** Fails the running VM `dev` now and returns what was decided. */
function crash(d: Driver): string[] {
  d.take();
  d.observe('dev', 'failed', 'QEMU exited with code 1');
  return d.take();
}

failures('restart after restartDelayMs, doubling, up to maxRestarts; then failed for good', () => {
  const d = new Driver([DEV]);
  d.bootFocused('1');
  d.take();
  clock.tick(100);
  assert.equal(crash(d), [
    'notify hiboss: VM dev failed: QEMU exited with code 1 (restart 1/3 in 1 s)',
    'changed dev failed: QEMU exited with code 1 (restart 1/3 in 1 s)',
  ]);
  assert.is(d.wakeAt, T0 + 1100);
  clock.tick(999);
  assert.equal(d.take(), []);
  clock.tick(1);
  assert.equal(d.takeTimed(), ['1100 start dev', '1100 changed dev starting: restarting after a failure (1/3)']);
  d.observe('dev', 'running');
  d.take();

  assert.equal(crash(d), [
    'notify hiboss: VM dev failed: QEMU exited with code 1 (restart 2/3 in 2 s)',
    'changed dev failed: QEMU exited with code 1 (restart 2/3 in 2 s)',
  ]);
  clock.tick(2000);
  d.observe('dev', 'running');
  assert.equal(crash(d)[1], 'changed dev failed: QEMU exited with code 1 (restart 3/3 in 4 s)');
  clock.tick(4000);
  d.observe('dev', 'running');
  assert.equal(crash(d), [
    'notify hiboss: VM dev failed: QEMU exited with code 1 (4 failures within 60 s, not restarting)',
    'changed dev failed: QEMU exited with code 1 (4 failures within 60 s, not restarting)',
  ]);
  assert.is(d.wakeAt, null);
  assert.equal(d.actionsOf('start').map((e) => e.at), [0, 1100, 3100, 7100]);

  clock.tick(10_000); // still within the window: only the reset can make the next count 1
  d.switchTo('1');
  assert.equal(d.take(), [], 'stays failed, even when focused');
  assert.is(d.vm('dev').state, 'failed');

  assert.equal(d.user('start', 'dev').map(describe), ['start dev', 'changed dev starting: started by the user']);
  d.observe('dev', 'running');
  assert.equal(crash(d)[1], 'changed dev failed: QEMU exited with code 1 (restart 1/3 in 1 s)', 'start by hand reset the count');
});

failures('failures older than restartWindowMs do not count', () => {
  const d = new Driver([DEV]);
  d.bootFocused('1');
  d.take();
  for (let i = 0; i < 5; i++) {
    assert.equal(crash(d)[1], 'changed dev failed: QEMU exited with code 1 (restart 1/3 in 1 s)', `crash ${i}`);
    clock.tick(1000);
    d.observe('dev', 'running');
    clock.tick(SETTINGS.restartWindowMs);
  }
});

failures('restart: never → notified, not restarted', () => {
  const d = new Driver([vm('dev', '1', 'never')]);
  d.bootFocused('1');
  d.take();
  assert.equal(crash(d), [
    'notify hiboss: VM dev failed: QEMU exited with code 1 (restart is off)',
    'changed dev failed: QEMU exited with code 1 (restart is off)',
  ]);
  assert.is(d.wakeAt, null);
  clock.tick(60_000);
  d.switchTo('1');
  assert.equal(d.take(), []);
});

failures('a failed start counts as a failure', () => {
  const d = new Driver([DEV]);
  d.startUp('1');
  d.take();
  assert.equal(d.send({ type: 'op-failed', name: 'dev', op: 'start', reason: 'no such disk' }).map(describe), [
    'notify hiboss: VM dev failed: could not start: no such disk (restart 1/3 in 1 s)',
    'changed dev failed: could not start: no such disk (restart 1/3 in 1 s)',
  ]);
  clock.tick(1000);
  assert.equal(d.takeOps(), ['1000 start dev']);
});

failures('a start that cannot succeed (a symlinked runtime dir) is not retried: it waits for the user', () => {
  const d = new Driver([DEV]);
  d.startUp('1');
  d.take();
  const reason = 'could not start: /run/hiboss/dev is a symbolic link (not restarting: it cannot succeed until that is fixed; then hiboss start dev)';
  assert.equal(d.send({ type: 'op-failed', name: 'dev', op: 'start', reason: '/run/hiboss/dev is a symbolic link', permanent: true }).map(describe), [
    `notify hiboss: VM dev failed: ${reason}`,
    `changed dev failed: ${reason}`,
  ]);
  assert.is(d.wakeAt, null);
  clock.tick(60_000);
  d.switchTo('2');
  d.switchTo('1');
  assert.equal(d.takeOps(), [], 'not even when its workspace is shown again');
  d.user('start', 'dev');
  assert.equal(d.takeOps(), ['60000 start dev'], 'the user asks: tried again');
});

failures('a failure during a powerdown is a stop, not something to restart', () => {
  const d = new Driver([DEV]);
  d.bootFocused('1');
  d.user('stop', 'dev');
  d.take();
  assert.equal(d.observe('dev', 'failed', 'exited with code 1'), [
    { type: 'changed', name: 'dev', state: 'stopped', reason: 'exited with code 1' },
  ]);
  assert.is(d.wakeAt, null);
});

failures('a VM failed while its workspace is hidden restarts when it is next focused', () => {
  // The choice: the restart delay passes, but a hidden VM is not brought back until
  // someone looks at it (booting it only to pause it would cost a boot for nothing).
  const d = new Driver([DEV, MAIL]);
  d.bootFocused('1');
  d.switchTo('2');
  d.observe('mail', 'running');
  d.take();
  d.observe('dev', 'failed', 'oops');
  assert.equal(d.take(), ['notify hiboss: VM dev failed: oops (restart 1/3 when workspace 1 is shown)', 'changed dev failed: oops (restart 1/3 when workspace 1 is shown)']);
  clock.tick(30_000);
  assert.equal(d.takeOps(), []);
  assert.equal(d.switchTo('1').map(describe), ['start dev', 'changed dev starting: restarting after a failure (1/3)']);
});

failures.run();
