/**
 * The user's decisions survive the daemon: a VM paused or stopped by hand stays so
 * after the daemon is killed -9 (or stopped) and a new one adopts the VMs; a
 * corrupt hold file is reported and ignored. Real sway, real daemon, the real guest.
 */
import fs from 'node:fs';
import path from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { bounded } from '../harness/bounded.js';
import type { RunningDaemon } from '../harness/daemon.js';
import { ensureGuest, guestQemuArgv, tickCount, type Guest } from '../harness/guest.js';
import { pidsWithArg } from '../harness/inspect.js';
import { track, waitForContent } from '../harness/processes.js';
import { startDesktop, type DesktopSession } from '../harness/session.js';

/** Long enough for a running guest to print 3 ticks (one every 0.2 s). */
const SILENCE_MS = 700;
const quiet = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const t = suite('holds survive the daemon (real sway, real guest)');
const test = bounded(t, 60_000);
let guest: Guest;
let session: DesktopSession;
let daemon: RunningDaemon;

const serial = (name: string) => path.join(session.sandbox.root, `${name}.serial`);
const runDir = (name: string) => path.join(session.sandbox.runtimeDir, 'hiboss', name);
const holdFile = (name: string) => path.join(runDir(name), 'hold.json');
const ticks = (name: string) => tickCount(fs.readFileSync(serial(name), 'utf8'));

async function killDaemon(signal: 'SIGKILL' | 'SIGTERM'): Promise<void> {
  daemon.process.child.kill(signal);
  await daemon.process.exited;
  daemon.client.close();
}

t.before(async () => {
  guest = await ensureGuest();
  session = await startDesktop('sway', 'holds');
});
t.after(() => session?.end());

test('paused and stopped by hand, then the daemon is killed -9: the next daemon keeps both held', async () => {
  daemon = await session.startDaemon({
    vms: {
      family: { workspace: '2', qemu: guestQemuArgv(guest, serial('family')) },
      acme: { workspace: '3', qemu: guestQemuArgv(guest, serial('acme')) },
    },
    policy: { pauseAfterMs: 60_000, powerdownTimeoutMs: 1000 },
  });
  const familyUp = daemon.client.waitForState('family', (c) => c.state === 'running', 30_000);
  await session.wmc.command('workspace 2');
  await familyUp;
  const [familyPid] = pidsWithArg(runDir('family'));
  track(familyPid!);
  await waitForContent(serial('family'), (text) => tickCount(text) >= 2, 30_000);
  const paused = daemon.client.waitForState('family', (c) => c.state === 'paused', 10_000);
  await daemon.client.pause('family');
  await paused;
  const hold = JSON.parse(fs.readFileSync(holdFile('family'), 'utf8'));
  assert.is(hold.hold, 'paused');
  assert.is(hold.pid, familyPid, 'the hold names the QEMU it paused');
  assert.is(fs.statSync(holdFile('family')).mode & 0o777, 0o600);

  const acmeUp = daemon.client.waitForState('acme', (c) => c.state === 'running', 30_000);
  await session.wmc.command('workspace 3');
  await acmeUp;
  const acmeDown = daemon.client.waitForState('acme', (c) => c.state === 'stopped', 15_000);
  await daemon.client.stop('acme');
  await acmeDown;
  assert.is(JSON.parse(fs.readFileSync(holdFile('acme'), 'utf8')).hold, 'stopped');

  await killDaemon('SIGKILL');
  await session.wmc.command('workspace 1');
  daemon = await session.startDaemon();
  await daemon.waitForLog(/family: still paused by the user/);
  await daemon.waitForLog(/acme: still stopped by the user/);
  const status = await daemon.client.status();
  const family = status.vms.find((vm) => vm.name === 'family')!;
  assert.is(family.state, 'paused');
  assert.is(family.heldByUser, true);
  assert.is(family.pid, familyPid, 'the same QEMU, adopted');
  assert.is(status.vms.find((vm) => vm.name === 'acme')!.heldByUser, true);

  // Focus both workspaces: neither decision is undone.
  await session.wmc.command('workspace 2');
  const frozenAt = ticks('family');
  await session.wmc.command('workspace 3');
  await session.wmc.command('workspace 2');
  await quiet(SILENCE_MS); // proving that nothing happens takes time
  assert.is(ticks('family'), frozenAt, 'family stays paused while focused');
  assert.equal(pidsWithArg(runDir('acme')), [], 'acme was not started');
  assert.is((await daemon.client.status()).vms.find((vm) => vm.name === 'family')!.state, 'paused');

  // The user releases the pause: the hold file goes.
  const resumed = daemon.client.waitForState('family', (c) => c.state === 'running', 10_000);
  await daemon.client.resume('family');
  await resumed;
  await waitForContent(serial('family'), (text) => tickCount(text) > frozenAt + 1, 10_000);
  assert.not.ok(fs.existsSync(holdFile('family')));
});

test('a corrupt hold file is reported and ignored: the daemon runs, the VM starts on focus', async () => {
  await session.wmc.command('workspace 1');
  await killDaemon('SIGTERM');
  fs.writeFileSync(holdFile('acme'), '{"version": 1, "hold": "stop');
  daemon = await session.startDaemon();
  await daemon.waitForLog(/acme: hold file: .*hold\.json is not JSON .*; ignored/);
  assert.not.ok(fs.existsSync(holdFile('acme')), 'the corrupt file is removed');
  const up = daemon.client.waitForState('acme', (c) => c.state === 'running', 30_000);
  await session.wmc.command('workspace 3');
  await up;
  const [acmePid] = pidsWithArg(runDir('acme'));
  track(acmePid!);
});

test('a stale hold (paused, but its QEMU is gone) is reported and ignored', async () => {
  await session.wmc.command('workspace 1');
  await killDaemon('SIGTERM');
  const [familyPid] = pidsWithArg(runDir('family'));
  fs.writeFileSync(holdFile('family'), JSON.stringify({ version: 1, hold: 'paused', since: Date.now(), pid: familyPid }));
  process.kill(familyPid!, 'SIGKILL');
  daemon = await session.startDaemon();
  await daemon.waitForLog(/family: hold file: a stale hold \(paused by the user, but its QEMU is gone\); ignored/);
  const up = daemon.client.waitForState('family', (c) => c.state === 'running', 30_000);
  await session.wmc.command('workspace 2');
  await up;
});

t.run();
