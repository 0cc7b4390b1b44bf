/** The pure policy: rapid switching. Driven by ./driver.ts (fake clock, invariants checked on every decision). */
import * as assert from 'uvu/assert';
import { T0, SETTINGS, DEV, MAIL, vm, describe, mulberry32, newSuite, Driver, clock } from './driver.js';

const rapid = newSuite('policy: rapid switching');

/**
 * 50 focus changes in one second between `vmCount` VMs, each followed 5 ms later
 * by the WM's snapshot; the supervisor completes every operation after a random
 * delay (starts are slow, pauses and resumes quick).
 */
function rapidSwitching(seed: number, vmCount: number) {
  const random = mulberry32(seed);
  const specs = Array.from({ length: vmCount }, (_, i) => vm(`vm${i + 1}`, String(i + 1)));
  const d = new Driver(specs, SETTINGS, {
    start: [200, 900],
    pause: [5, 80],
    resume: [5, 80],
    powerdown: [100, 300],
    random,
  });
  d.startUp('1');
  clock.tick(1000); // vm1 is up

  const switchStart = Date.now() - T0;
  const focusAt: Record<string, number[]> = {};
  let last = '1';
  for (let i = 0; i < 50; i++) {
    let next = String(1 + Math.floor(random() * vmCount));
    if (next === last) next = String((Number(last) % vmCount) + 1);
    // Make sure every VM is visited at least once.
    if (i < vmCount) next = String(((i + 1) % vmCount) + 1);
    last = next;
    (focusAt[`vm${next}`] ??= []).push(Date.now() - T0);
    d.focus(next);
    const shown = next;
    setTimeout(() => d.shows(shown), 5);
    clock.tick(20);
  }
  const switchEnd = Date.now() - T0;
  clock.tick(30_000);
  return { d, last: `vm${last}`, focusAt, switchStart, switchEnd, specs };
}

for (const vmCount of [2, 3, 4]) {
  for (const seed of [1, 2, 3, 42, 1234]) {
    rapid(`${vmCount} VMs, seed ${seed}: each started once, one op in flight, the last focus wins`, () => {
      const { d, last, focusAt, switchEnd, specs } = rapidSwitching(seed, vmCount);
      for (const { name } of specs) {
        const starts = d.actionsOf('start').filter((e) => 'name' in e.action && e.action.name === name);
        assert.is(starts.length, 1, `${name} started ${starts.length} times`);
        // start, then strictly alternating pause/resume: never two of a kind in a row.
        assert.match(d.opsFor(name), /^start( pause resume)*( pause)?$/, name);
        const record = d.vm(name);
        assert.is(record.op, null, `${name} still has ${record.op} in flight`);
        if (name === last) {
          assert.is(record.state, 'running', `${name} was focused last`);
        } else {
          assert.is(record.state, 'paused', `${name}`);
          // Not paused before pauseAfterMs had passed since it was last left.
          const leftAt = Math.min(...Object.values(focusAt).flat().filter((t) => t > Math.max(...focusAt[name]!)));
          const lastPause = d.actionsOf('pause').filter((e) => 'name' in e.action && e.action.name === name).at(-1)!;
          assert.ok(lastPause.at >= leftAt + SETTINGS.pauseAfterMs, `${name} paused at ${lastPause.at}, left at ${leftAt}`);
        }
      }
      // Nothing is paused while the user is still switching: no VM was hidden 1.5 s by then.
      assert.is(d.actionsOf('pause').filter((e) => e.at < switchEnd).length, 0);
      assert.is(d.inFlight.size, 0);
      assert.is(d.wakeAt, null, 'settled: nothing pending');
      assert.ok(d.idleTicks <= vmCount * 3, `${d.idleTicks} idle ticks`);
    });
  }
}

rapid('a pause in flight when the user switches back: resume as soon as it lands', () => {
  const d = new Driver([DEV, MAIL]);
  d.bootFocused('1');
  d.switchTo('2');
  d.observe('mail', 'running');
  d.take();
  clock.tick(1500);
  assert.equal(d.takeOps(), ['1500 pause dev']);
  clock.tick(10);
  assert.equal(d.switchTo('1'), [], 'the pause is in flight: nothing else is asked of dev');
  clock.tick(20);
  assert.equal(d.observe('dev', 'paused', 'STOP'), [
    { type: 'resume', name: 'dev' },
    { type: 'changed', name: 'dev', state: 'paused', reason: 'STOP' },
  ]);
  d.observe('dev', 'running', 'RESUME');
  clock.tick(1500);
  assert.equal(d.takeTimed(), [
    '1530 resume dev',
    '1530 changed dev paused: STOP',
    '1530 changed dev running: RESUME',
    '3010 pause mail',
  ]);
});

rapid('a start in flight when the user leaves: paused as soon as it lands if the delay is over', () => {
  const d = new Driver([DEV, MAIL]);
  d.bootFocused('1');
  d.switchTo('2');
  d.take();
  clock.tick(100);
  d.switchTo('1');
  clock.tick(3000);
  assert.equal(d.take(), [], 'mail is still starting: nothing to pause yet');
  assert.equal(d.observe('mail', 'running', 'booted'), [
    { type: 'pause', name: 'mail' },
    { type: 'changed', name: 'mail', state: 'running', reason: 'booted' },
  ]);
});

rapid('a start that lands paused (restored from a snapshot) is resumed', () => {
  const d = new Driver([DEV]);
  d.startUp('1');
  d.take();
  assert.equal(d.observe('dev', 'paused', 'restored').map(describe), ['resume dev', 'changed dev paused: restored']);
  d.observe('dev', 'running');
  assert.is(d.vm('dev').state, 'running');
});

rapid.run();
