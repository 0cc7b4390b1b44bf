/**
 * The pure policy: health after an update and automatic rollback
 * (daemon/policy/health.ts through policy.ts's hooks). Exact action sequences,
 * driven by ./driver.ts (fake clock, invariants checked on every decision).
 */
import * as assert from 'uvu/assert';
import type { WindowStart } from '../../../daemon/policy/health.js';
import { ACME, clock, Driver, newSuite, SETTINGS, T0 } from './driver.js';

const health = newSuite('policy: health after an update');

const OLD = '9e0d4c2aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa';
const NEW = '3f2c1abbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb';
const TIMEOUT = 20_000;

function window(over: Partial<WindowStart> = {}): WindowStart {
  const now = Date.now();
  return {
    generation: 2,
    revision: NEW,
    previous: { generation: 1, revision: OLD },
    bootedAt: now,
    deadline: now + TIMEOUT,
    running: true,
    restored: false,
    ...over,
  };
}

/** acme focused and booted on a new generation, its health window open. */
function booted(over: Partial<WindowStart> = {}): Driver {
  const d = new Driver([ACME]);
  d.startUp('3: acme');
  d.send({ type: 'health-watch', name: 'acme', window: window(over) });
  d.observe('acme', 'running', 'QEMU is up');
  d.take();
  d.takeTold();
  return d;
}

health('the agent answers: healthy, recorded, nothing else changes', () => {
  const d = booted();
  assert.is(d.wakeAt, T0 + TIMEOUT, 'wakes at the deadline');
  clock.tick(6200);
  assert.equal(d.send({ type: 'guest-answered', name: 'acme', generation: 2 }).length, 2);
  assert.equal(d.take(), [
    'judged acme 2 healthy: the guest agent answered 6.2 s after boot',
    'update-event acme healthy: acme: updated to 3f2c1ab (generation 2) — the guest agent answered 6.2 s after boot',
  ]);
  assert.is(d.vm('acme').health, null);
  assert.is(d.wakeAt, null);
  clock.tick(TIMEOUT);
  assert.equal(d.take(), [], 'no judgement at the old deadline');
});

health('an answer from another generation, or after the judgement, is ignored', () => {
  const d = booted();
  d.send({ type: 'guest-answered', name: 'acme', generation: 1 });
  assert.equal(d.take(), []);
  assert.ok(d.vm('acme').health);
});

health('the guest panics: failed, QEMU quit, the previous generation booted by itself', () => {
  const d = booted();
  clock.tick(12_000);
  d.send({ type: 'guest-panicked', name: 'acme' });
  assert.equal(d.take(), [
    'judged acme 2 failed: kernel panic 12 s after boot → 1',
    'update-event acme rolled-back: acme: update to 3f2c1ab failed — kernel panic 12 s after boot; rolled back to 9e0d4c2',
    'notify hiboss: acme: update failed: acme: update to 3f2c1ab failed — kernel panic 12 s after boot; rolled back to 9e0d4c2',
    'quit acme',
    'changed acme stopping: rolling back to generation 1: kernel panic 12 s after boot',
  ]);
  // QEMU's default panic action powers the VM off: its exit is the stop that was asked.
  d.observe('acme', 'stopped', 'shut down (guest-panic)');
  assert.equal(d.take(), [
    'start acme',
    'changed acme stopped: shut down (guest-panic)',
    'changed acme starting: rolling back to generation 1: kernel panic 12 s after boot',
  ]);
  d.observe('acme', 'running', 'QEMU is up');
  assert.equal(d.take(), ['changed acme running: QEMU is up']);
  assert.is(d.vm('acme').hold, null, 'not held: the member did not stop it');
  assert.is(d.vm('acme').rollbackReason, null);
});

health('no answer by the deadline: failed and rolled back at the deadline', () => {
  const d = booted();
  clock.tick(TIMEOUT - 1);
  assert.equal(d.take(), []);
  clock.tick(1);
  assert.equal(d.takeTimed(), [
    `${TIMEOUT} judged acme 2 failed: no answer from the guest agent 20 s after boot → 1`,
    `${TIMEOUT} update-event acme rolled-back: acme: update to 3f2c1ab failed — no answer from the guest agent 20 s after boot; rolled back to 9e0d4c2`,
    `${TIMEOUT} notify hiboss: acme: update failed: acme: update to 3f2c1ab failed — no answer from the guest agent 20 s after boot; rolled back to 9e0d4c2`,
    `${TIMEOUT} quit acme`,
    `${TIMEOUT} changed acme stopping: rolling back to generation 1: no answer from the guest agent 20 s after boot`,
  ]);
  d.observe('acme', 'stopped', 'quit');
  assert.equal(d.take(), ['start acme', 'changed acme stopped: quit', 'changed acme starting: rolling back to generation 1: no answer from the guest agent 20 s after boot']);
});

health('the guest powers off within its window: a failed generation, not the member\'s shutdown', () => {
  const d = booted();
  clock.tick(3000);
  d.observe('acme', 'stopped', 'the guest shut down');
  assert.equal(d.take(), [
    'judged acme 2 failed: the guest shut down 3 s after boot → 1',
    'update-event acme rolled-back: acme: update to 3f2c1ab failed — the guest shut down 3 s after boot; rolled back to 9e0d4c2',
    'notify hiboss: acme: update failed: acme: update to 3f2c1ab failed — the guest shut down 3 s after boot; rolled back to 9e0d4c2',
    'start acme',
    'changed acme stopped: the guest shut down 3 s after boot; rolling back to generation 1',
    'changed acme starting: rolling back to generation 1: the guest shut down 3 s after boot',
  ]);
  assert.is(d.vm('acme').hold, null);
});

health('QEMU dies within its window: failed, rolled back, not counted as a QEMU failure', () => {
  const d = booted();
  clock.tick(1000);
  d.observe('acme', 'failed', 'QEMU killed by SIGKILL');
  assert.equal(d.take().slice(3), [
    'start acme',
    'changed acme stopped: QEMU killed by SIGKILL 1 s after boot; rolling back to generation 1',
    'changed acme starting: rolling back to generation 1: QEMU killed by SIGKILL 1 s after boot',
  ]);
  assert.is(d.vm('acme').restarts, 0);
});

health('no healthy generation before it: recorded as failed, the VM left running', () => {
  const d = booted({ previous: null, generation: 1 });
  clock.tick(TIMEOUT);
  assert.equal(d.take(), [
    'judged acme 1 failed: no answer from the guest agent 20 s after boot',
    'update-event acme failed: acme: generation 1 (3f2c1ab) failed — no answer from the guest agent 20 s after boot; no earlier healthy generation to go back to',
    'notify hiboss: acme: update failed: acme: generation 1 (3f2c1ab) failed — no answer from the guest agent 20 s after boot; no earlier healthy generation to go back to',
  ]);
  assert.is(d.vm('acme').state, 'running');
});

health('hidden during its window: kept running until judged, then paused as usual', () => {
  const d = booted();
  d.switchTo('5');
  clock.tick(SETTINGS.pauseAfterMs + 100);
  assert.equal(d.take(), [], 'a paused guest could not answer');
  d.send({ type: 'guest-answered', name: 'acme', generation: 2 });
  assert.equal(d.take().slice(2), ['pause acme']);
});

health('paused by hand: the deadline waits for the time spent paused', () => {
  const d = booted();
  clock.tick(5000);
  d.user('pause', 'acme');
  d.observe('acme', 'paused');
  d.take();
  clock.tick(60_000);
  assert.equal(d.take(), [], 'no judgement while paused');
  d.user('resume', 'acme');
  d.observe('acme', 'running');
  d.take();
  assert.is(d.wakeAt, T0 + 65_000 + (TIMEOUT - 5000));
});

health('stopped by the member during its window: no judgement', () => {
  const d = booted();
  d.user('stop', 'acme');
  d.observe('acme', 'stopped', 'the guest shut down');
  assert.equal(d.take(), ['powerdown acme', 'changed acme stopping: stopped by the user', 'changed acme stopped: the guest shut down']);
  assert.is(d.vm('acme').health, null);
  clock.tick(TIMEOUT);
  assert.equal(d.take(), []);
});

health('a restarted daemon finds the window open after its deadline: asks again before judging', () => {
  const d = new Driver([ACME]);
  d.startUp('3: acme');
  d.observe('acme', 'running', 'adopted (running)');
  d.take();
  clock.tick(30_000); // the daemon was away past the deadline
  d.send({ type: 'health-watch', name: 'acme', window: window({ bootedAt: T0, deadline: T0 + TIMEOUT, restored: true }) });
  assert.is(d.wakeAt, T0 + 30_000 + 10_000, 'rechecks for 10 s');
  d.send({ type: 'guest-answered', name: 'acme', generation: 2 });
  assert.equal(d.take()[0], 'judged acme 2 healthy: the guest agent answered 30 s after boot', 'a healthy VM is never rolled back');
});

health('found open with QEMU gone (the daemon was away): judged failed, the previous generation boots when focused', () => {
  const d = new Driver([ACME]);
  d.startUp('5'); // acme hidden: it stays down
  d.take();
  d.send({ type: 'health-watch', name: 'acme', window: window({ running: false, restored: true }) });
  assert.equal(d.take(), [
    'judged acme 2 failed: QEMU ended during the health window while the daemon was away → 1',
    'update-event acme rolled-back: acme: update to 3f2c1ab failed — QEMU ended during the health window while the daemon was away; rolled back to 9e0d4c2',
    'notify hiboss: acme: update failed: acme: update to 3f2c1ab failed — QEMU ended during the health window while the daemon was away; rolled back to 9e0d4c2',
    'start acme',
    'changed acme starting: rolling back to generation 1: QEMU ended during the health window while the daemon was away',
  ]);
});

health('update built with --now: a graceful restart into it; built without: nothing until the next start', () => {
  const d = new Driver([ACME]);
  d.bootFocused('3: acme');
  d.take();
  const built = { type: 'update-progress', name: 'acme', kind: 'built', message: 'acme: update built: 9e0d4c2 → 3f2c1ab', auto: false } as const;
  d.send({ ...built, restartNow: false });
  assert.equal(d.take(), ['update-event acme built: acme: update built: 9e0d4c2 → 3f2c1ab']);
  d.send({ ...built, restartNow: true });
  assert.equal(d.take(), ['update-event acme built: acme: update built: 9e0d4c2 → 3f2c1ab', 'powerdown acme', 'changed acme stopping: restarting']);
  d.observe('acme', 'stopped', 'the guest shut down');
  assert.equal(d.take(), ['start acme', 'changed acme stopped: the guest shut down', 'changed acme starting: started by the user']);
});

health('an automatic update tells the member; a failed build changes nothing but says why', () => {
  const d = new Driver([ACME]);
  d.bootFocused('3: acme');
  d.take();
  d.send({ type: 'update-progress', name: 'acme', kind: 'built', message: 'acme: update built: 9e0d4c2 → 3f2c1ab', auto: true, restartNow: false });
  assert.equal(d.take(), ['update-event acme built: acme: update built: 9e0d4c2 → 3f2c1ab', 'notify hiboss: acme: update ready: acme: update built: 9e0d4c2 → 3f2c1ab']);
  d.send({ type: 'update-progress', name: 'acme', kind: 'build-failed', message: 'acme: nix build failed', auto: false, restartNow: true });
  assert.equal(d.take(), ['update-event acme build-failed: acme: nix build failed', 'notify hiboss: acme: update failed to build: acme: nix build failed']);
  assert.is(d.vm('acme').state, 'running');
});

health.run();
