/**
 * The pure policy: the memory budget — which hidden VM is saved to make room, and a
 * restore or cold start that waits for those saves. Driven by ./driver.ts.
 */
import * as assert from 'uvu/assert';
import type { PolicySettings, VmSpec } from '../../../daemon/policy/policy.js';
import { T0, SETTINGS, describe, newSuite, Driver, clock } from './driver.js';
import { MiB, IMAGE, A, B, C, BUDGET } from './memory-fixtures.js';

const memory = newSuite('policy: the memory budget');

/** a, b, c each booted in turn (c focused last), a and b paused since. */
function threeUp(settings: PolicySettings = BUDGET, specs: VmSpec[] = [A, B, C]): Driver {
  const d = new Driver(specs, settings);
  for (const [name, workspace] of [['a', '1'], ['b', '2'], ['c', '3']] as const) {
    d.switchTo(workspace);
    d.observe(name, 'running');
    clock.tick(2000);
  }
  for (const name of ['a', 'b']) d.observe(name, 'paused');
  d.take();
  return d;
}

memory('over the budget: the least recently focused hidden VM is hibernated first, as many as it takes', () => {
  const d = threeUp();
  assert.equal(d.send({ type: 'memory', rssBytes: { a: 100 * MiB, b: 100 * MiB, c: 100 * MiB } }).map(describe), [
    'hibernate a',
    'changed a saving: over the memory budget (250 MiB)',
  ]);
  assert.equal(d.send({ type: 'memory', rssBytes: { a: 100 * MiB, b: 100 * MiB, c: 100 * MiB } }), [], 'a is on its way out: 200 MiB will do');
  d.send({ type: 'observed', name: 'a', state: 'hibernated', image: IMAGE });
  assert.equal(d.send({ type: 'memory', rssBytes: { b: 100 * MiB, c: 200 * MiB } }).map(describe), ['hibernate b', 'changed b saving: over the memory budget (250 MiB)']);
});

memory('the budget never takes the focused VM, nor one visible on an output, nor one that opted out', () => {
  const d = new Driver([A, { ...B, hibernate: false }, C], { ...BUDGET, memoryBudgetMiB: 10 });
  d.switchTo('3');
  d.observe('c', 'running');
  d.shows('3', '1');
  d.user('start', 'a');
  d.user('start', 'b');
  d.observe('a', 'running');
  d.observe('b', 'running');
  d.take();
  assert.equal(d.send({ type: 'memory', rssBytes: { a: 100 * MiB, b: 100 * MiB, c: 100 * MiB } }), []);
  clock.tick(60_000);
  assert.not.ok(d.take().some((line) => /hibernate|saving/.test(line)));
});

memory('a restore counts against the budget before it lands: the least recently focused hidden VM makes room, and the restore waits for it', () => {
  for (const strict of [true, false]) {
    const d = threeUp({ ...BUDGET, memoryBudgetMiB: 250, memoryBudgetStrict: strict });
    d.send({ type: 'memory', rssBytes: { a: 100 * MiB, b: 100 * MiB, c: 40 * MiB } });
    d.user('hibernate', 'a');
    d.send({ type: 'observed', name: 'a', state: 'hibernated', image: IMAGE });
    d.send({ type: 'memory', rssBytes: { b: 100 * MiB, c: 100 * MiB } }); // c grows: 200 MiB, still under
    d.take();
    d.takeTold();
    // a comes back (100 MiB): b (focused before c) must go; c was focused last and is now hidden.
    if (strict) {
      assert.equal(d.user('resume', 'a').map(describe), ['hibernate b', 'changed a restoring: waiting for memory: saving b', 'changed b saving: over the memory budget (250 MiB)']);
      assert.equal(d.send({ type: 'observed', name: 'b', state: 'hibernated', image: IMAGE }).map(describe), [
        'restore a',
        'changed b hibernated: over the memory budget (250 MiB): saved to disk (96 MiB)',
        'changed a restoring: resumed by the user: restoring from its image (96 MiB)',
      ]);
    } else {
      // memoryBudgetStrict off: at once, over the budget until b is saved — and the log says so.
      assert.equal(d.user('resume', 'a').map(describe), [
        'restore a',
        'hibernate b',
        'changed a restoring: resumed by the user: restoring from its image (96 MiB); over the memory budget (250 MiB): 300 MiB with it until b is saved (memoryBudgetStrict is off)',
        'changed b saving: over the memory budget (250 MiB)',
      ]);
    }
  }
});

// ---- the budget is a limit: a restore waits for the saves that make room ------------------

/** a saved by the budget (it held 100 MiB), b paused and hidden, c focused on 3; each 100 MiB; budget 250 MiB, then `settings`. */
function aSavedByBudget(settings: PolicySettings = BUDGET, specs: VmSpec[] = [A, B, C]): Driver {
  const d = new Driver(specs, BUDGET);
  for (const [name, workspace] of [['a', '1'], ['b', '2'], ['c', '3']] as const) {
    d.switchTo(workspace);
    d.observe(name, 'running');
    clock.tick(2000);
  }
  for (const name of ['a', 'b']) d.observe(name, 'paused');
  d.send({ type: 'memory', rssBytes: { a: 100 * MiB, b: 100 * MiB, c: 100 * MiB } });
  d.send({ type: 'observed', name: 'a', state: 'hibernated', image: IMAGE });
  d.send({ type: 'config', vms: specs, settings });
  d.send({ type: 'memory', rssBytes: { b: 100 * MiB, c: 100 * MiB } });
  d.take();
  d.takeTold();
  return d;
}

memory('budget: focus on a hibernated VM that would not fit waits (shown restoring) until the displaced VM\'s QEMU is gone, then restores it', () => {
  const d = new Driver([A, B, C], BUDGET);
  for (const [name, workspace] of [['a', '1'], ['b', '2'], ['c', '3']] as const) {
    d.switchTo(workspace);
    d.observe(name, 'running');
    clock.tick(2000);
  }
  for (const name of ['a', 'b']) d.observe(name, 'paused');
  assert.equal(d.send({ type: 'memory', rssBytes: { a: 100 * MiB, b: 100 * MiB, c: 100 * MiB } }).map(describe), ['hibernate a', 'changed a saving: over the memory budget (250 MiB)']);
  d.send({ type: 'observed', name: 'a', state: 'hibernated', image: IMAGE });
  d.send({ type: 'memory', rssBytes: { b: 100 * MiB, c: 100 * MiB } });
  d.take();
  d.takeTold();

  // a needs the 100 MiB it held: 300 > 250. b (hidden, least recently focused) is saved, and a waits for it.
  assert.equal(d.focus('1').map(describe), ['hibernate b', 'changed a restoring: waiting for memory: saving b', 'changed b saving: over the memory budget (250 MiB)']);
  assert.equal(d.takeTold().filter((line) => line.startsWith('log a')), ['log a its restore waits until their QEMUs are gone: waiting for memory: saving b']);
  assert.equal(d.shows('1'), [], 'the snapshot changes nothing');
  clock.tick(300);
  assert.equal(d.send({ type: 'memory', rssBytes: { b: 100 * MiB, c: 100 * MiB } }), [], 'b still holds its RAM while it saves');
  assert.is(d.vm('a').state, 'restoring');
  assert.is(d.vm('a').op, null, 'no QEMU for a yet');
  // b's QEMU is gone (the supervisor reports `hibernated` once it has exited): now a fits.
  assert.equal(d.send({ type: 'observed', name: 'b', state: 'hibernated', image: IMAGE }).map(describe), [
    'restore a',
    'changed b hibernated: over the memory budget (250 MiB): saved to disk (96 MiB)',
    'changed a restoring: workspace 1 focused: restoring from its image (96 MiB)',
  ]);
  assert.equal(d.takeTold().filter((line) => line.startsWith('log a')), ['log a waited 0.3 s for memory: its restore goes on']);
  assert.is(d.vm('a').memory.waiting, null);
  assert.equal(d.observe('a', 'paused', 'restored from its image').map(describe), ['resume a', 'changed a paused: restored from its image']);
  assert.equal(d.opsFor('a'), 'start pause hibernate restore resume');
  assert.equal(d.opsFor('b'), 'start pause hibernate');
  assert.is(d.vm('a').since, T0 + 6000 + 300, 'restoring since the restore was asked');
});

memory('budget: a VM coming back counts the most it was seen to hold, not only what it held when saved (it grows back)', () => {
  const d = threeUp();
  d.send({ type: 'memory', rssBytes: { a: 140 * MiB, b: 100 * MiB, c: 10 * MiB } });
  d.send({ type: 'memory', rssBytes: { a: 90 * MiB, b: 100 * MiB, c: 10 * MiB } });
  d.user('hibernate', 'a');
  d.send({ type: 'observed', name: 'a', state: 'hibernated', image: IMAGE });
  d.send({ type: 'memory', rssBytes: { b: 100 * MiB, c: 40 * MiB } });
  d.take();
  assert.is(d.vm('a').memory.rssBeforeSave, 90 * MiB);
  assert.is(d.vm('a').memory.peakRssBytes, 140 * MiB);
  // 140 + 100 + 40 > 250 (with the 90 it held when saved it would have seemed to fit: 230).
  assert.equal(d.user('resume', 'a').map(describe), ['hibernate b', 'changed a restoring: waiting for memory: saving b', 'changed b saving: over the memory budget (250 MiB)']);
});

memory('budget: a running guest counts what it may take (its size), a paused one what it holds: room is made before it grows', () => {
  const sized = [A, B, C].map((spec): VmSpec => ({ ...spec, memoryMiB: 100 }));
  const d = threeUp(SETTINGS, sized); // no budget yet: nothing is taken while they boot
  // c's guest has touched 40 of its 100 MiB so far: 240 MiB held now, but c may take the rest at any moment.
  d.send({ type: 'memory', rssBytes: { a: 100 * MiB, b: 100 * MiB, c: 40 * MiB } });
  d.take();
  assert.equal(d.send({ type: 'config', vms: sized, settings: BUDGET }).map(describe), ['hibernate a', 'changed a saving: over the memory budget (250 MiB)']);
  d.send({ type: 'observed', name: 'a', state: 'hibernated', image: IMAGE });
  d.take();
  // Paused, b cannot grow: its 100 and c's 100 fit.
  assert.equal(d.send({ type: 'memory', rssBytes: { b: 100 * MiB, c: 40 * MiB } }), []);
});

memory('budget: a cold start that would not fit waits for the save too (shown starting)', () => {
  const sized = (spec: VmSpec): VmSpec => ({ ...spec, memoryMiB: 100 });
  const d = new Driver([A, B, C].map(sized), BUDGET);
  for (const [name, workspace] of [['b', '2'], ['c', '3']] as const) {
    d.switchTo(workspace);
    d.observe(name, 'running');
    clock.tick(2000);
  }
  d.observe('b', 'paused');
  d.send({ type: 'memory', rssBytes: { b: 100 * MiB, c: 100 * MiB } });
  d.take();
  d.takeTold();
  assert.equal(d.switchTo('1').map(describe), ['hibernate b', 'changed a starting: waiting for memory: saving b', 'changed b saving: over the memory budget (250 MiB)']);
  assert.equal(d.send({ type: 'observed', name: 'b', state: 'hibernated', image: IMAGE }).map(describe), [
    'start a',
    'changed b hibernated: over the memory budget (250 MiB): saved to disk (96 MiB)',
    'changed a starting: workspace 1 focused',
  ]);
});

memory('budget: a save that fails lets the waiting restore go on, over the budget, and its reason says so', () => {
  const d = aSavedByBudget();
  d.focus('1');
  assert.is(d.vm('a').reason, 'waiting for memory: saving b');
  d.take();
  d.takeTold();
  clock.tick(500);
  assert.equal(d.send({ type: 'op-failed', name: 'b', op: 'hibernate', reason: 'writing the image: no space left on device (ENOSPC)' }).map(describe), [
    'notify hiboss: b could not be saved to disk: writing the image: no space left on device (ENOSPC); it stays paused in RAM',
    'restore a',
    'changed b paused: could not save to disk: writing the image: no space left on device (ENOSPC); stays paused in RAM',
    'changed a restoring: workspace 1 focused: restoring from its image (96 MiB); over the memory budget (250 MiB): 300 MiB with it; the save of b it waited for failed',
  ]);
  assert.equal(d.takeTold().filter((line) => line.startsWith('log a')), [
    'log a waited 0.5 s for memory: its restore goes on',
    'log a restore: over the memory budget (250 MiB): 300 MiB with it; the save of b it waited for failed',
  ]);
  // c, hidden since the snapshot, is what the budget takes next: once a has landed, it fits again.
  assert.equal(d.shows('1').map(describe), ['pause c'], 'c, hidden now, is what the budget takes next');
  assert.ok(d.vm('c').memory.budgetPicked);
});

memory('budget: focus moving away calls the wait off (back to hibernated, told once); the last focus wins', () => {
  const d = aSavedByBudget();
  d.focus('1');
  d.take();
  d.takeTold();
  clock.tick(100);
  assert.equal(d.switchTo('3').map(describe), ['changed a hibernated: over the memory budget (250 MiB): saved to disk (96 MiB)']);
  assert.equal(d.takeTold().filter((line) => line.startsWith('log a')), ['log a no longer waiting for memory after 0.1 s: not wanted now']);
  assert.is(d.vm('a').memory.waiting, null);
  assert.is(d.vm('a').since, T0 + 6000, 'hibernated since it was saved: the wait did not count');
  assert.equal(d.send({ type: 'observed', name: 'b', state: 'hibernated', image: IMAGE }).map(describe), ['changed b hibernated: over the memory budget (250 MiB): saved to disk (96 MiB)'], 'b\'s save lands; a stays on disk');
  assert.equal(d.opsFor('a'), 'start pause hibernate', 'a was never restored');

  // Waiting for b, the user goes to b itself: a is called off; b comes back once its save has landed (one operation in flight).
  const e = aSavedByBudget();
  e.focus('1');
  e.take();
  assert.equal(e.switchTo('2').map(describe), ['changed a hibernated: over the memory budget (250 MiB): saved to disk (96 MiB)']);
  assert.equal(e.send({ type: 'observed', name: 'b', state: 'hibernated', image: IMAGE }).map(describe), [
    'restore b',
    'changed b hibernated: over the memory budget (250 MiB): saved to disk (96 MiB)',
    'changed b restoring: workspace 2 focused: restoring from its image (96 MiB)',
  ]);
});

memory('budget: a request by hand while waiting wins: hibernate calls the wait off; stop makes it a restore to power down (still waiting)', () => {
  const d = aSavedByBudget();
  d.focus('1');
  d.take();
  d.takeTold();
  assert.equal(d.user('hibernate', 'a').map(describe), ['changed a hibernated: over the memory budget (250 MiB): saved to disk (96 MiB)']);
  assert.is(d.vm('a').memory.waiting, null);
  assert.is(d.vm('a').memory.hibernateRequested, false, 'nothing more to save');
  assert.equal(d.send({ type: 'observed', name: 'b', state: 'hibernated', image: IMAGE }).map(describe), ['changed b hibernated: over the memory budget (250 MiB): saved to disk (96 MiB)']);

  const s = aSavedByBudget();
  s.focus('1');
  s.take();
  assert.equal(s.user('stop', 'a'), [], 'a stop of a hibernated VM restores it to power it down: that restore waits the same');
  assert.is(s.vm('a').reason, 'waiting for memory: saving b');
  assert.equal(s.send({ type: 'observed', name: 'b', state: 'hibernated', image: IMAGE }).map(describe), [
    'restore a',
    'changed b hibernated: over the memory budget (250 MiB): saved to disk (96 MiB)',
    'changed a restoring: restoring from its image (96 MiB) to power it down',
  ]);
});

memory('budget: the session ends while a restore waits: it stays on disk, and the daemon exits once the others are down', () => {
  const d = aSavedByBudget();
  d.focus('1');
  d.take();
  assert.equal(d.send({ type: 'session-end' }).map(describe), [
    'powerdown c',
    'changed a hibernated: over the memory budget (250 MiB): saved to disk (96 MiB)',
    'changed c stopping: session ended',
  ]);
  d.send({ type: 'observed', name: 'b', state: 'hibernated', image: IMAGE });
  assert.equal(d.observe('c', 'stopped').map(describe), ['changed c stopped: QEMU stopped', 'exit']);
});

memory('budget: when nothing can be freed it does not wait — it goes on over the budget and says so once', () => {
  // b opted out, c visible on the other output: nothing the budget may take.
  const d = aSavedByBudget(BUDGET, [A, { ...B, hibernate: false }, C]);
  // The focus event alone does not say whether c's workspace went out of sight: the WM's snapshot does.
  assert.equal(d.focus('1').map(describe), ['changed a restoring: waiting for memory: saving c if its workspace is hidden']);
  d.takeTold();
  assert.equal(d.shows('1', '3').map(describe), [
    'restore a',
    'changed a restoring: workspace 1 focused: restoring from its image (96 MiB); over the memory budget (250 MiB): 300 MiB with it; nothing more can be freed (the other VMs are visible, held, saving or have "hibernate": false)',
  ]);
  assert.equal(d.takeTold().filter((line) => line.startsWith('log a')), [
    'log a waited 0 s for memory: its restore goes on',
    'log a restore: over the memory budget (250 MiB): 300 MiB with it; nothing more can be freed (the other VMs are visible, held, saving or have "hibernate": false)',
  ]);
  d.send({ type: 'memory', rssBytes: { b: 100 * MiB, c: 100 * MiB } });
  d.observe('a', 'paused', 'restored from its image');
  d.send({ type: 'memory', rssBytes: { a: 100 * MiB, b: 100 * MiB, c: 100 * MiB } });
  assert.equal(d.takeTold().filter((line) => /over the memory budget/.test(line)), [], 'said once');

  // It alone needs more than the budget: no point in waiting either.
  const alone = aSavedByBudget({ ...BUDGET, memoryBudgetMiB: 80 });
  assert.equal(alone.focus('1').filter((a) => a.type === 'restore').map(describe), ['restore a']);
  assert.match(alone.vm('a').reason, /over the memory budget \(80 MiB\): \d+ MiB with it; it alone needs 100 MiB$/);
});

memory.run();
