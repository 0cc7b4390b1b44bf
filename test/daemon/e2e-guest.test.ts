/**
 * The daemon end to end on real sway and i3, with real QEMUs running the real
 * guest (a kernel + busybox counting "tick N" on its serial console).
 */
import fs from 'node:fs';
import path from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { WmClient } from '../../wm-ipc/client.js';
import { after, type RunningDaemon } from '../harness/daemon.js';
import { startDesktop, type DesktopSession } from '../harness/session.js';
import { ensureGuest, guestQemuArgv, tickCount, type Guest } from '../harness/guest.js';
import { alive, pidsWithArg } from '../harness/inspect.js';
import { track, waitForContent } from '../harness/processes.js';
import type { Sandbox } from '../harness/sandbox.js';
import type { RunningWm } from '../harness/wm.js';

/** Long enough for a running guest to print 3 ticks (one every 0.2 s). */
const SILENCE_MS = 700;
const quiet = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

let guest: Guest;

for (const kind of ['sway', 'i3'] as const) {
  const t = suite(`daemon with the real guest on ${kind}`);
  let sandbox: Sandbox;
  let wm: RunningWm;
  let daemon: RunningDaemon;
  let wmc: WmClient;
  const serial = (name: string) => path.join(sandbox.root, `${name}.serial`);

  t.before(async () => {
    guest = await ensureGuest();
  });
  let session: DesktopSession;
  t.before.each(async () => {
    session = await startDesktop(kind, kind);
    ({ sandbox, wm, wmc } = session);
  });
  t.after.each(() => session?.end());

  t('focus boots the guest; hidden, it stops counting; focused again, it counts on', async () => {
    daemon = await session.startDaemon({
      vms: { family: { workspace: '2', qemu: guestQemuArgv(guest, serial('family')) } },
      policy: { pauseAfterMs: 300 },
    });
    const running = daemon.client.waitForState('family', (c) => c.state === 'running', 20_000);
    await wmc.command('workspace "2: family"'); // "2" binds by number
    await running;
    await waitForContent(serial('family'), (text) => tickCount(text) >= 2, 30_000);

    const paused = daemon.client.waitForState('family', (c) => c.state === 'paused', 10_000);
    await wmc.command('workspace 5');
    assert.match((await paused).reason, /hidden/);
    const frozenAt = tickCount(fs.readFileSync(serial('family'), 'utf8'));
    await quiet(SILENCE_MS); // proving silence takes time: no event says "nothing happened"
    assert.is(tickCount(fs.readFileSync(serial('family'), 'utf8')), frozenAt, 'a paused guest must not count');

    const resumed = daemon.client.waitForState('family', (c) => c.state === 'running', 10_000);
    await wmc.command('workspace "2: family"');
    await resumed;
    await waitForContent(serial('family'), (text) => tickCount(text) > frozenAt + 1, 10_000);
    const status = await daemon.client.status();
    assert.is(status.focusedVm, 'family');
    assert.is(status.vms[0]!.state, 'running');
    assert.ok(status.vms[0]!.lastResumeMs! >= 0);
    assert.is(pidsWithArg(path.join(sandbox.runtimeDir, 'hiboss', 'family')).length, 1);
  });

  t('the WM session ends: every VM is powered off, then the daemon exits', async () => {
    daemon = await session.startDaemon({
      vms: {
        family: { workspace: '2', qemu: guestQemuArgv(guest, serial('family')) },
        acme: { workspace: '3', qemu: guestQemuArgv(guest, serial('acme')) },
      },
      policy: { pauseAfterMs: 200, powerdownTimeoutMs: 1500 },
    });
    const familyUp = daemon.client.waitForState('family', (c) => c.state === 'running', 20_000);
    await wmc.command('workspace 2');
    await familyUp;
    const acmePaused = daemon.client.waitForState('acme', (c) => c.state === 'paused', 30_000);
    await after(() => wmc.command('workspace 3'), daemon.client.waitForState('acme', (c) => c.state === 'running', 20_000));
    await wmc.command('workspace 2');
    await acmePaused;
    const pids = pidsWithArg(path.join(sandbox.runtimeDir, 'hiboss'));
    assert.is(pids.length, 2);
    void wmc.command('exit').catch(() => {});
    await daemon.waitForLog(/session ended/, 15_000);
    await daemon.process.exited;
    assert.is(daemon.process.child.exitCode, 0);
    assert.match(daemon.log(), /family: stopping: session ended/);
    assert.match(daemon.log(), /acme: stopping: session ended/);
    for (const pid of pids) assert.is(alive(pid), false, `QEMU ${pid} still runs`);
  });

  if (kind === 'sway') {
    t('the daemon killed -9: VMs untouched, and the next daemon adopts them', async () => {
      daemon = await session.startDaemon({
        vms: { family: { workspace: '2', qemu: guestQemuArgv(guest, serial('family')) } },
        policy: { pauseAfterMs: 60_000 },
      });
      await after(() => wmc.command('workspace 2'), daemon.client.waitForState('family', (c) => c.state === 'running', 20_000));
      const [pid] = pidsWithArg(path.join(sandbox.runtimeDir, 'hiboss', 'family'));
      track(pid!);
      const before = tickCount(await waitForContent(serial('family'), (text) => tickCount(text) >= 1, 30_000));
      daemon.process.child.kill('SIGKILL');
      await daemon.process.exited;
      daemon.client.close();
      // Untouched: the guest keeps counting without the daemon.
      await waitForContent(serial('family'), (text) => tickCount(text) > before + 2, 10_000);
      daemon = await session.startDaemon();
      await daemon.waitForLog(/family: adopted QEMU pid \d+ \(running\)/);
      const status = await daemon.client.status();
      assert.is(status.vms[0]!.pid, pid);
      assert.is(status.vms[0]!.state, 'running');
      assert.equal(pidsWithArg(path.join(sandbox.runtimeDir, 'hiboss', 'family')), [pid]);
      // And it is controlled again.
      const paused = daemon.client.waitForState('family', (c) => c.state === 'paused', 10_000);
      await daemon.client.pause('family');
      await paused;
    });

    t('QEMU killed -9: failed with the reason, then restarted per policy', async () => {
      daemon = await session.startDaemon({
        vms: { family: { workspace: '2', qemu: guestQemuArgv(guest, serial('family')) } },
        policy: { restartDelayMs: 200 },
      });
      await after(() => wmc.command('workspace 2'), daemon.client.waitForState('family', (c) => c.state === 'running', 20_000));
      const [pid] = pidsWithArg(path.join(sandbox.runtimeDir, 'hiboss', 'family'));
      const failed = daemon.client.waitForState('family', (c) => c.state === 'failed', 10_000);
      const restarted = daemon.client.waitForState('family', (c) => c.state === 'running', 20_000);
      process.kill(pid!, 'SIGKILL');
      assert.match((await failed).reason, /QEMU killed by SIGKILL .*restart 1\/3/);
      await restarted;
      const [newPid] = pidsWithArg(path.join(sandbox.runtimeDir, 'hiboss', 'family'));
      assert.ok(newPid !== pid);
      assert.is((await daemon.client.status()).vms[0]!.restarts, 1);
    });

    t('the guest powers itself off: stopped, QEMU reaped, not restarted', async () => {
      daemon = await session.startDaemon({
        vms: { family: { workspace: '2', qemu: guestQemuArgv(guest, serial('family'), 'hiboss.poweroff_after=3') } },
      });
      const stopped = daemon.client.waitForState('family', (c) => c.state === 'stopped', 30_000);
      await wmc.command('workspace 2');
      assert.is((await stopped).reason, 'the guest shut down');
      assert.equal(pidsWithArg(path.join(sandbox.runtimeDir, 'hiboss', 'family')), []);
      assert.is((await daemon.client.status()).vms[0]!.state, 'stopped');
    });
  }

  t.run();
}
