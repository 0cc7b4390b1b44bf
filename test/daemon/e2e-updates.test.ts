/**
 * Updates of a flake VM end to end: the real daemon on headless
 * sway, the stand-in nix (test/harness/stand-in-desk.nix.ts) producing generations
 * whose run scripts start real QEMU with the real guest (good, panicking), the
 * real guest agent answering on the channel the launcher adds.
 */
import fs from 'node:fs';
import path from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { RunningDaemon } from '../harness/daemon.js';
import { REV, nextUpdate, startFlakeDesktop, type FlakeDesktop } from '../harness/flake-updates.js';
import { tickCount } from '../harness/guest.js';
import { pidsWithArg } from '../harness/inspect.js';
import { waitForContent } from '../harness/processes.js';

const t = suite('flake VM updates with the real guest');
let desk: FlakeDesktop;
t.before.each(async () => {
  desk = await startFlakeDesktop('upd');
});
t.after.each(() => desk?.end());

async function startWith(keepGenerations: number): Promise<RunningDaemon> {
  return desk.session.startDaemon(
    {
      vms: { acme: { workspace: '3', flake: 'github:acme/net#acme', display: 'none', updates: { healthTimeoutMs: 90_000, keepGenerations } } },
      policy: { pauseAfterMs: 60_000, powerdownTimeoutMs: 500 },
    },
    { env: desk.env },
  );
}

t('first build healthy; update --now healthy; a panicking update rolls back by itself; a failed build changes nothing; one update at a time; GC roots pruned', async () => {
  const daemon = await startWith(3);
  const { client } = daemon;
  const gcRoot = (n: number) => path.join(desk.session.sandbox.stateHome, 'hiboss', 'acme', 'generations', String(n), 'result');

  // The first start builds generation 1 and judges it.
  desk.nextBuild(REV.a);
  let healthy = nextUpdate(client, 'acme', ['healthy', 'failed'], 90_000);
  await desk.session.wmc.command('workspace 3');
  assert.match((await healthy).message, /^acme: generation 1 \(a1a1a1a\) is healthy — the guest agent answered [\d.]+ s after boot$/);
  let report = await client.generations('acme');
  assert.equal(report.generations.map((g) => [g.number, g.outcome, g.revision]), [[1, 'healthy', REV.a]]);
  assert.is(report.selected, 1);
  assert.is(fs.readlinkSync(gcRoot(1)), report.generations[0]!.outPath, 'the GC root nix made');

  // An update to a good revision, at once: built, a graceful restart, healthy.
  desk.nextBuild(REV.b);
  healthy = nextUpdate(client, 'acme', ['healthy', 'failed', 'rolled-back'], 90_000);
  const built = nextUpdate(client, 'acme', ['built', 'build-failed', 'up-to-date'], 30_000);
  assert.match(await client.update('acme', true), /acme: updating: building the newest revision of github:acme\/net#acme, then restarting into it/);
  assert.match((await built).message, /acme: update built: a1a1a1a → b2b2b2b \(generation 2; restarting into it\)/);
  assert.match((await healthy).message, /^acme: updated to b2b2b2b \(generation 2\) — the guest agent answered/);
  await waitForContent(desk.serial(REV.b), (text) => tickCount(text) >= 2, 60_000);
  assert.match(daemon.log(), /acme: looking for the newest revision of github:acme\/net/, 'build progress in the log');
  assert.ok(desk.nix.calls().some((argv) => argv.includes('--refresh')), 'nix flake metadata --refresh');

  // A panicking revision: rolled back to b2b2b2b by itself, the guest counting again, the member told.
  desk.nextBuild(REV.c, 'hiboss.no_agent=1 hiboss.panic_after=2');
  const rolledBack = nextUpdate(client, 'acme', ['healthy', 'failed', 'rolled-back'], 90_000);
  await client.update('acme', true);
  const event = await rolledBack;
  assert.is(event.kind, 'rolled-back');
  assert.match(event.message, /^acme: update to c3c3c3c failed — kernel panic [\d.]+ s after boot; rolled back to b2b2b2b$/);
  await client.untilState('acme', (c) => c.state === 'running', 30_000);
  const after = tickCount(fs.readFileSync(desk.serial(REV.b), 'utf8'));
  await waitForContent(desk.serial(REV.b), (text) => tickCount(text) > after + 2, 60_000);
  await desk.notifications.received((n) => n.summary === 'hiboss: acme: update failed' && n.body === event.message);
  report = await client.generations('acme');
  assert.equal(report.generations.map((g) => [g.number, g.outcome]), [[3, 'failed'], [2, 'healthy'], [1, 'healthy']]);
  assert.match(report.generations[0]!.failure ?? '', /^kernel panic [\d.]+ s after boot$/);
  assert.is(report.selected, 2);
  const status = (await client.status()).vms[0]!;
  assert.is(status.lastUpdate, event.message, 'the bar\'s tooltip tells it');
  assert.equal(status.generation, { number: 2, revision: 'b2b2b2b', outcome: 'healthy' });
  const pid = status.pid;

  // A build that fails: the VM untouched, the log's tail told.
  desk.nix.failBuilds("error: builder for '/nix/store/xyz-etc.drv' failed with exit code 1\n");
  const failed = nextUpdate(client, 'acme', ['built', 'build-failed', 'up-to-date'], 30_000);
  await client.update('acme', false);
  assert.match((await failed).message, /nix build of github:acme\/net#acme failed \(exit code 1\).*\n.*builder for '\/nix\/store\/xyz-etc\.drv' failed/s);
  assert.is((await client.generations('acme')).selected, 2);
  assert.is((await client.status()).vms[0]!.pid, pid, 'the same QEMU runs');
  desk.nix.failBuilds(null);

  // Two updates at once are refused; the first completes. Generation 1 is pruned (keep 3 + the last healthy).
  desk.nix.blockBuilds(true);
  desk.nextBuild(REV.d);
  const fourth = nextUpdate(client, 'acme', ['built', 'build-failed', 'up-to-date'], 30_000);
  await client.update('acme', false);
  const refused = await client.update('acme', false).then(() => undefined, (e: Error) => e);
  assert.match(refused?.message ?? '', /acme: an update is already running \(started \d+ s ago\)/);
  assert.ok((await client.generations('acme')).updating, 'reported as updating');
  desk.nix.blockBuilds(false);
  assert.match((await fourth).message, /acme: update built: b2b2b2b → d4d4d4d \(generation 4; used at its next start\)/);
  report = await client.generations('acme');
  assert.equal(report.generations.map((g) => [g.number, g.outcome]), [[4, 'new'], [3, 'failed'], [2, 'healthy']]);
  assert.is(report.selected, 4);
  assert.not.ok(fs.existsSync(path.dirname(gcRoot(1))), 'generation 1 pruned with its GC root');
  for (const n of [2, 3, 4]) assert.ok(fs.lstatSync(gcRoot(n)).isSymbolicLink(), `GC root of generation ${n}`);
  assert.is((await client.status()).vms[0]!.pid, pid, 'still the same QEMU: the new generation waits for the next start');

  // Back by hand: rollback selects the last healthy generation before the selected one.
  assert.match(await client.rollback('acme', 0, false), /acme: generation 2 \(b2b2b2b, healthy\) selected; it boots at acme's next start/);
  assert.equal(pidsWithArg(path.join(desk.session.sandbox.runtimeDir, 'hiboss', 'acme')).length, 1, 'never a second QEMU');
});

t.run();
