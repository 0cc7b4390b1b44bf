/**
 * The pure policy: memory — hibernate a long-hidden VM, restore it
 * on focus, failures of either, by hand, the memory budget and prewarm. Driven
 * by ./driver.ts (fake clock, invariants checked on every decision: one
 * operation per VM in flight, the input never mutated, wake-ups in the future).
 */
import * as assert from 'uvu/assert';
import { PolicyConfig } from '../../../config/schema.js';
import type { PolicySettings, VmSpec } from '../../../daemon/policy/policy.js';
import { T0, SETTINGS, DEV, MAIL, vm, ws, describe, newSuite, Driver, clock } from './driver.js';
import { MiB, HIBERNATE, IMAGE, devPausedHidden, devHibernated, A, B, C } from './memory-fixtures.js';

const memory = newSuite('policy: memory (hibernate, restore, by hand, balloon, prewarm)');

memory('hidden for hibernateAfterMs: saved from paused, its QEMU ends; focus restores it, then resumes it', () => {
  const d = devPausedHidden();
  assert.is(d.wakeAt, T0 + 60_000, 'the hibernate timer counts from when it was hidden');
  clock.tick(60_000 - 1500 - 1);
  assert.equal(d.take(), [], 'not a millisecond early');
  clock.tick(1);
  assert.equal(d.takeTimed(), ['60000 hibernate dev', '60000 changed dev saving: workspace hidden for 1 min']);
  assert.is(d.vm('dev').awaitingReply, false, 'a save takes as long as the RAM is large: no "unresponsive" for it');
  clock.tick(100);
  assert.equal(d.send({ type: 'observed', name: 'dev', state: 'hibernated', image: IMAGE }).map(describe), [
    'changed dev hibernated: workspace hidden for 1 min: saved to disk (96 MiB)',
  ]);
  assert.equal(d.vm('dev').memory.image, IMAGE);
  assert.is(d.vm('dev').memory.lastSaveMs, 100);
  assert.is(d.wakeAt, null, 'nothing more to wait for');

  clock.tick(10_000);
  assert.equal(d.switchTo('1').map(describe), ['restore dev', 'changed dev restoring: workspace 1 focused: restoring from its image (96 MiB)']);
  clock.tick(200);
  assert.equal(d.observe('dev', 'paused', 'restored from its image').map(describe), ['resume dev', 'changed dev paused: restored from its image']);
  assert.is(d.vm('dev').memory.lastRestoreMs, 200);
  assert.is(d.vm('dev').memory.image, null);
  assert.equal(d.observe('dev', 'running').map(describe), ['changed dev running: QEMU running']);
  assert.equal(d.opsFor('dev'), 'start pause hibernate restore resume');
});

memory('a hidden VM still running is paused first, then saved', () => {
  const d = new Driver([DEV, MAIL], { ...HIBERNATE, pauseAfterMs: 120_000 });
  d.bootFocused('1');
  d.switchTo('2');
  d.observe('mail', 'running');
  d.take();
  clock.tick(60_000);
  assert.equal(d.takeTimed(), ['60000 pause dev']);
  assert.equal(d.observe('dev', 'paused').map(describe), ['hibernate dev', 'changed dev paused: QEMU paused', 'changed dev saving: workspace hidden for 1 min']);
});

memory('a STOP seen during a save is part of it: the VM stays `saving`', () => {
  const d = devPausedHidden();
  clock.tick(60_000);
  d.take();
  assert.equal(d.observe('dev', 'paused'), []);
  assert.equal(d.observe('dev', 'running'), []);
  assert.is(d.vm('dev').state, 'saving');
});

memory('never hibernated: hibernateAfterMs 0, "hibernate": false, a workspace visible on another output, no workspace', () => {
  for (const [settings, specs, visible] of [
    [SETTINGS, [DEV, MAIL], []],
    [HIBERNATE, [{ ...DEV, hibernate: false }, MAIL], []],
    [HIBERNATE, [DEV, MAIL], ['1']],
  ] as [PolicySettings, VmSpec[], string[]][]) {
    const d = new Driver(specs, settings);
    d.bootFocused('1');
    d.switchTo('2');
    d.shows('2', ...visible);
    d.observe('mail', 'running');
    clock.tick(3_600_000);
    assert.not.ok(d.opsFor('dev').includes('hibernate'), `dev hibernated with ${JSON.stringify({ settings: settings.hibernateAfterMs, specs, visible })}`);
  }
  const d = new Driver([vm('loose', null)], HIBERNATE);
  d.startUp('1');
  d.user('start', 'loose');
  d.observe('loose', 'running');
  clock.tick(3_600_000);
  assert.is(d.opsFor('loose'), 'start');
});

memory('a save that fails: paused in RAM with the reason, told; not tried again until its workspace was shown', () => {
  const d = devPausedHidden();
  clock.tick(60_000);
  d.take();
  assert.equal(d.send({ type: 'op-failed', name: 'dev', op: 'hibernate', reason: 'writing the image: no space left on device (ENOSPC)' }).map(describe), [
    'notify hiboss: dev could not be saved to disk: writing the image: no space left on device (ENOSPC); it stays paused in RAM',
    'changed dev paused: could not save to disk: writing the image: no space left on device (ENOSPC); stays paused in RAM',
  ]);
  assert.ok(d.takeTold().includes('log dev hibernate failed: writing the image: no space left on device (ENOSPC)'));
  assert.is(d.vm('dev').memory.problem, 'could not save to disk: writing the image: no space left on device (ENOSPC)');
  assert.is(d.wakeAt, null, 'no retry timer');
  d.take();
  clock.tick(3_600_000);
  assert.equal(d.take(), [], 'no second try while it stays hidden');

  d.switchTo('1');
  d.observe('dev', 'running');
  d.switchTo('2');
  d.observe('dev', 'paused');
  d.take();
  clock.tick(60_000);
  assert.equal(d.take(), ['hibernate dev', 'changed dev saving: workspace hidden for 1 min'], 'shown and hidden again: it is tried again');
});

memory('focus during a save: the save lands first (one operation in flight), then the restore', () => {
  const d = devPausedHidden();
  clock.tick(60_000);
  d.take();
  assert.equal(d.switchTo('1'), []);
  assert.equal(d.send({ type: 'observed', name: 'dev', state: 'hibernated', image: IMAGE }).map(describe), [
    'restore dev',
    'changed dev hibernated: workspace hidden for 1 min: saved to disk (96 MiB)',
    'changed dev restoring: workspace 1 focused: restoring from its image (96 MiB)',
  ]);
});

memory('a restore that fails: stopped with the reason, told, and a cold boot that says why', () => {
  const d = devHibernated();
  d.switchTo('1');
  d.take();
  const reason = 'the config\'s QEMU argv changed since it was saved (-m 128 → -m 256); the image is kept as memory-image.failed-20260101T000000.bin';
  assert.equal(d.send({ type: 'op-failed', name: 'dev', op: 'restore', reason }).map(describe), [
    `notify hiboss: dev could not be restored: ${reason}; it boots afresh`,
    'start dev',
    `changed dev stopped: could not restore: ${reason}`,
    `changed dev starting: cold boot: the restore failed (${reason})`,
  ]);
  assert.is(d.vm('dev').memory.image, null);
  assert.is(d.vm('dev').memory.problem, `could not restore: ${reason}`);
  d.observe('dev', 'running', 'QEMU is up');
  assert.is(d.vm('dev').memory.coldBootBecause, null, 'told once');
  assert.is(d.vm('dev').memory.problem, `could not restore: ${reason}`, 'status keeps the problem until the next success');
});

memory('a restore that fails while the VM is only prewarmed: stopped, booted when it is focused', () => {
  const d = devHibernated();
  d.user('prewarm', 'dev');
  d.take();
  assert.equal(d.send({ type: 'op-failed', name: 'dev', op: 'restore', reason: 'QEMU exited with code 1: load of migration failed' }).map(describe), [
    'notify hiboss: dev could not be restored: QEMU exited with code 1: load of migration failed; it boots afresh',
    'changed dev stopped: could not restore: QEMU exited with code 1: load of migration failed',
  ]);
  assert.equal(d.switchTo('1').map(describe), ['start dev', 'changed dev starting: cold boot: the restore failed (QEMU exited with code 1: load of migration failed)']);
});

memory('by hand: hibernate is a hold (focus does not restore it); resume restores and runs it', () => {
  const d = new Driver([DEV, MAIL], HIBERNATE);
  d.bootFocused('1');
  d.take();
  assert.equal(d.user('hibernate', 'dev').map(describe), ['pause dev']);
  assert.equal(d.lastAnswer, { ok: true, message: 'dev: hibernate (pause in flight, then saving to disk)' });
  assert.equal(d.observe('dev', 'paused').map(describe), ['hibernate dev', 'changed dev paused: QEMU paused', 'changed dev saving: hibernated by the user']);
  assert.equal(d.send({ type: 'observed', name: 'dev', state: 'hibernated', image: IMAGE }).map(describe), ['changed dev hibernated: hibernated by the user: saved to disk (96 MiB)']);
  assert.is(d.vm('dev').hold, 'paused');
  d.switchTo('2');
  d.observe('mail', 'running');
  assert.equal(d.switchTo('1').map(describe), [], 'held: focus leaves it on disk');
  assert.equal(d.user('resume', 'dev').map(describe), ['restore dev', 'changed dev restoring: resumed by the user: restoring from its image (96 MiB)']);
  assert.equal(d.observe('dev', 'paused', 'restored from its image').map(describe), ['resume dev', 'changed dev paused: restored from its image']);
  assert.is(d.vm('dev').hold, null);
});

memory('by hand: toggle and start restore a hibernated VM; pause keeps it on disk', () => {
  const d = devHibernated();
  assert.equal(d.user('pause', 'dev'), []);
  assert.is(d.vm('dev').state, 'hibernated');
  assert.equal(d.user('toggle', 'dev').map(describe), ['restore dev', 'changed dev restoring: resumed by the user: restoring from its image (96 MiB)']);
});

memory('by hand: hibernate is refused for a stopped VM and one that opted out; answered for one already on disk', () => {
  const d = new Driver([DEV, { ...MAIL, hibernate: false }], HIBERNATE);
  d.startUp('3');
  assert.equal(d.user('hibernate', 'dev'), []);
  assert.equal(d.lastAnswer, { ok: false, kind: 'InvalidArgument', message: 'dev is stopped: nothing to hibernate (start it first)' });
  assert.is(d.vm('dev').hold, null, 'a refused request changes nothing');
  d.user('hibernate', 'mail');
  assert.equal(d.lastAnswer, { ok: false, kind: 'InvalidArgument', message: 'mail has "hibernate": false in its config' });
  const h = devHibernated();
  assert.equal(h.user('hibernate', 'dev'), []);
  assert.equal(h.lastAnswer, { ok: true, message: 'dev: hibernate (already hibernated)' });
});

memory('by hand: the pause, resume or stop asked after a hibernate wins (the last request wins)', () => {
  const d = new Driver([DEV], HIBERNATE);
  d.bootFocused('1');
  d.user('hibernate', 'dev');
  d.user('resume', 'dev');
  d.take();
  assert.equal(d.observe('dev', 'paused').map(describe), ['resume dev', 'changed dev paused: QEMU paused']);
  assert.is(d.vm('dev').memory.hibernateRequested, false);
});

memory('stop on a hibernated VM restores it to power it down cleanly; restart then boots it', () => {
  const d = devHibernated();
  assert.equal(d.user('stop', 'dev').map(describe), ['restore dev', 'changed dev restoring: restoring from its image (96 MiB) to power it down']);
  assert.equal(d.observe('dev', 'paused').map(describe), ['powerdown dev', 'changed dev paused: QEMU paused', 'changed dev stopping: stopped by the user']);
});

memory('the session ends: hibernated VMs stay on disk, and the daemon exits once the others are down', () => {
  const d = devHibernated();
  d.send({ type: 'session-end' });
  assert.equal(d.take(), ['powerdown mail', 'changed mail stopping: session ended']);
  assert.equal(d.observe('mail', 'stopped').map(describe), ['changed mail stopped: QEMU stopped', 'exit']);
  assert.is(d.vm('dev').state, 'hibernated');
});

memory('a VM found hibernated at start-up (adoption) is restored when its workspace is focused', () => {
  const d = new Driver([DEV, MAIL], HIBERNATE);
  assert.equal(d.send({ type: 'observed', name: 'dev', state: 'hibernated', reason: 'found on disk (image of 96 MiB saved 5 min ago)', image: IMAGE }).map(describe), [
    'changed dev hibernated: found on disk (image of 96 MiB saved 5 min ago)',
  ]);
  assert.equal(d.startUp('2').map(describe), ['start mail', 'changed mail starting: workspace 2 focused']);
  assert.equal(d.switchTo('1').map(describe), ['restore dev', 'changed dev restoring: workspace 1 focused: restoring from its image (96 MiB)']);
});

memory('a hibernated VM removed from the config is forgotten (its image stays, like its disks)', () => {
  const d = devHibernated();
  const actions = d.send({ type: 'config', vms: [MAIL], settings: HIBERNATE });
  assert.equal(actions.map(describe), ['forget dev']);
  assert.is(d.state.vms.dev, undefined);
});

memory('a QEMU that dies during a save is a failure like any other (restarted when shown)', () => {
  const d = devPausedHidden();
  clock.tick(60_000);
  d.take();
  assert.equal(d.observe('dev', 'failed', 'QEMU killed by SIGKILL').map(describe), [
    'notify hiboss: VM dev failed: QEMU killed by SIGKILL (restart 1/3 when workspace 1 is shown)',
    'changed dev failed: QEMU killed by SIGKILL (restart 1/3 when workspace 1 is shown)',
  ]);
});

// ---- the balloon before a pause ---------------------------------------------------------

const SHRINK: PolicySettings = { ...SETTINGS, balloonBeforePause: true };

memory('balloonBeforePause: a hidden VM is shrunk to its working set, then paused; a resume deflates it', () => {
  const d = new Driver([DEV, MAIL], SHRINK);
  d.bootFocused('1');
  d.switchTo('2');
  d.observe('mail', 'running');
  d.take();
  clock.tick(1500);
  assert.equal(d.takeTimed(), ['1500 shrink dev']);
  assert.is(d.vm('dev').awaitingReply, false, 'a guest giving pages back takes its time: not "unresponsive"');
  clock.tick(800);
  assert.equal(d.send({ type: 'op-done', name: 'dev', op: 'shrink' }), [{ type: 'pause', name: 'dev' }]);
  d.observe('dev', 'paused');
  assert.is(d.vm('dev').memory.shrunk, true);
  assert.equal(d.switchTo('1'), [{ type: 'resume', name: 'dev' }]);
  d.observe('dev', 'running');
  assert.is(d.vm('dev').memory.shrunk, false);
  d.switchTo('2');
  clock.tick(1500);
  assert.equal(d.takeOps().slice(-1), ['3800 shrink dev'], 'shrunk again before the next pause');
});

memory('balloonBeforePause: focus back during the shrink — it stays running and its balloon deflates (a resume)', () => {
  const d = new Driver([DEV, MAIL], SHRINK);
  d.bootFocused('1');
  d.switchTo('2');
  d.observe('mail', 'running');
  clock.tick(1500);
  d.take();
  assert.equal(d.switchTo('1'), [], 'the shrink is in flight');
  assert.equal(d.send({ type: 'op-done', name: 'dev', op: 'shrink' }), [{ type: 'resume', name: 'dev' }]);
  d.send({ type: 'op-done', name: 'dev', op: 'resume' });
  assert.is(d.vm('dev').memory.shrunk, false);
  assert.is(d.vm('dev').state, 'running');
});

memory('balloonBeforePause: not for a pause by hand, not for a VM without our balloon; a failed shrink only logs, the pause follows', () => {
  const d = new Driver([DEV, { ...MAIL, balloon: false }], SHRINK);
  d.bootFocused('1');
  d.take();
  assert.equal(d.user('pause', 'dev'), [{ type: 'pause', name: 'dev' }]);
  d.observe('dev', 'paused');
  d.user('resume', 'dev');
  d.observe('dev', 'running');
  d.switchTo('2');
  d.observe('mail', 'running');
  d.switchTo('1');
  d.take();
  clock.tick(1500);
  assert.equal(d.takeOps(), ['1500 pause mail'], 'mail has no balloon of ours: paused at once');
  d.observe('mail', 'paused');
  d.switchTo('2');
  clock.tick(1500);
  assert.equal(d.takeOps(), ['1500 resume mail', '3000 shrink dev']);
  assert.equal(d.send({ type: 'op-failed', name: 'dev', op: 'shrink', reason: 'qom-get: no balloon' }), [{ type: 'pause', name: 'dev' }]);
  assert.ok(d.takeTold().includes('log dev shrink failed: qom-get: no balloon'));
});

// ---- prewarm ----------------------------------------------------------------------------

memory('prewarm by hand: restored and left paused; focus then only resumes it', () => {
  const d = devHibernated();
  assert.equal(d.user('prewarm', 'dev').map(describe), ['restore dev', 'changed dev restoring: prewarming: restoring from its image (96 MiB)']);
  assert.equal(d.lastAnswer, { ok: true, message: 'dev: prewarm (restoring)' });
  assert.equal(d.observe('dev', 'paused', 'restored from its image').map(describe), ['changed dev paused: restored from its image']);
  assert.is(d.wakeAt, T0 + 60_000 + 60_000, 'hibernated again a full period after the prewarm if nobody looks');
  assert.equal(d.switchTo('1').map(describe), ['resume dev']);
  const m = devPausedHidden();
  m.user('prewarm', 'dev');
  assert.equal(m.lastAnswer, { ok: true, message: 'dev: prewarm (paused: nothing to restore)' });
});

memory('prewarm when the workspace is created (the WM\'s init), unless the policy says not to', () => {
  const d = devHibernated();
  assert.equal(d.send({ type: 'workspace-init', workspace: ws('1: dev') }).map(describe), ['restore dev', 'changed dev restoring: prewarming: restoring from its image (96 MiB)']);
  const off = devHibernated({ ...HIBERNATE, prewarmOnInit: false });
  assert.equal(off.send({ type: 'workspace-init', workspace: ws('1') }), []);
});

memory('prewarm the focused VM\'s neighbours (next/prev) while the budget allows', () => {
  const settings = PolicyConfig.parse({ ...HIBERNATE, prewarmNeighbours: true, memoryBudgetMiB: 250 });
  const sized = (spec: VmSpec): VmSpec => ({ ...spec, memoryMiB: 100 });
  const d = new Driver([A, B, C].map(sized), settings);
  for (const name of ['a', 'b', 'c']) d.send({ type: 'observed', name, state: 'hibernated', image: { bytes: 100 * MiB, savedAt: T0 } });
  d.take();
  // Focus b (100 MiB back): c, the next, fits (200 MiB); a, the previous, would not (300 > 250).
  assert.equal(d.switchTo('2').map(describe), [
    'restore b',
    'restore c',
    'changed b restoring: workspace 2 focused: restoring from its image (100 MiB)',
    'changed c restoring: prewarming: restoring from its image (100 MiB)',
  ]);
  const free = new Driver([A, B, C].map(sized), { ...settings, memoryBudgetMiB: null });
  for (const name of ['a', 'b', 'c']) free.send({ type: 'observed', name, state: 'hibernated', image: { bytes: 100 * MiB, savedAt: T0 } });
  free.take();
  assert.equal(free.switchTo('2').filter((a) => a.type === 'restore').map(describe), ['restore a', 'restore b', 'restore c'], 'no budget: both neighbours');
});

memory.run();
