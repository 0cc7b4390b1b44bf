/**
 * The memory budget is a limit, end to end, with the real daemon,
 * real sway, real QEMU and the real guest: focusing a hibernated VM that would
 * not fit next to the VM it displaces makes its restore wait — shown
 * `restoring`, "waiting for memory: saving b" — until b's save is done and b's
 * QEMU has exited (the supervisor reports `hibernated` only then); only then is
 * a's restore asked, and a's guest counts on where it was. The order is taken
 * from the daemon's StateChanged signals and its log, never from timings.
 */
import path from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { StateChange } from '../../api/client.js';
import { firstTick, printedSince } from '../harness/continuity.js';
import { writeConfig, type RunningDaemon } from '../harness/daemon.js';
import { desktopPerTest, realGuestForSuite } from '../harness/fixtures.js';
import { guestQemuArgv, tickCount } from '../harness/guest.js';
import { pidsWithArg } from '../harness/inspect.js';
import { waitForContent } from '../harness/processes.js';

const MiB = 1024 * 1024;

const t = suite('the memory budget: a restore waits for the save that makes room, with the real guest');
const guest = realGuestForSuite(t);
const session = desktopPerTest(t, 'sway', 'bwait');
let daemon: RunningDaemon;

const serial = (name: string) => path.join(session.sandbox.root, `${name}.serial`);
/** Not workspace 1: sway starts there, and the daemon would boot its VM before the test listens. */
const WORKSPACES = { a: '7', b: '8' } as const;

function config(policy: Record<string, unknown> = {}) {
  return {
    vms: Object.fromEntries(Object.entries(WORKSPACES).map(([name, workspace]) => [name, { workspace, qemu: guestQemuArgv(guest, serial(name)) }])),
    policy: { pauseAfterMs: 100, hibernateAfterMs: 0, ...policy },
  };
}

/** A wait set up before the act, that a failed assertion may leave behind: never an unhandled rejection. */
function expecting<T>(promise: Promise<T>): Promise<T> {
  promise.catch(() => {});
  return promise;
}

async function boot(name: keyof typeof WORKSPACES): Promise<void> {
  const running = expecting(daemon.client.waitForState(name, (c) => c.state === 'running', 40_000));
  await session.wmc.command(`workspace ${WORKSPACES[name]}`);
  await running;
  await waitForContent(serial(name), (text) => tickCount(text) >= 2, 40_000);
}

const qemuOf = (name: string) => pidsWithArg(`${session.runDir(name)}/`);

t('focus on a hibernated VM that would not fit: its restore waits until the displaced VM is saved and its QEMU gone, then it restores and counts on', async () => {
  daemon = await session.startDaemon(config());
  await boot('a');
  await boot('b');
  // Listening before looking: a pause that lands between the two is not missed.
  const aPaused = expecting(daemon.client.waitForState('a', (c) => c.state === 'paused', 10_000));
  if ((await daemon.client.status()).vms.find((vm) => vm.name === 'a')!.state !== 'paused') await aPaused;
  // One VM fits, two do not: the budget hibernates a (hidden, least recently focused).
  const rss = Object.fromEntries((await daemon.client.status()).vms.map((vm) => [vm.name, vm.rssBytes!]));
  assert.ok(rss.a! > 0 && rss.b! > 0, `both QEMUs measured: ${JSON.stringify(rss)}`);
  const budgetMiB = Math.floor((rss.b! + rss.a! / 2) / MiB);
  const aSaved = expecting(daemon.client.waitForState('a', (c) => c.state === 'hibernated', 30_000));
  writeConfig(session.sandbox, config({ memoryBudgetMiB: budgetMiB }));
  assert.match((await aSaved).reason, /^over the memory budget \(\d+ MiB\): saved to disk/);
  assert.equal(qemuOf('a'), [], 'a holds no QEMU');
  const beforeRestore = await waitForContent(serial('a'), () => true, 1000);

  // Every state change from here on, in the order the daemon sent them.
  const changes: StateChange[] = [];
  daemon.client.on('state', (change: StateChange) => changes.push(change));
  const aRunning = expecting(daemon.client.waitForState('a', (c) => c.state === 'running', 40_000));
  await session.wmc.command(`workspace ${WORKSPACES.a}`);
  await aRunning;

  const seen = changes.map((c) => `${c.name} ${c.state}: ${c.reason}`);
  const at = (pattern: RegExp) => seen.findIndex((line) => pattern.test(line));
  const waiting = at(/^a restoring: waiting for memory: saving b$/);
  const bSaving = at(/^b saving: over the memory budget/);
  const bGone = at(/^b hibernated: /);
  const aRestoring = at(/^a restoring: workspace 7 focused: restoring from its image/);
  const aLanded = at(/^a paused: restored from its image/);
  const aRuns = at(/^a running: /);
  const order = seen.join('\n');
  assert.ok(waiting !== -1, `a shown waiting for memory:\n${order}`);
  assert.ok(bSaving !== -1 && bGone !== -1 && aRestoring !== -1 && aLanded !== -1 && aRuns !== -1, `the whole sequence:\n${order}`);
  assert.ok(waiting < bGone && bSaving < bGone, `a waited while b was saved:\n${order}`);
  assert.ok(bGone < aRestoring, `b's QEMU was gone before a's restore was asked:\n${order}`);
  assert.ok(aRestoring < aLanded && aLanded < aRuns, `then a restored and ran:\n${order}`);
  assert.not.ok(seen.slice(0, bGone).some((line) => /^a (restoring: (?!waiting for memory)|paused|running)/.test(line)), `nothing of a's restore before b was gone:\n${order}`);
  assert.not.ok(seen.some((line) => /over the memory budget \(\d+ MiB\): \d+ MiB with it/.test(line)), `never over the budget:\n${order}`);

  // The daemon's log says the same, in the same order (one writer, one file).
  const log = daemon.log();
  const logAt = (pattern: RegExp) => log.search(pattern);
  const logWait = logAt(/a: its restore waits until their QEMUs are gone: waiting for memory: saving b/);
  const logSaving = logAt(/b: saving: /);
  const logGone = logAt(/b: hibernated: /);
  const logGoesOn = logAt(/a: waited [\d.]+ s for memory: its restore goes on/);
  const logRestoring = logAt(/a: restoring: workspace 7 focused: restoring from its image/);
  assert.ok(logWait !== -1 && logSaving !== -1 && logGone !== -1 && logGoesOn !== -1 && logRestoring !== -1, `the log tells the wait:\n${log.slice(-3000)}`);
  // (A decision's log lines come before the state changes it announces: "goes on" and "b hibernated" are one decision.)
  assert.ok(logWait < logSaving && logSaving < logGoesOn && logGone < logRestoring, `in the log too: waited, b saved and gone, then a restored:\n${log.slice(logWait)}`);
  assert.not.match(log, /over the memory budget \(\d+ MiB\): \d+ MiB with it/);

  // b is on disk with no QEMU; a is back from its image — no reboot: its counter goes on.
  assert.equal(qemuOf('b'), [], 'b holds no QEMU');
  assert.is(qemuOf('a').length, 1, 'one QEMU for a');
  const lastTick = tickCount(beforeRestore);
  const now = await waitForContent(serial('a'), (text) => tickCount(printedSince(beforeRestore, text)) >= lastTick + 2, 20_000);
  const after = printedSince(beforeRestore, now);
  assert.is(firstTick(after), lastTick + 1, `a counts on from ${lastTick}: ${after.slice(0, 120)}`);
  assert.not.match(after, /GUEST-UP/, 'no reboot');
});

t.run();
