/** The pure policy: requests in flight, QEMUs that stop answering, and what is told. Driven by ./driver.ts. */
import * as assert from 'uvu/assert';
import { reportedReason, reportedState } from '../../../daemon/policy/policy.js';
import { T0, DEV, MAIL, newSuite, Driver, clock, describe } from './driver.js';

const requests = newSuite('policy: requests, unresponsive QEMUs, announcements');

/** dev booted on 1, the user went to 2 (mail): at 1500 dev's pause is asked and not yet answered. */
function devPausing(): Driver {
  const d = new Driver([DEV, MAIL]);
  d.bootFocused('1');
  d.switchTo('2');
  d.observe('mail', 'running');
  d.take();
  clock.tick(1500);
  assert.equal(d.takeOps(), ['1500 pause dev']);
  return d;
}

requests('a command unanswered for unresponsiveAfterMs shows the VM unresponsive; the answer brings it back', () => {
  const d = devPausing();
  clock.tick(999);
  assert.equal(d.take(), [], 'not yet: 999 ms');
  clock.tick(1);
  const [changed] = d.take();
  assert.match(changed!, /^changed dev unresponsive: QEMU has not answered "pause" since /);
  assert.is(reportedState(d.vm('dev')), 'unresponsive');
  // What status says is what was told, not what the VM last did ("QEMU running").
  assert.is(`changed dev unresponsive: ${reportedReason(d.vm('dev'))}`, changed);
  assert.is(d.vm('dev').unresponsiveSince, T0 + 1500);
  assert.ok(d.takeTold().some((line) => /log dev QEMU has not answered "pause" for 1 s/.test(line)));
  // QEMU continues (it was SIGSTOPped): the queued `stop` lands.
  assert.equal(d.send({ type: 'observed', name: 'dev', state: 'paused' }).map(describe), ['changed dev paused: workspace hidden']);
  assert.is(d.vm('dev').unresponsiveSince, null);
  assert.is(reportedState(d.vm('dev')), 'paused');
});

requests('a QMP timeout keeps the VM unresponsive and asks again after a second', () => {
  const d = devPausing();
  clock.tick(5000); // unresponsive at 2500, the 5 s QMP timeout at 6500
  d.take();
  d.send({ type: 'op-failed', name: 'dev', op: 'pause', reason: 'stop: no reply within 5000 ms', timedOut: true });
  assert.equal(d.take(), ['changed dev unresponsive: QEMU did not answer "pause" within 5 s; asking again']);
  clock.tick(1000);
  assert.equal(d.takeOps(), ['7500 pause dev']);
  assert.is(reportedState(d.vm('dev')), 'unresponsive', 'still unanswered: still unresponsive');
});

requests('pause while a stop is pending says so (not "start it first" of a VM that is starting)', () => {
  const d = new Driver([DEV]);
  d.startUp('1');
  d.take();
  d.user('stop', 'dev');
  d.user('pause', 'dev');
  assert.equal(d.lastAnswer, { ok: false, kind: 'InvalidArgument', message: 'dev is starting with a stop pending: nothing to pause (start it to cancel the stop)' });
  d.observe('dev', 'running');
  d.observe('dev', 'stopped', 'powered off');
  d.user('pause', 'dev');
  assert.equal(d.lastAnswer, { ok: false, kind: 'InvalidArgument', message: 'dev is stopped: nothing to pause (start it first)' });
});

requests('the answer to `stop` alone lands a pause (QEMU sends no STOP for a VM already paused)', () => {
  const d = devPausing();
  assert.equal(d.send({ type: 'op-done', name: 'dev', op: 'pause' }).map(describe), ['changed dev paused: workspace hidden']);
  assert.is(d.vm('dev').op, null);
});

requests('Stop, Start, Pause while the guest ignores ACPI: the last request that can be done wins, and each reply says so', () => {
  const d = new Driver([DEV]);
  d.bootFocused('1');
  d.take();
  d.user('stop', 'dev');
  assert.equal(d.lastAnswer, { ok: true, message: 'dev: stop (stopping: ACPI powerdown, quit after 10 s)' });
  clock.tick(100);
  d.user('start', 'dev');
  assert.equal(d.lastAnswer, { ok: true, message: 'dev: start queued: it starts again once its shutdown completes' });
  d.user('pause', 'dev');
  assert.equal(d.lastAnswer, { ok: true, message: 'dev: pause queued: it starts again once its shutdown completes' });
  clock.tick(9900); // the guest ignored the button: quit at the deadline
  assert.equal(d.takeOps(), ['0 powerdown dev', '10000 quit dev']);
  d.observe('dev', 'stopped', 'quit');
  assert.equal(d.takeOps(), ['10000 start dev'], 'started again, as asked after the stop');
  d.observe('dev', 'running');
  assert.equal(d.takeOps(), ['10000 pause dev'], 'then paused: the last request');
  d.observe('dev', 'paused');
  assert.is(d.vm('dev').state, 'paused');
  assert.is(d.vm('dev').hold, 'paused');
});

requests('Pause of a stopped VM is refused with the reason; nothing changes', () => {
  const d = new Driver([DEV, MAIL]);
  d.bootFocused('1');
  d.take();
  assert.equal(d.user('pause', 'mail'), []);
  assert.equal(d.lastAnswer, { ok: false, kind: 'InvalidArgument', message: 'mail is stopped: nothing to pause (start it first)' });
  assert.is(d.vm('mail').hold, null);
});

requests('FocusChanged is told once per change of workspace or of its VM', () => {
  const d = new Driver([DEV, MAIL]);
  d.startUp('1');
  assert.equal(d.takeTold().filter((l) => l.startsWith('focus')), ['focus-changed 1 dev']);
  d.shows('1');
  assert.equal(d.takeTold().filter((l) => l.startsWith('focus')), [], 'the same focus again: nothing');
  d.focus('7');
  assert.equal(d.takeTold().filter((l) => l.startsWith('focus')), ['focus-changed 7 ']);
  d.send({ type: 'config', vms: [DEV, MAIL, { name: 'seven', workspace: '7', restart: 'on-failure' }], settings: d.state.settings });
  assert.equal(d.takeTold().filter((l) => l.startsWith('focus')), ['focus-changed 7 seven'], 'a VM bound to the focused workspace');
});

requests('a refused config is told once per set of problems; an accepted one after it is told too', () => {
  const d = new Driver([DEV]);
  d.send({ type: 'config-refused', problems: ['vms.dev.qemu: expected array'] });
  assert.equal(d.takeTold(), ['log - config refused: vms.dev.qemu: expected array', 'config-changed false vms.dev.qemu: expected array']);
  assert.equal(d.take(), ['notify hiboss: config refused: vms.dev.qemu: expected array']);
  d.send({ type: 'config-refused', problems: ['vms.dev.qemu: expected array'] });
  assert.equal([...d.takeTold(), ...d.take()], [], 'the same problems again (an editor saving twice): told once');
  assert.equal(d.state.configProblems, ['vms.dev.qemu: expected array']);
  d.send({ type: 'config', vms: [DEV], settings: d.state.settings });
  assert.equal(d.takeTold(), ['config-changed true ']);
  assert.equal(d.state.configProblems, []);
  d.send({ type: 'config', vms: [DEV], settings: d.state.settings });
  assert.equal(d.takeTold(), [], 'the same config again: nothing to tell');
});

requests('cold boot and resume times are measured by the policy from its own requests', () => {
  const d = new Driver([DEV, MAIL]);
  d.startUp('1');
  clock.tick(2500);
  d.observe('dev', 'running');
  assert.is(d.vm('dev').lastColdBootMs, 2500);
  d.switchTo('2');
  d.observe('mail', 'running');
  clock.tick(1500);
  d.observe('dev', 'paused');
  d.switchTo('1');
  clock.tick(3);
  d.observe('dev', 'running');
  assert.is(d.vm('dev').lastResumeMs, 3);
});

requests.run();
