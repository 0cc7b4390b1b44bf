/**
 * Hibernation end to end: the real daemon on headless sway, real
 * QEMU 7.2 and the real guest (counting "tick N" on its serial console). A VM
 * hidden long enough is saved to disk and its QEMU ends; focus restores it and
 * the guest counts on from where it was — no reboot. The daemon killed -9 in
 * the middle of a save or a restore: the next daemon ends in a right state and
 * the guest is not lost.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { firstTick, printedSince } from '../harness/continuity.js';
import { HIBOSS, type RunningDaemon } from '../harness/daemon.js';
import { desktopPerTest, realGuestForSuite } from '../harness/fixtures.js';
import { guestQemuArgv, tickCount } from '../harness/guest.js';
import { alive, pidsWithArg } from '../harness/inspect.js';
import { waitForContent, waitForFile, waitForGone } from '../harness/processes.js';

const run = promisify(execFile);

const t = suite('hibernate and restore with the real guest');
const guest = realGuestForSuite(t);
const session = desktopPerTest(t, 'sway', 'hib');
let daemon: RunningDaemon;

const serial = () => path.join(session.sandbox.root, 'family.serial');
const runDir = () => session.runDir('family');
const stateDir = () => session.stateDir('family');
const image = () => path.join(stateDir(), 'memory-image.bin');

function config(policy: Record<string, unknown> = {}) {
  return {
    vms: { family: { workspace: '2', qemu: guestQemuArgv(guest, serial()) } },
    policy: { pauseAfterMs: 100, hibernateAfterMs: 400, ...policy },
  };
}

/** Boots family on workspace 2 and lets it count a little. */
async function boot(): Promise<void> {
  const running = daemon.client.waitForState('family', (c) => c.state === 'running', 30_000);
  await session.wmc.command('workspace 2');
  await running;
  await waitForContent(serial(), (text) => tickCount(text) >= 3, 30_000);
}

/** Leaves workspace 2 and waits until family is on disk. */
async function hideUntilHibernated(): Promise<void> {
  const saving = daemon.client.waitForState('family', (c) => c.state === 'saving', 20_000);
  const hibernated = daemon.client.waitForState('family', (c) => c.state === 'hibernated', 30_000);
  await session.wmc.command('workspace 5');
  await saving;
  const done = await hibernated;
  assert.match(done.reason, /^workspace hidden for 0\.4 s: saved to disk \(\d+ MiB\)$/);
}

/** Resolves once family is in `state` (already, or by a later change). */
async function reach(state: string, timeoutMs: number): Promise<void> {
  await daemon.client.untilState('family', (c) => c.state === state, timeoutMs);
}

/** Focuses workspace 2 and proves the guest went on counting from where it was (no reboot). */
async function focusAndProveContinuity(before: string): Promise<void> {
  const lastTick = tickCount(before);
  const running = daemon.client.waitForState('family', (c) => c.state === 'running', 30_000);
  await session.wmc.command('workspace 2');
  await running;
  const now = await waitForContent(serial(), (text) => tickCount(printedSince(before, text)) >= lastTick + 2, 15_000);
  const after = printedSince(before, now);
  assert.is(firstTick(after), lastTick + 1, `the guest counts on from ${lastTick}: ${after.slice(0, 120)}`);
  assert.not.match(after, /GUEST-UP/, 'no reboot');
}

t('hidden long enough: saved to disk, QEMU gone (0 bytes held); focus restores it and the counter continues', async () => {
  daemon = await session.startDaemon(config());
  await boot();
  const [pid] = pidsWithArg(runDir());
  await hideUntilHibernated();
  assert.is(alive(pid!), false, 'QEMU has ended');
  assert.equal(pidsWithArg(runDir()), [], 'no QEMU holds the guest');
  const stat = fs.statSync(image());
  assert.is(stat.mode & 0o777, 0o600, "the guest's RAM is private");
  assert.ok(stat.size > 1024 * 1024, `image of ${stat.size} bytes`);
  assert.is(fs.statSync(path.join(stateDir(), 'memory-image.json')).mode & 0o777, 0o600);
  assert.is(fs.existsSync(path.join(stateDir(), 'memory-image.bin.tmp')), false);

  const status = (await daemon.client.status()).vms[0]!;
  assert.is(status.state, 'hibernated');
  assert.is(status.pid, null);
  assert.is(status.rssBytes, null);
  // What it takes on disk: all of a stream image (QEMU 7.2); a mapped-ram one (QEMU ≥ 9) is sparse.
  const onDisk = Math.min(stat.size, stat.blocks * 512);
  assert.is(status.image?.bytes, onDisk);
  assert.ok(status.lastSaveMs! > 0);
  const { stdout } = await run(process.execPath, [HIBOSS, 'status'], { env: daemon.env });
  const row = stdout.split('\n').find((line) => /\bfamily\b/.test(line)) ?? '';
  assert.match(row, /❄ hibernated/);
  assert.match(row, new RegExp(`\\bdisk ${Math.round(onDisk / 1048576)} MiB\\b`), row);

  const before = fs.readFileSync(serial(), 'utf8');
  await focusAndProveContinuity(before);
  // Removed once restored, off the event loop (the unlink would delay the RESUME being seen).
  await waitForGone(image(), 10_000, 'the restored image');
  await waitForGone(path.join(stateDir(), 'memory-image.json'), 10_000, 'the restored image\'s record');
  assert.is(pidsWithArg(runDir()).length, 1, 'one QEMU');
  const restored = (await daemon.client.status()).vms[0]!;
  assert.ok(restored.lastRestoreMs! > 0);
  assert.is(restored.image, null);
});

t('hibernate by hand (a hold): focus leaves it on disk; resume brings it back', async () => {
  daemon = await session.startDaemon(config({ hibernateAfterMs: 0 }));
  await boot();
  const hibernated = daemon.client.waitForState('family', (c) => c.state === 'hibernated', 30_000);
  const { stdout } = await run(process.execPath, [HIBOSS, 'vm', 'hibernate', 'family'], { env: daemon.env });
  assert.match(stdout, /^family: hibernated \(hibernated by the user: saved to disk \(\d+ MiB\)\)/);
  await hibernated;
  assert.equal(pidsWithArg(runDir()), []);
  const status = (await daemon.client.status()).vms[0]!;
  assert.is(status.heldByUser, true);
  const before = fs.readFileSync(serial(), 'utf8');
  // Focused all along, and held: nothing brings it back but the user.
  await session.wmc.command('workspace 5');
  await session.wmc.command('workspace 2');
  await new Promise((resolve) => setTimeout(resolve, 500)); // proving that nothing happens takes a moment
  assert.is((await daemon.client.status()).vms[0]!.state, 'hibernated');
  // The hold outlives the daemon: the next one finds it hibernated, and still held.
  await daemon.stop();
  daemon = await session.startDaemon();
  await daemon.waitForLog(/family: still paused by the user/, 10_000);
  const again = (await daemon.client.status()).vms[0]!;
  assert.equal([again.state, again.heldByUser], ['hibernated', true]);
  const running = daemon.client.waitForState('family', (c) => c.state === 'running', 30_000);
  await daemon.client.resume('family');
  await running;
  const now = await waitForContent(serial(), (text) => tickCount(printedSince(before, text)) >= tickCount(before) + 1, 15_000);
  assert.is(firstTick(printedSince(before, now)), tickCount(before) + 1);
});

t('prewarm (hiboss prewarm NAME): restored from its image but left paused; focus then only resumes it', async () => {
  daemon = await session.startDaemon(config({ hibernateAfterMs: 400 }));
  await boot();
  await hideUntilHibernated();
  const before = fs.readFileSync(serial(), 'utf8');
  const paused = daemon.client.waitForState('family', (c) => c.state === 'paused', 30_000);
  const { stdout } = await run(process.execPath, [HIBOSS, 'prewarm', 'family'], { env: daemon.env });
  assert.match(stdout, /^family: prewarm \((hibernated|restoring)/);
  assert.match((await paused).reason, /^restored from its image in \d+\.\d\d s$/);
  assert.is(pidsWithArg(runDir()).length, 1, 'its QEMU is back');
  await waitForGone(image(), 10_000, 'the restored image');
  assert.is(tickCount(printedSince(before, fs.readFileSync(serial(), 'utf8'))), 0, 'prewarmed, not running');
  await focusAndProveContinuity(before);
  assert.match(daemon.log(), /family: running: workspace 2 focused/);
});

t('the daemon killed -9 in the middle of a save: the next one finds the guest in RAM, paused, and nothing half-written', async () => {
  daemon = await session.startDaemon(config());
  await boot();
  const [pid] = pidsWithArg(runDir());
  const saving = daemon.client.waitForState('family', (c) => c.state === 'saving', 10_000);
  await session.wmc.command('workspace 5');
  await saving;
  await waitForFile(`${image()}.tmp`, 10_000);
  // Frozen mid-stream (QEMU blocks on the full socket), then killed: the stream breaks.
  daemon.process.child.kill('SIGSTOP');
  daemon.process.child.kill('SIGKILL');
  await daemon.process.exited;
  daemon.client.close();
  const before = fs.readFileSync(serial(), 'utf8');

  daemon = await session.startDaemon();
  const line = await daemon.waitForLog(/family: adopted QEMU pid \d+ \((paused|running)\)/, 20_000);
  const status = (await daemon.client.status()).vms[0]!;
  if (status.state === 'hibernated') {
    // The save had completed before the kill: equally right, the image is whole.
    assert.ok(fs.existsSync(image()));
  } else {
    assert.match(line, /\(paused\)/);
    assert.match(status.reason, /its save to disk was interrupted when the last daemon ended; it stays paused in RAM$/);
    assert.is(status.pid, pid, 'the same QEMU holds the guest');
    assert.is(fs.existsSync(image()), false);
    assert.is(fs.existsSync(`${image()}.tmp`), false, 'no partial image');
    assert.is(fs.existsSync(path.join(stateDir(), 'memory-image.json')), false);
  }
  await focusAndProveContinuity(before);
  assert.is(pidsWithArg(runDir()).length, 1);
});

t('the daemon killed -9 in the middle of a restore: the next one restores it, once, and the guest counts on', async () => {
  daemon = await session.startDaemon(config());
  await boot();
  await hideUntilHibernated();
  const before = fs.readFileSync(serial(), 'utf8');
  const restoring = daemon.client.waitForState('family', (c) => c.state === 'restoring', 10_000);
  await session.wmc.command('workspace 2');
  await restoring;
  daemon.process.child.kill('SIGSTOP');
  await waitForContent(path.join(runDir(), 'qemu.log'), (text) => /incoming defer/.test(text), 10_000).catch(() => undefined);
  daemon.process.child.kill('SIGKILL');
  await daemon.process.exited;
  daemon.client.close();

  daemon = await session.startDaemon();
  // Workspace 2 is focused: the next daemon finds the VM hibernated (image intact) and restores it.
  await reach('running', 30_000);
  const lastTick = tickCount(before);
  const now = await waitForContent(serial(), (text) => tickCount(printedSince(before, text)) >= lastTick + 2, 15_000);
  assert.is(firstTick(printedSince(before, now)), lastTick + 1, 'the guest counts on');
  assert.not.match(printedSince(before, now), /GUEST-UP/, 'no reboot');
  assert.is(pidsWithArg(runDir()).length, 1, 'never two QEMUs for one VM');
  await waitForGone(image(), 10_000, 'the restored image');
});

t.run();
