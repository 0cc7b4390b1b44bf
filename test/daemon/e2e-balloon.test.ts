/**
 * Memory given back while VMs run, end to end: the real daemon on
 * headless sway, real QEMU and the real guest (its agent allocates and frees
 * memory on command). hiboss gives the VMs it starts a balloon with free-page
 * reporting: memory the guest frees is off QEMU's RSS within seconds (and stays
 * on without it), a file-backed guest's too (`"guestRam": "file"`: QEMU punches the
 * freed pages out of its RAM file, and the resident memory the budget reads drops
 * with them); with `balloonBeforePause` a hidden VM is shrunk to its working
 * set before it is paused, and its balloon deflates when it runs again.
 */
import fs from 'node:fs';
import path from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { RunningDaemon } from '../harness/daemon.js';
import { desktopPerTest, realGuestForSuite } from '../harness/fixtures.js';
import { guestQemuArgv, tickCount } from '../harness/guest.js';
import { waitForContent } from '../harness/processes.js';
import { guestExec, withAgent } from '../harness/records.js';

const MiB = 1024 * 1024;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const t = suite('balloon and free-page reporting with the real guest');
const guest = realGuestForSuite(t);
const session = desktopPerTest(t, 'sway', 'bal');
let daemon: RunningDaemon;

const serial = (name: string) => path.join(session.sandbox.root, `${name}.serial`);
const runDir = (name: string) => session.runDir(name);

/** The real guest with 512 MiB and its agent on the VM's runtime dir (where hiboss looks for it). */
function vmConfig(name: string, workspace: string, extra: Record<string, unknown> = {}) {
  return { workspace, qemu: guestQemuArgv(guest, serial(name), '', { agentSocket: path.join(runDir(name), 'qga.sock'), memoryMiB: 512 }), ...extra };
}

async function rssOf(name: string): Promise<number> {
  return (await daemon.client.status()).vms.find((vm) => vm.name === name)!.rssBytes!;
}

/** Runs a program in the guest and waits for it (busybox's sh; the test's own commands). */
async function inGuest(name: string, argv: string[]): Promise<void> {
  const run = await withAgent(path.join(runDir(name), 'qga.sock'), (agent) => guestExec(agent, argv, 60_000));
  assert.is(run.code, 0, `${argv.join(' ')} failed in the guest`);
}

async function bootOn(name: string, workspace: string): Promise<void> {
  const running = daemon.client.waitForState(name, (c) => c.state === 'running', 30_000);
  running.catch(() => {});
  await session.wmc.command(`workspace ${workspace}`);
  // Already running (its change came before this client listened)? Then no signal is to come.
  if ((await daemon.client.status()).vms.find((vm) => vm.name === name)?.state !== 'running') await running;
  await waitForContent(serial(name), (text) => /GUEST-AGENT-UP/.test(text) && tickCount(text) >= 2, 30_000);
}

/**
 * Allocates 200 MiB in the guest, frees it, and returns RSS (as the daemon reports it: what the
 * budget reads) before the free and the lowest within `withinMs` after.
 */
async function allocateAndFree(name: string, withinMs = 5000): Promise<{ full: number; after: number }> {
  await inGuest(name, ['/bin/dd', 'if=/dev/zero', 'of=/tmp/fill', 'bs=1M', 'count=200']);
  const full = await rssOf(name);
  await inGuest(name, ['/bin/rm', '/tmp/fill']);
  let after = full;
  for (const deadline = Date.now() + withinMs; Date.now() < deadline && after > full - 150 * MiB; await sleep(250)) after = Math.min(after, await rssOf(name));
  return { full, after };
}

t('free-page reporting: 200 MiB freed in the guest leave QEMU within 5 s, its RAM in a file too; without the balloon they stay', async () => {
  daemon = await session.startDaemon({
    // Not workspace 1: sway starts there, and the daemon would boot it before the test looks.
    vms: { reporting: vmConfig('reporting', '3'), plain: vmConfig('plain', '2', { balloon: false }), filed: vmConfig('filed', '4', { guestRam: 'file' }) },
    policy: { pauseAfterMs: 60_000 },
  });
  await bootOn('reporting', '3');
  assert.match(fs.readFileSync(path.join(runDir('reporting'), 'qemu.log'), 'utf8'), /virtio-balloon-pci,id=hiboss-balloon,free-page-reporting=on/);
  const reporting = await allocateAndFree('reporting');
  assert.ok(reporting.after <= reporting.full - 150 * MiB, `RSS ${reporting.full / MiB} → ${reporting.after / MiB} MiB`);

  await bootOn('plain', '2');
  assert.not.match(fs.readFileSync(path.join(runDir('plain'), 'qemu.log'), 'utf8'), /virtio-balloon/);
  const plain = await allocateAndFree('plain');
  assert.ok(plain.after > plain.full - 50 * MiB, `without reporting the freed memory stays: ${plain.full / MiB} → ${plain.after / MiB} MiB`);

  // Its RAM in a file: the guest's pages are QEMU's mapped file pages (RssFile, in its VmRSS);
  // freed, they are punched out of the file and unmapped. (A deadline, not a wait: it ends as
  // soon as they are gone, and a loaded machine gets longer than the anonymous case.)
  await bootOn('filed', '4');
  const ramFile = path.join(session.stateDir('filed'), 'guest-ram.bin');
  const filed = await allocateAndFree('filed', 15_000);
  assert.ok(filed.after <= filed.full - 150 * MiB, `file-backed: RSS ${filed.full / MiB} → ${filed.after / MiB} MiB`);
  assert.ok(fs.statSync(ramFile).blocks * 512 < 200 * MiB, `the freed pages are punched out of the RAM file (${(fs.statSync(ramFile).blocks * 512) / MiB} MiB on disk)`);
});

t('balloonBeforePause: hidden, it is shrunk to its working set before the pause; running again, its balloon deflates', async () => {
  daemon = await session.startDaemon({
    vms: { family: vmConfig('family', '2') },
    policy: { pauseAfterMs: 200, balloonBeforePause: true, hibernateAfterMs: 0 },
  });
  await bootOn('family', '2');
  const before = await rssOf('family');
  const paused = daemon.client.waitForState('family', (c) => c.state === 'paused', 20_000);
  await session.wmc.command('workspace 5');
  await paused;
  const line = await daemon.waitForLog(/family: shrunk before the pause: /, 1000);
  assert.match(line, /shrunk before the pause: caches dropped, balloon to \d+ MiB \(from 512 MiB\)/);
  const shrunk = await rssOf('family');
  assert.ok(shrunk < before, `RSS ${before / MiB} → ${shrunk / MiB} MiB`);
  const running = daemon.client.waitForState('family', (c) => c.state === 'running', 10_000);
  await session.wmc.command('workspace 2');
  await running;
  await daemon.waitForLog(/family: its balloon deflated/, 10_000);
  // And the guest goes on using its memory (its /tmp holds at most half of it).
  await inGuest('family', ['/bin/dd', 'if=/dev/zero', 'of=/tmp/fill', 'bs=1M', 'count=200']);
});

t.run();
