/**
 * Hibernation when things go wrong, end to end, with the real
 * daemon, real QEMU and the real guest: a full disk during a save (a small
 * tmpfs as the VM's state dir), a corrupt image, an argv changed between save
 * and restore; and the memory budget choosing whom to hibernate. Another VM's image
 * put in its place: e2e-image-seal.test.ts.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { firstTick, printedSince } from '../harness/continuity.js';
import { writeConfig, type RunningDaemon } from '../harness/daemon.js';
import { ensureGuest, guestQemuArgv, tickCount, type Guest } from '../harness/guest.js';
import { pidsWithArg } from '../harness/inspect.js';
import { startNotificationServer, type NotificationServer } from '../harness/notifications.js';
import { waitForContent } from '../harness/processes.js';
import { startDesktop, type DesktopSession } from '../harness/session.js';

const quiet = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const MiB = 1024 * 1024;

const t = suite('hibernation failures and the memory budget, with the real guest');
let guest: Guest;
let session: DesktopSession;
let daemon: RunningDaemon;
let notifications: NotificationServer;
let mounted: string | null = null;

t.before(async () => {
  guest = await ensureGuest();
});
t.before.each(async () => {
  session = await startDesktop('sway', 'hibf');
  notifications = await startNotificationServer(session.bus.address);
});
t.after.each(async () => {
  notifications?.stop();
  // Lazily: the daemon may still have the directory open; the sandbox goes right after.
  if (mounted) execFileSync('umount', ['-l', mounted]);
  mounted = null;
  await session?.end();
});

/** A wait set up before the act, that a failed assertion may leave behind: never an unhandled rejection. */
function expecting<T>(promise: Promise<T>): Promise<T> {
  promise.catch(() => {});
  return promise;
}

const serial = (name = 'family') => path.join(session.sandbox.root, `${name}.serial`);
const runDir = (name = 'family') => path.join(session.sandbox.runtimeDir, 'hiboss', name);
const stateDir = (name = 'family') => path.join(session.sandbox.stateHome, 'hiboss', name);

function familyConfig(extraArgs: string[] = []) {
  return {
    vms: { family: { workspace: '2', qemu: [...guestQemuArgv(guest, serial()), ...extraArgs] } },
    policy: { pauseAfterMs: 100, hibernateAfterMs: 300 },
  };
}

async function stateOf(name: string) {
  return (await daemon.client.status()).vms.find((vm) => vm.name === name)!;
}

async function bootFamily(): Promise<void> {
  const running = expecting(daemon.client.waitForState('family', (c) => c.state === 'running', 30_000));
  await session.wmc.command('workspace 2');
  await running;
  await waitForContent(serial(), (text) => tickCount(text) >= 3, 30_000);
}

async function hibernateFamily(): Promise<void> {
  const hibernated = expecting(daemon.client.waitForState('family', (c) => c.state === 'hibernated', 30_000));
  await session.wmc.command('workspace 5');
  await hibernated;
}

t('a full disk during a save: still paused in RAM, no partial image, the reason shown and told', async () => {
  // The VM's state dir on a tmpfs far smaller than the guest's RAM.
  fs.mkdirSync(stateDir(), { recursive: true, mode: 0o700 });
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=8m,mode=0700', 'tmpfs', stateDir()]);
  mounted = stateDir();
  daemon = await session.startDaemon(familyConfig());
  await bootFamily();
  const [pid] = pidsWithArg(runDir());
  const refused = expecting(daemon.client.waitForState('family', (c) => c.state === 'paused' && /could not save/.test(c.reason), 30_000));
  await session.wmc.command('workspace 5');
  const change = await refused;
  // Written by us (QEMU 7.2's stream), or by QEMU itself (mapped-ram, QEMU ≥ 9): either way the reason names the full disk.
  assert.match(change.reason, /^could not save to disk: (writing the image: no space left on device \(ENOSPC\)|QEMU's migration failed: .*No space left on device); stays paused in RAM$/);
  const told = await notifications.waitFor(/family could not be saved to disk/);
  assert.match(told.body, /no space left on device/i);
  assert.equal(fs.readdirSync(stateDir()), [], 'no partial image, no description');
  assert.equal(pidsWithArg(runDir()), [pid], 'the same QEMU still holds the guest');
  const status = await stateOf('family');
  assert.is(status.state, 'paused');
  assert.match(status.memoryProblem!, /no space left on device/i);
  // Not tried again while hidden; and focus brings the guest back from RAM.
  await quiet(800);
  assert.is((await stateOf('family')).state, 'paused');
  const before = fs.readFileSync(serial(), 'utf8');
  const running = expecting(daemon.client.waitForState('family', (c) => c.state === 'running', 10_000));
  await session.wmc.command('workspace 2');
  await running;
  const now = await waitForContent(serial(), (text) => tickCount(text) >= tickCount(before) + 2, 10_000);
  assert.is(firstTick(printedSince(before, now)), tickCount(before) + 1);
});

t('a corrupt image: a cold boot, the image kept aside, the reason shown and told', async () => {
  daemon = await session.startDaemon(familyConfig());
  await bootFamily();
  await hibernateFamily();
  const image = path.join(stateDir(), 'memory-image.bin');
  fs.truncateSync(image, Math.floor(fs.statSync(image).size / 2)); // the stream ends half way
  const stopped = expecting(daemon.client.waitForState('family', (c) => c.state === 'stopped', 30_000));
  const starting = expecting(daemon.client.waitForState('family', (c) => c.state === 'starting', 30_000));
  const running = expecting(daemon.client.waitForState('family', (c) => c.state === 'running', 60_000));
  await session.wmc.command('workspace 2');
  const why = await stopped;
  assert.match(why.reason, /^could not restore: .*; the image is kept as memory-image\.unrestorable-\d{8}T\d{6}Z\.bin$/);
  assert.match((await starting).reason, /^cold boot: the restore failed \(/);
  const told = await notifications.waitFor(/family could not be restored/);
  assert.match(told.body, /it boots afresh$/);
  await running;
  const kept = fs.readdirSync(stateDir()).filter((f) => f.startsWith('memory-image.'));
  assert.equal(kept.map((f) => f.replace(/\d{8}T\d{6}Z/, 'STAMP')).sort(), ['memory-image.unrestorable-STAMP.bin', 'memory-image.unrestorable-STAMP.json']);
  await waitForContent(serial(), (text) => /GUEST-UP/.test(text), 30_000); // a boot, and said so above
  assert.is(pidsWithArg(runDir()).length, 1, 'one QEMU: the failed restore is gone');
  assert.match((await stateOf('family')).memoryProblem!, /^could not restore: /);
});

t('argv changed between save and restore: nothing is tried, a cold boot says why', async () => {
  daemon = await session.startDaemon(familyConfig());
  await bootFamily();
  await hibernateFamily();
  const applied = daemon.waitForLog(/family: launch settings changed/, 10_000);
  writeConfig(session.sandbox, familyConfig(['-smp', '1']));
  await applied;
  const starting = expecting(daemon.client.waitForState('family', (c) => c.state === 'starting', 30_000));
  const running = expecting(daemon.client.waitForState('family', (c) => c.state === 'running', 60_000));
  await session.wmc.command('workspace 2');
  const start = await starting;
  assert.match(start.reason, /^cold boot: the restore failed \(its QEMU argv changed since it was saved \("-smp 1" added\); the image is kept as memory-image\.unrestorable-\S+\.bin\)$/);
  await notifications.waitFor(/family could not be restored/);
  await running;
  assert.not.match(fs.readFileSync(path.join(runDir(), 'qemu.log'), 'utf8'), /incoming defer/, 'no QEMU was started from the stale image');
});

t('over the memory budget: the least recently focused hidden VM is hibernated; never a visible one', async () => {
  const names = { a: '7', d: '10', b: '8', c: '9' } as const;
  daemon = await session.startDaemon({
    vms: Object.fromEntries(Object.entries(names).map(([name, workspace]) => [name, { workspace, qemu: guestQemuArgv(guest, serial(name)) }])),
    policy: { pauseAfterMs: 100, hibernateAfterMs: 0 },
  });
  await session.wmc.command('create_output');
  // a on the first output stays visible; d, b, c take turns on the second (c focused last).
  for (const [name, command] of [
    ['a', 'focus output HEADLESS-1; workspace 7'],
    ['d', 'focus output HEADLESS-2; workspace 10'],
    ['b', 'workspace 8'],
    ['c', 'workspace 9'],
  ] as const) {
    const running = expecting(daemon.client.waitForState(name, (c) => c.state === 'running', 30_000));
    await session.wmc.command(command);
    await running;
    await waitForContent(serial(name), (text) => tickCount(text) >= 2, 30_000);
  }
  for (const name of ['d', 'b']) await daemon.client.untilState(name, (c) => c.state === 'paused', 10_000);
  const status = await daemon.client.status();
  const rss = Object.fromEntries(status.vms.map((vm) => [vm.name, vm.rssBytes!]));
  const total = Object.values(rss).reduce((a, b) => a + b, 0);
  // One VM's worth too little: hibernating d (the least recently focused hidden one) is enough.
  const budgetMiB = Math.floor((total - rss.d! / 2) / MiB);
  const dSaved = expecting(daemon.client.waitForState('d', (c) => c.state === 'hibernated', 30_000));
  writeConfig(session.sandbox, { vms: JSON.parse(fs.readFileSync(daemon.configPath, 'utf8')).vms, policy: { pauseAfterMs: 100, hibernateAfterMs: 0, memoryBudgetMiB: budgetMiB } });
  assert.match((await dSaved).reason, new RegExp(`^over the memory budget \\(${budgetMiB} MiB\\): saved to disk`));
  await quiet(1500); // a few samples: under the budget now, nobody else goes
  const after = await daemon.client.status();
  const states = Object.fromEntries(after.vms.map((vm) => [vm.name, vm.state]));
  assert.equal(states, { a: 'running', b: 'paused', c: 'running', d: 'hibernated' });
  assert.ok(after.memory!.heldBytes <= budgetMiB * MiB, `held ${after.memory!.heldBytes} within ${budgetMiB} MiB`);
  assert.is(after.memory!.budgetMiB, budgetMiB);
  assert.not.match(daemon.log(), /\b(a|c|b): saving/, 'only d was saved');
});

t.run();
