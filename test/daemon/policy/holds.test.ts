/**
 * The pure policy: the user's holds, told to the disk (`hold-changed`) and restored
 * from it (`hold-restored`). Driven by ./driver.ts (fake clock, invariants checked
 * on every decision); `hold-changed` is among what the driver counts as told.
 */
import * as assert from 'uvu/assert';
import { DEV, MAIL, newSuite, Driver, clock } from './driver.js';

const holds = newSuite('policy: holds kept across restarts');

const holdLines = (d: Driver) => d.takeTold().filter((line) => line.startsWith('hold-changed'));

holds('pause, resume, stop, start by hand: each change of the hold is told once', () => {
  const d = new Driver([DEV, MAIL]);
  d.bootFocused('1');
  d.takeTold();
  d.user('pause', 'dev');
  assert.equal(holdLines(d), ['hold-changed dev paused']);
  d.observe('dev', 'paused');
  d.user('pause', 'dev');
  assert.equal(holdLines(d), [], 'the same hold again: nothing to write');
  d.user('resume', 'dev');
  assert.equal(holdLines(d), ['hold-changed dev none']);
  d.observe('dev', 'running');
  d.user('stop', 'dev');
  assert.equal(holdLines(d), ['hold-changed dev stopped']);
  d.observe('dev', 'stopped');
  d.user('start', 'dev');
  assert.equal(holdLines(d), ['hold-changed dev none']);
});

holds('a guest that powers itself off is held as stopped, and that is told', () => {
  const d = new Driver([DEV]);
  d.bootFocused('1');
  d.takeTold();
  d.observe('dev', 'stopped', 'the guest shut down');
  assert.equal(holdLines(d), ['hold-changed dev stopped']);
});

holds('a held VM adopted after a save the last daemon did not finish: its reason says so, not only "paused by the user"', () => {
  const d = new Driver([DEV, MAIL]);
  d.startUp('2');
  d.send({ type: 'observed', name: 'dev', state: 'paused', reason: 'adopted (paused): its save to disk was interrupted when the last daemon ended; it stays paused in RAM', saveInterrupted: true });
  d.send({ type: 'hold-restored', name: 'dev', hold: 'paused' });
  assert.is(d.vm('dev').reason, 'paused by the user; its save to disk was interrupted when the last daemon ended; it stays paused in RAM');
  assert.is(d.vm('dev').memory.problem, 'its save to disk was interrupted when the last daemon ended; it stays paused in RAM');
});

holds('a restored pause holds: focusing the workspace does not resume it, and nothing is rewritten', () => {
  const d = new Driver([DEV, MAIL]);
  // What a new daemon sees: QEMU adopted paused, then the hold from disk, then the WM.
  d.observe('dev', 'paused', 'adopted (paused)');
  d.send({ type: 'hold-restored', name: 'dev', hold: 'paused' });
  assert.equal(d.takeTold(), ['log dev still paused by the user (kept across the daemon\'s restart)']);
  assert.is(d.vm('dev').reason, 'paused by the user');
  d.take();
  d.startUp('1');
  clock.tick(10_000);
  assert.equal(d.takeOps(), [], 'focused, yet held: no resume');
  assert.equal(holdLines(d), []);
  assert.equal(d.user('resume', 'dev'), [{ type: 'resume', name: 'dev' }]);
  assert.equal(holdLines(d), ['hold-changed dev none']);
});

holds('a restored stop holds: focusing the workspace does not start it; start releases it', () => {
  const d = new Driver([DEV]);
  d.send({ type: 'hold-restored', name: 'dev', hold: 'stopped' });
  assert.is(d.vm('dev').reason, 'stopped by the user');
  d.startUp('1');
  clock.tick(10_000);
  assert.equal(d.takeOps(), []);
  assert.equal(d.user('start', 'dev'), [
    { type: 'start', name: 'dev' },
    { type: 'changed', name: 'dev', state: 'starting', reason: 'started by the user' },
  ]);
});

holds('a held VM removed from the config: its hold goes with it once it is down', () => {
  const d = new Driver([DEV, MAIL]);
  d.bootFocused('1');
  d.user('pause', 'dev');
  d.observe('dev', 'paused');
  d.takeTold();
  d.send({ type: 'config', vms: [MAIL], settings: d.state.settings });
  assert.equal(holdLines(d), [], 'still there while it powers down');
  d.observe('dev', 'stopped', 'powered off');
  assert.equal(holdLines(d), ['hold-changed dev none']);
  assert.is(d.state.vms.dev, undefined);
});

holds.run();
