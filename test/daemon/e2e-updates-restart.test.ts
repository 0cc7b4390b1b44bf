/**
 * Health windows across a daemon restart (issue #11): the daemon is killed -9
 * while a new generation is being judged; the next daemon adopts the QEMU and
 * finishes the judgement — a hanging generation (no guest agent) is rolled back
 * at its deadline, a good one is judged healthy and never rolled back. Real
 * daemon on sway, stand-in nix, real QEMU and guest.
 */
import dbus from 'dbus-next';
import fs from 'node:fs';
import path from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { DaemonClient } from '../../api/client.js';
import type { RunningDaemon } from '../harness/daemon.js';
import { ensureGuest, guestQemuArgv, tickCount, type Guest } from '../harness/guest.js';
import { pidsWithArg } from '../harness/inspect.js';
import { waitForContent } from '../harness/processes.js';
import { startDesktop, type DesktopSession } from '../harness/session.js';
import { makeStandInNix, runScriptFor, type StandInNix } from '../harness/stand-in-nix.js';

const REV = { a: 'a1a1a1a'.padEnd(40, '1'), b: 'b2b2b2b'.padEnd(40, '2'), c: 'c3c3c3c'.padEnd(40, '3'), d: 'd4d4d4d'.padEnd(40, '4') };

class FakeNotifications extends dbus.interface.Interface {
  calls: { summary: string; body: string }[] = [];
  constructor() {
    super('org.freedesktop.Notifications');
  }
  Notify(_app: string, _replaces: number, _icon: string, summary: string, body: string): number {
    this.calls.push({ summary, body });
    return this.calls.length;
  }
}
FakeNotifications.configureMembers({ methods: { Notify: { inSignature: 'susssasa{sv}i', outSignature: 'u' } } });

/** Resolves with the next UpdateEvent of `name` whose kind is one of `kinds`. */
function nextUpdate(client: DaemonClient, name: string, kinds: string[], timeoutMs: number): Promise<{ kind: string; message: string }> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      client.off('update', listener);
      reject(new Error(`${name}: no update event ${kinds.join('|')} within ${timeoutMs} ms`));
    }, timeoutMs);
    const listener = (event: { name: string; kind: string; message: string }) => {
      if (event.name !== name || !kinds.includes(event.kind)) return;
      clearTimeout(timer);
      client.off('update', listener);
      resolve(event);
    };
    client.on('update', listener);
  });
}

const t = suite('flake VM health windows across a daemon restart');
let guest: Guest;
let session: DesktopSession;
let nix: StandInNix;
let notifications: FakeNotifications;
let notifyBus: dbus.MessageBus;

t.before(async () => {
  guest = await ensureGuest();
});
t.before.each(async () => {
  session = await startDesktop('sway', 'upd');
  nix = makeStandInNix(path.join(session.sandbox.root, 'nix'));
  notifyBus = dbus.sessionBus({ busAddress: session.bus.address });
  notifyBus.on('error', () => {});
  notifications = new FakeNotifications();
  notifyBus.export('/org/freedesktop/Notifications', notifications);
  await notifyBus.requestName('org.freedesktop.Notifications', dbus.NameFlag.DO_NOT_QUEUE);
});
t.after.each(async () => {
  notifyBus?.disconnect();
  await session?.end();
});

const serial = (rev: string) => path.join(session.sandbox.root, `serial-${rev.slice(0, 7)}`);

/** The next build is revision `rev`, booting the real guest with `cmdline`. */
function nextBuild(rev: string, cmdline = ''): void {
  nix.setRevision(rev);
  nix.setRunScript(runScriptFor(guestQemuArgv(guest, serial(rev), cmdline)));
}

const TIMEOUT_MS = 12_000;

function config() {
  return {
    vms: { acme: { workspace: '3', flake: 'github:acme/net#acme', updates: { healthTimeoutMs: TIMEOUT_MS } } },
    policy: { pauseAfterMs: 60_000, powerdownTimeoutMs: 500 },
  };
}

async function start(): Promise<RunningDaemon> {
  return session.startDaemon(config(), { env: { PATH: `${nix.binDir}:${process.env.PATH}` } });
}

/** Updates at once to the revision nextBuild() set, and kills the daemon -9 as soon as the new generation boots. */
async function updateThenKill(daemon: RunningDaemon, generation: number): Promise<void> {
  await daemon.client.update('acme', true);
  await daemon.waitForLog(new RegExp(`acme: generation ${generation} booted: healthy once its guest agent answers`), 30_000);
  daemon.process.child.kill('SIGKILL');
  await daemon.process.exited;
  daemon.client.close();
}

t('killed -9 in the window of a hanging generation: the next daemon rolls it back at its deadline; in a good one\'s: judged healthy', async () => {
  let daemon = await start();
  nextBuild(REV.a);
  const firstHealthy = nextUpdate(daemon.client, 'acme', ['healthy', 'failed'], 60_000);
  await session.wmc.command('workspace 3');
  await firstHealthy;
  const qemuDir = path.join(session.sandbox.runtimeDir, 'hiboss', 'acme');

  // A generation whose guest never starts its agent, and the daemon gone in its window.
  nextBuild(REV.b, 'hiboss.no_agent=1');
  await updateThenKill(daemon, 2);
  const bootedAt = Date.now();
  const [hanging] = pidsWithArg(qemuDir);
  daemon = await start();
  await daemon.waitForLog(/acme: adopted QEMU pid \d+ \(running\)/);
  const rolledBack = await nextUpdate(daemon.client, 'acme', ['healthy', 'failed', 'rolled-back'], 60_000);
  assert.is(rolledBack.kind, 'rolled-back');
  assert.match(rolledBack.message, /^acme: update to b2b2b2b failed — no answer from the guest agent (\d+) s after boot; rolled back to a1a1a1a$/);
  assert.ok(Date.now() - bootedAt >= TIMEOUT_MS - 1000, 'not judged before the deadline recorded by the first daemon');
  await daemon.client.waitForState('acme', (c) => c.state === 'running', 30_000);
  const [rolled] = pidsWithArg(qemuDir);
  assert.ok(rolled !== hanging, 'the hanging QEMU is gone, the previous generation boots');
  const ticks = tickCount(fs.readFileSync(serial(REV.a), 'utf8'));
  await waitForContent(serial(REV.a), (text) => tickCount(text) > ticks + 2, 20_000);
  let report = await daemon.client.generations('acme');
  assert.equal(report.generations.map((g) => [g.number, g.outcome]), [[2, 'failed'], [1, 'healthy']]);
  assert.is(report.selected, 1);

  // A good generation, the daemon gone in its window: the next daemon judges it healthy; no rollback.
  nextBuild(REV.c);
  await updateThenKill(daemon, 3);
  const [good] = pidsWithArg(qemuDir);
  daemon = await start();
  const judged = await nextUpdate(daemon.client, 'acme', ['healthy', 'failed', 'rolled-back'], 60_000);
  assert.is(judged.kind, 'healthy', judged.message);
  assert.match(judged.message, /^acme: updated to c3c3c3c \(generation 3\)/);
  assert.equal(pidsWithArg(qemuDir), [good!], 'the same QEMU, adopted, never restarted');
  report = await daemon.client.generations('acme');
  assert.equal(report.generations.map((g) => [g.number, g.outcome]), [[3, 'healthy'], [2, 'failed'], [1, 'healthy']]);
  assert.is(report.selected, 3);
  assert.not.match(daemon.log(), /rolled back|rolling back/);
});

t.run();
