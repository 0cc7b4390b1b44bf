/**
 * Automatic updates of a flake VM end to end: built in the
 * background when due, at low priority, the member told, the new generation
 * used at the next cold start. Real daemon on sway, stand-in nix, real QEMU and guest.
 */
import fs from 'node:fs';
import path from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { RunningDaemon } from '../harness/daemon.js';
import { REV, nextUpdate, startFlakeDesktop, type FlakeDesktop } from '../harness/flake-updates.js';
import { tickCount } from '../harness/guest.js';
import { pidsWithArg } from '../harness/inspect.js';
import { isSandboxProbe } from '../harness/stand-in-nix.js';
import { waitForContent } from '../harness/processes.js';

const t = suite('automatic updates with the real guest');
let desk: FlakeDesktop;
t.before.each(async () => {
  desk = await startFlakeDesktop('auto');
});
t.after.each(() => desk?.end());

t('automatic updates: built in the background at low priority, the member told, used at the next cold start', async () => {
  desk.nextBuild(REV.a);
  const daemon = await desk.session.startDaemon(
    {
      // Every 3.6 s, so that the test sees two rounds.
      vms: { acme: { workspace: '3', flake: 'github:acme/net#acme', display: 'none', updates: { auto: true, everyHours: 0.001, healthTimeoutMs: 90_000 } } },
      policy: { pauseAfterMs: 60_000, powerdownTimeoutMs: 500 },
    },
    { env: desk.env },
  );
  const { client } = daemon;
  // Never looked before: due at once, while the VM is still down — possibly before this test's
  // client listens for UpdateEvent, so the daemon's log (kept from its first line) is read.
  await daemon.waitForLog(/acme: update built: nothing → a1a1a1a \(generation 1; used at its next start\)$/, 30_000);
  assert.is(desk.nix.lastNice(), 19, 'nix ran at the lowest priority');
  const healthy = nextUpdate(client, 'acme', ['healthy', 'failed'], 90_000);
  await desk.session.wmc.command('workspace 3');
  assert.is((await healthy).kind, 'healthy');
  const builds = desk.nix.calls().filter((argv) => argv[0] === 'build' && !isSandboxProbe(argv)).length;
  assert.is(builds, 1, 'the start booted the generation the automatic update built');
  const pid = (await client.status()).vms[0]!.pid;

  // A new revision: built in the background, the member told old → new; the running VM untouched.
  desk.nextBuild(REV.b);
  const second = await nextUpdate(client, 'acme', ['built', 'build-failed'], 30_000);
  assert.match(second.message, /^acme: update built: a1a1a1a → b2b2b2b \(generation 2; used at its next start\)$/);
  await desk.notifications.received((n) => n.summary === 'hiboss: acme: update ready' && n.body === second.message);
  const status = (await client.status()).vms[0]!;
  assert.is(status.pid, pid, 'not restarted for it');
  assert.is(status.lastUpdate, second.message, 'the bar\'s tooltip tells it');
  assert.equal(status.generation, { number: 2, revision: 'b2b2b2b', outcome: 'new' });
  // Nothing newer: the next round changes nothing.
  const third = await nextUpdate(client, 'acme', ['built', 'build-failed', 'up-to-date'], 30_000);
  assert.is(third.kind, 'up-to-date', third.message);

  // The next cold start boots it, and it is judged.
  const judged = nextUpdate(client, 'acme', ['healthy', 'failed', 'rolled-back'], 90_000);
  await client.restart('acme');
  assert.match((await judged).message, /^acme: updated to b2b2b2b \(generation 2\)/);
  await waitForContent(desk.serial(REV.b), (text) => tickCount(text) >= 2, 60_000);
});

t.run();
