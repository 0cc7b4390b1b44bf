/**
 * Sleep and lock end to end: a logind double on a private system bus
 * (test/harness/logind-double.ts) drives PrepareForSleep, Lock/Unlock and
 * LockedHint; the real daemon pauses and resumes real QEMUs running the real
 * guest, holds logind's delay lock (through systemd-inhibit) until they are
 * paused, and sets the woken guest's clock through Debian's real guest agent.
 */
import fs from 'node:fs';
import path from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { AgentClient } from '../../qga/client.js';
import { bounded } from '../harness/bounded.js';
import type { RunningDaemon } from '../harness/daemon.js';
import { ensureGuest, guestQemuArgv, tickCount, type Guest } from '../harness/guest.js';
import { startLogindDouble, type LogindDouble } from '../harness/logind-double.js';
import { pidsWithArg } from '../harness/inspect.js';
import { track, waitForContent } from '../harness/processes.js';
import { startDesktop, type DesktopSession } from '../harness/session.js';
import { bound } from '../harness/bounds.js';

const SILENCE_MS = 700;
const quiet = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const t = suite('sleep and lock through logind (double on a private system bus; real daemon, real guests)');
const test = bounded(t, 60_000);
let guest: Guest;
let session: DesktopSession;
let logind: LogindDouble;
let daemon: RunningDaemon;

const serial = (name: string) => path.join(session.sandbox.root, `${name}.serial`);
const runDir = (name: string) => path.join(session.sandbox.runtimeDir, 'hiboss', name);
const ticks = (name: string) => tickCount(fs.readFileSync(serial(name), 'utf8'));
const state = async (name: string) => (await daemon.client.status()).vms.find((vm) => vm.name === name)!.state;

/** The guest's clock minus the host's, in seconds (guest agent guest-get-time). */
async function guestClockOffset(name: string): Promise<number> {
  const agent = await AgentClient.connect(path.join(runDir(name), 'qga.sock'));
  try {
    const ns = await agent.execute('guest-get-time', undefined, { timeoutMs: 5000 });
    return ns / 1e9 - Date.now() / 1000;
  } finally {
    agent.close();
  }
}

async function pingAgent(name: string, deadline: number): Promise<void> {
  for (;;) {
    const agent = await AgentClient.connect(path.join(runDir(name), 'qga.sock'));
    try {
      await agent.ping(1000);
      return;
    } catch (error) {
      if (Date.now() > deadline) throw error;
    } finally {
      agent.close();
    }
  }
}

t.before(async () => {
  guest = await ensureGuest();
  session = await startDesktop('sway', 'logind');
  logind = await startLogindDouble(session.sandbox.root, session.sandbox.env);
});
t.after(async () => {
  await session?.end();
  await logind?.stop();
});

test('sleep: both VMs paused, then the delay lock released; wake: the focused VM resumes, its clock set by the agent', async () => {
  // family has the guest agent on its channel in the runtime dir; acme has none.
  fs.mkdirSync(runDir('family'), { recursive: true, mode: 0o700 });
  daemon = await session.startDaemon(
    {
      vms: {
        family: { workspace: '2', qemu: guestQemuArgv(guest, serial('family'), '', { agentSocket: path.join(runDir('family'), 'qga.sock') }) },
        acme: { workspace: '3', qemu: guestQemuArgv(guest, serial('acme')) },
      },
      policy: { pauseAfterMs: 60_000, pauseOnLock: true },
    },
    // XDG_SESSION_ID unset: the session is the user's display session, as for a systemd user service.
    { env: { DBUS_SYSTEM_BUS_ADDRESS: logind.address, XDG_SESSION_ID: '' } },
  );
  await daemon.waitForLog(/following logind: sleep, and the lock of session c1/);
  await logind.waitFor(/^inhibit sleep hiboss delay$/);
  const up = ['family', 'acme'].map((name) => daemon.client.waitForState(name, (c) => c.state === 'running', 30_000));
  for (const ws of ['3', '2']) await session.wmc.command(`workspace ${ws}`);
  await Promise.all(up);
  for (const name of ['family', 'acme']) {
    const [pid] = pidsWithArg(runDir(name));
    track(pid!);
    await waitForContent(serial(name), (text) => tickCount(text) >= 2, 30_000);
  }
  assert.is(await state('acme'), 'running', 'acme, hidden, still in its grace period');
  await pingAgent('family', Date.now() + bound(20_000));

  const from = logind.lines().length;
  const familyPaused = daemon.client.waitForState('family', (c) => c.state === 'paused', 10_000);
  const acmePaused = daemon.client.waitForState('acme', (c) => c.state === 'paused', 10_000);
  logind.send('sleep');
  assert.is((await familyPaused).reason, 'the machine sleeps');
  assert.is((await acmePaused).reason, 'the machine sleeps');
  await logind.waitFor(/^released hiboss$/, from);
  const slept = await logind.waitFor(/^slept /, from);
  assert.match(slept, /^slept released \d+$/, 'released by us, not by logind\'s timeout');
  assert.ok(Number(slept.split(' ')[2]) < 5000, `released within logind's delay (${slept})`);
  await daemon.waitForLog(/every VM is paused: the machine may sleep/);
  const frozen = { family: ticks('family'), acme: ticks('acme') };
  await quiet(3000); // the machine "sleeps": the guests' clocks stand still
  assert.equal({ family: ticks('family'), acme: ticks('acme') }, frozen, 'no guest counts while the machine sleeps');

  const wakeFrom = logind.lines().length;
  const resumed = daemon.client.waitForState('family', (c) => c.state === 'running', 10_000);
  logind.send('wake');
  await resumed;
  await daemon.waitForLog(/family: guest clock set to the host's time \(guest agent\)/);
  const offset = await guestClockOffset('family');
  assert.ok(Math.abs(offset) < 1, `family's clock is the host's again (off by ${offset.toFixed(2)} s)`);
  await logind.waitFor(/^inhibit sleep hiboss delay$/, wakeFrom); // the next sleep waits for us again
  await quiet(SILENCE_MS);
  assert.is(ticks('acme'), frozen.acme, 'acme (not focused) stays paused');
  await waitForContent(serial('family'), (text) => tickCount(text) > frozen.family + 1, 10_000);

  // acme has no agent: when it runs again, the daemon says its clock could not be set.
  const acmeUp = daemon.client.waitForState('acme', (c) => c.state === 'running', 10_000);
  await session.wmc.command('workspace 3');
  await acmeUp;
  await daemon.waitForLog(/acme: guest clock not corrected: no guest agent channel/);
});

test('pauseOnLock: LockedHint and Lock pause the running VM; unlocking resumes the focused one', async () => {
  assert.is(await state('acme'), 'running');
  let paused = daemon.client.waitForState('acme', (c) => c.state === 'paused', 10_000);
  logind.send('hint 1');
  assert.is((await paused).reason, 'the session is locked');
  let resumed = daemon.client.waitForState('acme', (c) => c.state === 'running', 10_000);
  logind.send('hint 0');
  await resumed;
  paused = daemon.client.waitForState('acme', (c) => c.state === 'paused', 10_000);
  logind.send('lock');
  await paused;
  const frozen = ticks('acme');
  await quiet(SILENCE_MS);
  assert.is(ticks('acme'), frozen);
  resumed = daemon.client.waitForState('acme', (c) => c.state === 'running', 10_000);
  logind.send('unlock');
  await resumed;
  await waitForContent(serial('acme'), (text) => tickCount(text) > frozen + 1, 10_000);
});

test('with XDG_SESSION_ID the daemon follows that session (GetSession): its LockedHint pauses the VM', async () => {
  await daemon.stop();
  daemon = await session.startDaemon(undefined, { env: { DBUS_SYSTEM_BUS_ADDRESS: logind.address, XDG_SESSION_ID: 'c1' } });
  await daemon.waitForLog(/following logind: sleep, and the lock of session c1/);
  assert.is(await state('acme'), 'running', 'adopted, running');
  const paused = daemon.client.waitForState('acme', (c) => c.state === 'paused', 10_000);
  logind.send('hint 1');
  assert.is((await paused).reason, 'the session is locked');
  const resumed = daemon.client.waitForState('acme', (c) => c.state === 'running', 10_000);
  logind.send('hint 0');
  await resumed;
});

test('no system bus: the daemon says so once and carries on', async () => {
  await daemon.stop();
  daemon = await session.startDaemon(undefined, { env: { DBUS_SYSTEM_BUS_ADDRESS: `unix:path=${path.join(session.sandbox.root, 'no-such-bus')}` } });
  await daemon.waitForLog(/no system bus \(.*no-such-bus does not exist\): the machine's sleep and the session's lock are not followed/);
  assert.is(daemon.log().match(/not followed/g)!.length, 1);
  assert.is((await daemon.client.status()).vms.length, 2, 'and serves its API');
});

t.run();
