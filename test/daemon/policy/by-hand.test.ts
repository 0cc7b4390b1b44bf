/** The pure policy: by hand. Driven by ./driver.ts (fake clock, invariants checked on every decision). */
import * as assert from 'uvu/assert';
import { T0, SETTINGS, DEV, MAIL, describe, newSuite, Driver, clock } from './driver.js';

const hand = newSuite('policy: by hand');

hand('a VM paused by hand is held: focus does not resume it; resume releases it', () => {
  const d = new Driver([DEV, MAIL]);
  d.bootFocused('1');
  d.take();
  assert.equal(d.user('pause', 'dev'), [{ type: 'pause', name: 'dev' }]);
  d.observe('dev', 'paused', 'paused by the user');
  d.switchTo('2');
  d.observe('mail', 'running');
  d.take();
  d.switchTo('1');
  clock.tick(10_000);
  assert.equal(d.takeOps(), ['1500 pause mail'], 'dev stays paused');
  assert.is(d.vm('dev').state, 'paused');
  assert.equal(d.user('resume', 'dev'), [{ type: 'resume', name: 'dev' }]);
  d.observe('dev', 'running', 'resumed by the user');
  assert.is(d.vm('dev').hold, null);
});

hand('toggle releases a hand pause too', () => {
  const d = new Driver([DEV]);
  d.bootFocused('1');
  d.user('pause', 'dev');
  d.observe('dev', 'paused');
  d.take();
  d.switchTo('1');
  assert.equal(d.take(), []);
  assert.equal(d.user('toggle', 'dev'), [{ type: 'resume', name: 'dev' }]);
});

hand('a VM stopped by hand is held: focus does not start it; start releases it', () => {
  const d = new Driver([DEV, MAIL]);
  d.bootFocused('1');
  d.take();
  assert.equal(d.user('stop', 'dev'), [
    { type: 'powerdown', name: 'dev' },
    { type: 'changed', name: 'dev', state: 'stopping', reason: 'stopped by the user' },
  ]);
  d.take();
  d.observe('dev', 'stopped', 'powered off');
  d.switchTo('2');
  d.observe('mail', 'running');
  d.switchTo('1');
  clock.tick(1500);
  assert.equal(d.take(), [
    'changed dev stopped: powered off',
    'start mail',
    'changed mail starting: workspace 2 focused',
    'changed mail running: QEMU running',
    'pause mail',
  ]);
  assert.equal(d.user('start', 'dev'), [
    { type: 'start', name: 'dev' },
    { type: 'changed', name: 'dev', state: 'starting', reason: 'started by the user' },
  ]);
});

hand('toggle: running → pause, paused → resume, stopped → start', () => {
  const d = new Driver([DEV]);
  d.startUp('1');
  d.take();
  assert.equal(d.user('toggle', 'dev'), [], 'starting: the pause waits for the start to land');
  assert.equal(d.observe('dev', 'running').map(describe), ['pause dev', 'changed dev running: QEMU running']);
  d.observe('dev', 'paused');
  d.take();
  assert.equal(d.user('toggle', 'dev'), [{ type: 'resume', name: 'dev' }]);
  d.observe('dev', 'running');
  assert.equal(d.user('toggle', 'dev'), [{ type: 'pause', name: 'dev' }]);
  d.observe('dev', 'paused');
  d.user('stop', 'dev');
  d.observe('dev', 'stopped');
  d.take();
  assert.equal(d.user('toggle', 'dev').map(describe), ['start dev', 'changed dev starting: started by the user']);
});

hand('start by hand of a hidden VM: it runs while its workspace is hidden, and the answer says so; once shown, the usual rules', () => {
  const d = new Driver([DEV, MAIL]);
  d.bootFocused('1');
  clock.tick(5000);
  d.take();
  assert.equal(d.user('start', 'mail').map(describe), ['start mail', 'changed mail starting: started by the user']);
  assert.equal(d.lastAnswer, { ok: true, message: 'mail: start (starting; it runs while workspace 2 is hidden, until the workspace is shown)' });
  d.take();
  assert.equal(d.send({ type: 'observed', name: 'mail', state: 'running' }).map(describe), ['changed mail running: resumed by the user: it runs while workspace 2 is hidden, until the workspace is shown']);
  clock.tick(60_000);
  assert.equal(d.takeOps(), [], 'not paused while hidden');
  // Shown, then hidden again: the request is met, the usual grace period applies.
  d.switchTo('2');
  d.switchTo('1');
  clock.tick(1500);
  assert.equal(d.takeOps(), ['66500 pause mail']);
});

hand('resume by hand of a hidden VM holds like a pause by hand: not undone while hidden; pause releases it', () => {
  const d = new Driver([DEV, MAIL]);
  d.bootFocused('1');
  d.switchTo('2');
  d.observe('mail', 'running');
  clock.tick(1500);
  d.observe('dev', 'paused');
  d.take();
  clock.tick(1000);
  assert.equal(d.user('resume', 'dev').map(describe), ['resume dev']);
  assert.equal(d.lastAnswer, { ok: true, message: 'dev: resume (resume in flight; it runs while workspace 1 is hidden, until the workspace is shown)' });
  d.send({ type: 'observed', name: 'dev', state: 'running' });
  clock.tick(60_000);
  assert.equal(d.takeOps(), ['2500 resume dev'], 'no pause 0.3 s later, nor ever while hidden');
  assert.equal(d.user('start', 'dev'), [], 'already running: nothing to do');
  assert.equal(d.user('pause', 'dev').map(describe), ['pause dev']);
  d.observe('dev', 'paused');
  assert.is(d.vm('dev').hold, 'paused');
});

hand('restart of a running VM: powerdown, then start once it is down', () => {
  const d = new Driver([DEV]);
  d.bootFocused('1');
  d.take();
  assert.equal(d.user('restart', 'dev'), [
    { type: 'powerdown', name: 'dev' },
    { type: 'changed', name: 'dev', state: 'stopping', reason: 'restarting' },
  ]);
  assert.is(d.wakeAt, T0 + SETTINGS.powerdownTimeoutMs);
  clock.tick(2000);
  // Every transition is reported, also the ones within one decision (stopped, then starting).
  assert.equal(d.observe('dev', 'stopped', 'powered off'), [
    { type: 'start', name: 'dev' },
    { type: 'changed', name: 'dev', state: 'stopped', reason: 'powered off' },
    { type: 'changed', name: 'dev', state: 'starting', reason: 'started by the user' },
  ]);
  assert.is(d.wakeAt, null, 'no quit after it went down');
  d.observe('dev', 'running');
  clock.tick(60_000);
  assert.equal(d.takeOps(), ['0 powerdown dev', '2000 start dev']);
});

hand('stop: powerdown, then quit exactly at powerdownTimeoutMs if still stopping', () => {
  const d = new Driver([DEV]);
  d.bootFocused('1');
  d.take();
  d.user('stop', 'dev');
  clock.tick(9999);
  assert.equal(d.send({ type: 'tick' }), []);
  clock.tick(1);
  assert.equal(d.takeOps(), ['0 powerdown dev', '10000 quit dev']);
  assert.is(d.wakeAt, null);
  d.observe('dev', 'stopped', 'killed');
  assert.equal(d.take(), ['changed dev stopped: killed']);
  assert.is(d.vm('dev').state, 'stopped');
});

hand('stop: down before the deadline → no quit', () => {
  const d = new Driver([DEV]);
  d.bootFocused('1');
  d.take();
  d.user('stop', 'dev');
  clock.tick(3000);
  d.observe('dev', 'stopped', 'powered off');
  assert.is(d.wakeAt, null);
  clock.tick(60_000);
  assert.equal(d.takeTimed(), ['0 powerdown dev', '0 changed dev stopping: stopped by the user', '3000 changed dev stopped: powered off']);
});

hand('requests about unknown VMs are ignored', () => {
  const d = new Driver([DEV]);
  assert.equal(d.user('start', 'nope'), []);
  assert.equal(d.observe('nope', 'failed'), []);
});

hand.run();
