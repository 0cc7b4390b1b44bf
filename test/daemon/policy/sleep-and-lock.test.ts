/** The pure policy: the machine's sleep and the session's lock (logind). Driven by ./driver.ts. */
import * as assert from 'uvu/assert';
import { PolicyConfig } from '../../../config/schema.js';
import { DEV, MAIL, ACME, SETTINGS, describe, newSuite, Driver, clock } from './driver.js';

const host = newSuite('policy: sleep and lock');
const LOCKING = PolicyConfig.parse({ ...SETTINGS, pauseOnLock: true });
/** What the supervisor reports of QEMU's own STOP/RESUME events: no reason, the policy says why. */
const seen = (d: Driver, name: string, state: 'running' | 'paused') => d.send({ type: 'observed', name, state });

/** dev focused on 1, mail visible on a second output, acme hidden and paused. */
function desk(settings = SETTINGS): Driver {
  const d = new Driver([DEV, MAIL, ACME], settings);
  d.startUp('3: acme', '2');
  d.observe('acme', 'running');
  d.startUp('1', '2');
  d.observe('dev', 'running');
  d.user('start', 'mail');
  d.observe('mail', 'running');
  clock.tick(settings.pauseAfterMs);
  d.observe('acme', 'paused');
  d.take();
  d.takeTold();
  return d;
}

host('sleep: every running VM paused, the lock released once they are; wake: the focused VM resumes and its clock is set', () => {
  const d = desk();
  assert.equal(d.send({ type: 'sleep', releaseWithinMs: 4000 }).map(describe), ['pause dev', 'pause mail']);
  assert.equal(d.takeTold(), ['log - the machine is going to sleep: pausing VMs (logind waits 4 s at most)', 'microphone nobody']);
  assert.equal(seen(d, 'dev', 'paused').map(describe), ['changed dev paused: the machine sleeps']);
  assert.equal(seen(d, 'mail', 'paused').map(describe), ['release-sleep-lock', 'changed mail paused: the machine sleeps']);
  assert.equal(d.takeTold(), ['log - every VM is paused: the machine may sleep']);
  assert.is(d.wakeAt, null, 'no deadline left');
  clock.tick(60_000);
  d.take();
  assert.equal(d.send({ type: 'wake' }).map(describe), ['resume dev'], 'the focused VM only; mail (visible, not focused) waits');
  assert.equal(seen(d, 'dev', 'running').map(describe), ['sync-clock dev', 'changed dev running: workspace 1 focused']);
  assert.equal(d.switchTo('2').map(describe), ['resume mail']);
  assert.equal(seen(d, 'mail', 'running').map(describe), ['sync-clock mail', 'changed mail running: workspace 2 focused']);
  // acme was already paused when the machine slept: its clock is set when it next runs.
  d.switchTo('3: acme');
  assert.equal(seen(d, 'acme', 'running').map(describe), ['sync-clock acme', 'changed acme running: workspace 3: acme focused']);
  d.switchTo('1');
  clock.tick(10_000);
  assert.equal(d.actionsOf('sync-clock').length, 3, 'each clock set once');
});

host('sleep: a VM whose pause is not answered in time does not keep the machine awake', () => {
  const d = desk();
  d.send({ type: 'sleep', releaseWithinMs: 4000 });
  seen(d, 'dev', 'paused');
  clock.tick(4000);
  assert.equal(d.take(), [
    'pause dev',
    'pause mail',
    'changed dev paused: the machine sleeps',
    'changed mail unresponsive: QEMU has not answered "pause" since 1970-01-01T00:16:41.500Z',
    'release-sleep-lock',
  ]);
  assert.equal(d.takeTold().at(-1), "log - not paused within logind's delay: mail; the machine sleeps anyway");
});

host('asleep: no restarts, no starts on focus, no resumes by hand until the wake', () => {
  const d = desk();
  d.send({ type: 'sleep', releaseWithinMs: 4000 });
  seen(d, 'dev', 'paused');
  d.observe('mail', 'failed', 'QEMU killed');
  d.take();
  clock.tick(30_000);
  d.user('resume', 'dev');
  assert.equal(d.take(), [], 'nothing runs while the machine sleeps');
  d.send({ type: 'wake' });
  assert.equal(d.take(), ['resume dev']);
});

host('lock without pauseOnLock: noted, nothing paused', () => {
  const d = desk();
  assert.equal(d.send({ type: 'lock' }), []);
  assert.equal(d.takeTold(), ['log - the session is locked (pauseOnLock is off: VMs run on)', 'microphone nobody']);
  assert.equal(d.send({ type: 'unlock' }), []);
});

host('pauseOnLock: locked → running VMs paused; unlocked → the focused one resumes, its clock set; a second Lock is nothing new', () => {
  const d = desk(LOCKING);
  assert.equal(d.send({ type: 'lock' }).map(describe), ['pause dev', 'pause mail']);
  seen(d, 'dev', 'paused');
  seen(d, 'mail', 'paused');
  d.take();
  assert.equal(d.send({ type: 'lock' }), [], 'LockedHint after Lock: the same lock');
  assert.equal(d.send({ type: 'unlock' }).map(describe), ['resume dev']);
  assert.equal(seen(d, 'dev', 'running').map(describe), ['sync-clock dev', 'changed dev running: workspace 1 focused']);
  assert.equal(d.actionsOf('release-sleep-lock'), [], 'a lock holds no sleep lock');
});

host('locked, then asleep, then awake: still locked, so VMs stay paused until the unlock', () => {
  const d = desk(LOCKING);
  d.send({ type: 'lock' });
  seen(d, 'dev', 'paused');
  seen(d, 'mail', 'paused');
  d.take();
  assert.equal(d.send({ type: 'sleep', releaseWithinMs: 4000 }).map(describe), ['release-sleep-lock'], 'already all paused: released at once');
  assert.equal(d.send({ type: 'wake' }), []);
  assert.equal(d.takeTold().at(-1), 'log - the machine woke up; the session is locked: VMs stay paused');
  assert.equal(d.send({ type: 'unlock' }).map(describe), ['resume dev']);
});

host('a wake before the VMs are paused (sleep called off) releases the lock it held', () => {
  const d = desk();
  d.send({ type: 'sleep', releaseWithinMs: 4000 });
  d.take();
  assert.equal(d.send({ type: 'wake' }).map(describe), ['release-sleep-lock']);
  // The pauses in flight land; focus rules again: dev is resumed.
  assert.equal(seen(d, 'dev', 'paused').map(describe), ['resume dev', 'changed dev paused: paused']);
});

host.run();
