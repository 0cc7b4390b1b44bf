/** The pure policy: session end and config. Driven by ./driver.ts (fake clock, invariants checked on every decision). */
import * as assert from 'uvu/assert';
import { vmOnWorkspace } from '../../../daemon/policy/policy.js';
import { T0, SETTINGS, DEV, MAIL, ACME, ws, describe, newSuite, Driver, clock } from './driver.js';

const lifecycle = newSuite('policy: session end and config');

lifecycle('session-end powers off every running or paused VM, exits once all are down', () => {
  const d = new Driver([DEV, MAIL, ACME]);
  d.bootFocused('1');
  d.switchTo('2');
  d.observe('mail', 'running');
  d.switchTo('1');
  clock.tick(1500);
  d.observe('mail', 'paused');
  d.take();
  assert.equal(d.send({ type: 'session-end' }).map(describe), [
    'powerdown dev',
    'powerdown mail',
    'changed dev stopping: session ended',
    'changed mail stopping: session ended',
  ]);
  clock.tick(1000);
  assert.equal(d.observe('dev', 'stopped', 'powered off').map(describe), ['changed dev stopped: powered off']);
  assert.equal(d.observe('mail', 'stopped', 'powered off').map(describe), ['changed mail stopped: powered off', 'exit']);
  clock.tick(60_000);
  assert.is(d.actionsOf('exit').length, 1);
  assert.is(d.wakeAt, null);
});

lifecycle('session-end: a VM that does not go down is quit at the deadline, then exit', () => {
  const d = new Driver([DEV]);
  d.bootFocused('1');
  d.take();
  d.send({ type: 'session-end' });
  clock.tick(SETTINGS.powerdownTimeoutMs);
  d.observe('dev', 'stopped', 'killed');
  assert.equal(d.takeTimed(), [
    '0 powerdown dev',
    '0 changed dev stopping: session ended',
    '10000 quit dev',
    '10000 changed dev stopped: killed',
    '10000 exit',
  ]);
});

lifecycle('session-end: a start in flight is powered off once it lands', () => {
  const d = new Driver([DEV]);
  d.startUp('1');
  d.take();
  assert.equal(d.send({ type: 'session-end' }), []);
  assert.equal(d.observe('dev', 'running').map(describe), [
    'powerdown dev',
    'changed dev running: QEMU running',
    'changed dev stopping: session ended',
  ]);
  assert.equal(d.observe('dev', 'stopped').map(describe), ['changed dev stopped: QEMU stopped', 'exit']);
});

lifecycle('the guest powering itself off holds the VM down: focus does not boot it again', () => {
  const d = new Driver([DEV]);
  d.bootFocused('1');
  d.take();
  assert.equal(d.observe('dev', 'stopped', 'the guest shut down').map(describe), ['changed dev stopped: the guest shut down']);
  assert.equal(d.focus('1').map(describe), []);
  assert.equal(d.user('start', 'dev').map(describe), ['start dev', 'changed dev starting: started by the user']);
});

lifecycle('session-end with nothing running exits at once', () => {
  const d = new Driver([DEV, MAIL]);
  assert.equal(d.send({ type: 'session-end' }), [{ type: 'exit' }]);
  assert.is(d.wakeAt, null);
});

lifecycle('config: a removed VM is powered off then forgotten; an added one appears stopped', () => {
  const d = new Driver([DEV, MAIL]);
  d.bootFocused('1');
  d.switchTo('2');
  d.observe('mail', 'running');
  d.take();
  assert.equal(d.send({ type: 'config', vms: [DEV, ACME], settings: SETTINGS }).map(describe), [
    'powerdown mail',
    'changed mail stopping: removed from the config',
    'changed acme stopped: not started',
  ]);
  assert.equal(vmOnWorkspace(d.state, ws('2')), null, 'a removed VM no longer owns its workspace');
  assert.equal(d.observe('mail', 'stopped', 'powered off').map(describe), ['changed mail stopped: powered off', 'forget mail']);
  assert.equal(Object.keys(d.state.vms), ['dev', 'acme']);
  d.take();
  d.switchTo('3: acme');
  assert.equal(d.take(), ['start acme', 'changed acme starting: workspace 3: acme focused']);
});

lifecycle('config: a removed VM that is already down is forgotten at once', () => {
  const d = new Driver([DEV, MAIL]);
  d.bootFocused('1');
  d.take();
  assert.equal(d.send({ type: 'config', vms: [DEV], settings: SETTINGS }), [{ type: 'forget', name: 'mail' }]);
  assert.equal(Object.keys(d.state.vms), ['dev']);
});

lifecycle('config: an added VM on the focused workspace starts at once', () => {
  const d = new Driver([DEV]);
  d.startUp('2');
  assert.equal(d.take(), []);
  assert.equal(d.send({ type: 'config', vms: [DEV, MAIL], settings: SETTINGS }).map(describe), [
    'start mail',
    'changed mail starting: workspace 2 focused',
  ]);
});

lifecycle('config: a new pauseAfterMs applies to a pause already pending', () => {
  const d = new Driver([DEV, MAIL]);
  d.bootFocused('1');
  d.switchTo('2');
  d.observe('mail', 'running');
  d.take();
  assert.is(d.wakeAt, T0 + 1500);
  clock.tick(1000);
  d.send({ type: 'config', vms: [DEV, MAIL], settings: { ...SETTINGS, pauseAfterMs: 5000 } });
  assert.is(d.wakeAt, T0 + 5000, 'counted from when it was hidden (0), with the new delay');
  clock.tick(10_000);
  assert.equal(d.takeOps(), ['5000 pause dev']);
});

lifecycle.run();
