/**
 * Health windows across a daemon restart: the daemon is killed -9
 * while a new generation is being judged; the next daemon adopts the QEMU and
 * finishes the judgement — a hanging generation (no guest agent) is rolled back
 * at its deadline, a good one is judged healthy and never rolled back. Real
 * daemon on sway, stand-in nix, real QEMU and guest.
 */

import fs from 'node:fs';
import path from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { writeConfig, type RunningDaemon } from '../harness/daemon.js';
import { REV, nextUpdate, startFlakeDesktop, type FlakeDesktop } from '../harness/flake-updates.js';
import { tickCount } from '../harness/guest.js';
import { pidsWithArg } from '../harness/inspect.js';
import { waitForContent } from '../harness/processes.js';

const t = suite('flake VM health windows across a daemon restart');
let desk: FlakeDesktop;
t.before.each(async () => {
  desk = await startFlakeDesktop('updr');
});
t.after.each(() => desk?.end());

/** The hanging generation's deadline: waited out in full. */
const TIMEOUT_MS = 12_000;
/** Good generations get time to boot on a loaded machine. */
const GENEROUS_MS = 90_000;

function config(healthTimeoutMs: number) {
  return {
    vms: { acme: { workspace: '3', flake: 'github:acme/net#acme', display: 'none', updates: { healthTimeoutMs } } },
    policy: { pauseAfterMs: 60_000, powerdownTimeoutMs: 500 },
  };
}

async function start(healthTimeoutMs = GENEROUS_MS): Promise<RunningDaemon> {
  return desk.session.startDaemon(config(healthTimeoutMs), { env: desk.env });
}

/** Updates at once to the revision desk.nextBuild() set, and kills the daemon -9 as soon as the new generation boots. */
async function updateThenKill(daemon: RunningDaemon, generation: number): Promise<void> {
  await daemon.client.update('acme', true);
  await daemon.waitForLog(new RegExp(`acme: generation ${generation} booted: healthy once its guest agent answers`), 30_000);
  daemon.process.child.kill('SIGKILL');
  await daemon.process.exited;
  daemon.client.close();
}

t('killed -9 in the window of a hanging generation: the next daemon rolls it back at its deadline; in a good one\'s: judged healthy', async () => {
  let daemon = await start();
  desk.nextBuild(REV.a);
  const firstHealthy = nextUpdate(daemon.client, 'acme', ['healthy', 'failed'], GENEROUS_MS);
  await desk.session.wmc.command('workspace 3');
  assert.is((await firstHealthy).kind, 'healthy');
  const qemuDir = path.join(desk.session.sandbox.runtimeDir, 'hiboss', 'acme');

  // A generation whose guest never starts its agent, and the daemon gone in its window.
  desk.nextBuild(REV.b, 'hiboss.no_agent=1');
  writeConfig(desk.session.sandbox, config(TIMEOUT_MS));
  assert.equal(await daemon.client.reload(), []);
  await updateThenKill(daemon, 2);
  const bootedAt = Date.now();
  const [hanging] = pidsWithArg(qemuDir);
  daemon = await start();
  await daemon.waitForLog(/acme: adopted QEMU pid \d+ \(running\)/);
  // The judgement may come before this test's client listens (a slow start eats the window):
  // the daemon's log, kept from its first line, is read instead of the UpdateEvent.
  const rolledBack = await daemon.waitForLog(/acme: update(d)? to b2b2b2b/, 60_000);
  assert.match(rolledBack, /acme: update to b2b2b2b failed — no answer from the guest agent (\d+) s after boot; rolled back to a1a1a1a$/);
  assert.ok(Date.now() - bootedAt >= TIMEOUT_MS - 1000, 'not judged before the deadline recorded by the first daemon');
  await daemon.client.untilState('acme', (c) => c.state === 'running', 30_000);
  const [rolled] = pidsWithArg(qemuDir);
  assert.ok(rolled !== hanging, 'the hanging QEMU is gone, the previous generation boots');
  const ticks = tickCount(fs.readFileSync(desk.serial(REV.a), 'utf8'));
  await waitForContent(desk.serial(REV.a), (text) => tickCount(text) > ticks + 2, 60_000);
  let report = await daemon.client.generations('acme');
  assert.equal(report.generations.map((g) => [g.number, g.outcome]), [[2, 'failed'], [1, 'healthy']]);
  assert.is(report.selected, 1);

  // A good generation, the daemon gone in its window: the next daemon judges it healthy; no rollback.
  desk.nextBuild(REV.c);
  await updateThenKill(daemon, 3);
  const [good] = pidsWithArg(qemuDir);
  daemon = await start();
  // The adopted guest's agent may answer before this test's client listens: read the log.
  const judged = await daemon.waitForLog(/acme: update(d)? to c3c3c3c/, GENEROUS_MS);
  assert.match(judged, /acme: updated to c3c3c3c \(generation 3\) — the guest agent answered/);
  assert.equal(pidsWithArg(qemuDir), [good!], 'the same QEMU, adopted, never restarted');
  report = await daemon.client.generations('acme');
  assert.equal(report.generations.map((g) => [g.number, g.outcome]), [[3, 'healthy'], [2, 'failed'], [1, 'healthy']]);
  assert.is(report.selected, 3);
  assert.not.match(daemon.log(), /rolled back|rolling back/);
});

t.run();
