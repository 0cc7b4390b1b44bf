/**
 * "whenHidden": "run", end to end on real sway with two real guests counting
 * "tick N" on their serial consoles: hidden, the "run" guest counts on while
 * the "pause" one is paused and counts no more; status says which runs out of
 * sight. And a resume by hand of the paused one while its workspace stays
 * hidden holds: it counts on, and is not paused again.
 *
 * Silence is proven by the other guest's ticks: while the running one counts
 * three more, a paused one would have counted too — no sleep-and-hope.
 */
import fs from 'node:fs';
import path from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { StateChange } from '../../api/client.js';
import type { RunningDaemon } from '../harness/daemon.js';
import { startDesktop, type DesktopSession } from '../harness/session.js';
import { ensureGuest, guestQemuArgv, tickCount, type Guest } from '../harness/guest.js';
import { pidsWithArg } from '../harness/inspect.js';
import { track, waitForContent } from '../harness/processes.js';

const t = suite('whenHidden with the real guest on sway');
let guest: Guest;
let session: DesktopSession;
let daemon: RunningDaemon;
const serial = (name: string) => path.join(session.sandbox.root, `${name}.serial`);
const ticks = (name: string) => tickCount(fs.readFileSync(serial(name), 'utf8'));
const vmOf = async (name: string) => (await daemon.client.status()).vms.find((vm) => vm.name === name)!;

t.before(async () => {
  guest = await ensureGuest();
  session = await startDesktop('sway', 'sway');
});
t.after(() => session?.end());

/** Boots `name` by focusing its workspace, and waits for it to count. */
async function boot(name: string, workspace: string): Promise<void> {
  const running = daemon.client.waitForState(name, (c) => c.state === 'running', 30_000);
  await session.wmc.command(`workspace ${workspace}`);
  await running;
  const [pid] = pidsWithArg(path.join(session.sandbox.runtimeDir, 'hiboss', name));
  track(pid!);
  await waitForContent(serial(name), (text) => tickCount(text) >= 2, 30_000);
}

t('hidden: the "run" guest counts on, the "pause" guest is paused and counts no more; a resume by hand of it holds', async () => {
  daemon = await session.startDaemon({
    vms: {
      build: { workspace: '2', whenHidden: 'run', qemu: guestQemuArgv(guest, serial('build')) },
      mail: { workspace: '3', qemu: guestQemuArgv(guest, serial('mail')) },
    },
    policy: { pauseAfterMs: 300 },
  });
  await boot('build', '2');
  await boot('mail', '3');

  await session.wmc.command('workspace 5');
  assert.match((await daemon.client.untilState('mail', (c) => c.state === 'paused', 10_000)).reason, /hidden/);
  const mailFrozen = ticks('mail');
  const buildFrom = ticks('build');
  await waitForContent(serial('build'), (text) => tickCount(text) >= buildFrom + 3, 10_000);
  assert.is(ticks('mail'), mailFrozen, 'the paused guest did not count while the other counted three');
  const build = await vmOf('build');
  assert.equal([build.state, build.whenHidden, build.runsHidden], ['running', 'run', true]);
  const mail = await vmOf('mail');
  assert.equal([mail.state, mail.whenHidden, mail.runsHidden], ['paused', 'pause', false]);

  // By hand, while its workspace stays hidden: it runs, and is not paused again.
  const changes: StateChange[] = [];
  daemon.client.on('state', (change: StateChange) => change.name === 'mail' && changes.push(change));
  const resumed = daemon.client.waitForState('mail', (c) => c.state === 'running', 10_000);
  assert.match(await daemon.client.resume('mail'), /^mail: resume \(.*it runs while workspace 3 is hidden, until the workspace is shown\)$/);
  await resumed;
  const mailFrom = ticks('mail');
  // Five ticks take a second, more than three times pauseAfterMs.
  await waitForContent(serial('mail'), (text) => tickCount(text) >= mailFrom + 5, 10_000);
  assert.equal(changes.map((c) => c.state), ['running'], 'not paused after the grace period');
  assert.is((await vmOf('mail')).runsHidden, true);

  // Shown, then hidden again: the usual rules pause it.
  await session.wmc.command('workspace 3');
  await session.wmc.command('workspace 5');
  await daemon.client.untilState('mail', (c) => c.state === 'paused', 10_000);
  assert.is((await vmOf('build')).state, 'running');
});

t.run();
