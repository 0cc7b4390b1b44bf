/**
 * `hiboss generations|update|rollback` against the fake daemon on a
 * private bus, through the real DaemonClient and real D-Bus messages.
 */
import { execa, type ResultPromise } from 'execa';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { GenerationsReport } from '../../api/schema.js';
import { HIBOSS } from '../harness/daemon.js';
import { startSessionBus, type RunningBus } from '../harness/dbus.js';
import { daemonStatus, startFakeDaemon, vmFixture, type FakeDaemon } from '../harness/fake-daemon.js';
import { makeSandbox, type Sandbox } from '../harness/sandbox.js';

const t = suite('hiboss generations, update, rollback');
let sandbox: Sandbox;
let bus: RunningBus;
let daemon: FakeDaemon;

const builtAt = Date.now() - 3_600_000;
const generation = (number: number, revision: string, outcome: 'new' | 'healthy' | 'failed', failure: string | null = null) => ({
  number, flake: 'github:acme/net#acme', revision: revision.padEnd(40, '0'), lockedUrl: 'github:acme/net', lastModified: null,
  outPath: `/nix/store/${number}-vm`, builtAt, outcome, failure, judgedAt: null, gcRoot: number === 1 ? null : `/s/acme/generations/${number}/result`,
});
const REPORT: GenerationsReport = {
  name: 'acme',
  selected: 2,
  generations: [generation(3, '3f2c1ab', 'failed', 'kernel panic 12 s after boot'), generation(2, '9e0d4c2', 'healthy'), generation(1, '71b0e3d', 'healthy')],
  updating: null,
};

t.before.each(async () => {
  sandbox = makeSandbox('cli-upd');
  bus = await startSessionBus(sandbox.env);
  daemon = await startFakeDaemon(bus.address, daemonStatus([vmFixture('acme', { kind: 'flake', flake: 'github:acme/net#acme', workspace: '3' })], 'acme', '3'));
  daemon.iface.generations.set('acme', REPORT);
});
t.after.each(() => {
  daemon?.stop();
  bus?.stop();
  sandbox?.remove();
});

function hiboss(args: string[]): ResultPromise<{ reject: false; env: NodeJS.ProcessEnv; extendEnv: false; stdin: 'ignore'; timeout: number }> {
  return execa(process.execPath, [HIBOSS, ...args], {
    env: { ...sandbox.env, DBUS_SESSION_BUS_ADDRESS: bus.address },
    extendEnv: false,
    reject: false,
    stdin: 'ignore',
    timeout: 30_000,
  });
}

t('generations: a table, newest first, * the one the next start boots, failures and GC roots', async () => {
  const r = await hiboss(['generations', 'acme']);
  assert.is(r.exitCode, 0, String(r.stderr));
  const lines = String(r.stdout).split('\n');
  assert.match(lines[0]!, /^\s+GEN\s+REVISION\s+BUILT\s+OUTCOME\s+GC ROOT$/);
  assert.match(lines[1]!, /^ {3}3 {4}3f2c1ab {3}1h00m ago {2}failed: kernel panic 12 s after boot {2}\/s\/acme\/generations\/3\/result$/, lines.join('\n'));
  assert.match(lines[2]!, /^\* {2}2 {4}9e0d4c2 .* healthy .*generations\/2\/result$/);
  assert.match(lines[3]!, /^ {3}1 .*\(gone\)$/);
  const json = await hiboss(['generations', 'acme', '--json']);
  assert.equal(JSON.parse(String(json.stdout)), REPORT);
});

t('rollback: GENERATION and --now go to the daemon; a bad GENERATION is a usage error', async () => {
  const r = await hiboss(['rollback', 'acme', '1', '--now']);
  assert.is(r.exitCode, 0, String(r.stderr));
  assert.is(String(r.stdout), 'acme: generation 1 selected');
  await hiboss(['rollback', 'acme']);
  assert.equal(daemon.iface.calls.filter((c) => c[0] === 'Rollback'), [['Rollback', 'acme', 1, true], ['Rollback', 'acme', 0, false]]);
  const bad = await hiboss(['rollback', 'acme', 'two']);
  assert.is(bad.exitCode, 2);
  assert.match(String(bad.stderr), /GENERATION must be a generation number, not "two"/);
});

t('update --now: the build log streamed, then the judgement; rolled back is exit 1', async () => {
  daemon.setState('acme', 'running');
  const run = hiboss(['update', 'acme', '--now']);
  // The fake daemon answers Update at once; the test then plays the daemon's signals.
  for (let i = 0; i < 200 && !daemon.iface.calls.some((c) => c[0] === 'Update'); i++) await new Promise((resolve) => setTimeout(resolve, 25));
  assert.equal(daemon.iface.calls.find((c) => c[0] === 'Update'), ['Update', 'acme', true]);
  daemon.iface.VmLog('acme', 'building github:acme/net#acme (generation 4)');
  daemon.iface.UpdateEvent('acme', 'built', 'acme: update built: 9e0d4c2 → 3f2c1ab (generation 4; restarting into it)');
  daemon.iface.VmLog('acme', 'update to 3f2c1ab failed — kernel panic 12 s after boot; rolled back to 9e0d4c2');
  daemon.iface.UpdateEvent('acme', 'rolled-back', 'acme: update to 3f2c1ab failed — kernel panic 12 s after boot; rolled back to 9e0d4c2');
  const r = await run;
  assert.is(r.exitCode, 1, String(r.stderr));
  assert.match(String(r.stdout), /acme: building github:acme\/net#acme \(generation 4\)\nacme: update to 3f2c1ab failed — kernel panic 12 s after boot; rolled back to 9e0d4c2/);
});

t('update --now of a VM that is down: done once built (the next start boots it)', async () => {
  const run = hiboss(['update', 'acme', '--now']);
  for (let i = 0; i < 200 && !daemon.iface.calls.some((c) => c[0] === 'Update'); i++) await new Promise((resolve) => setTimeout(resolve, 25));
  daemon.iface.UpdateEvent('acme', 'built', 'acme: update built: 9e0d4c2 → 3f2c1ab (generation 4; restarting into it)');
  const r = await run;
  assert.is(r.exitCode, 0, String(r.stderr));
  assert.match(String(r.stdout), /acme: the new generation boots at its next start/);
});

const HELD: NonNullable<GenerationsReport['held']> = {
  flake: 'github:acme/net#acme', revision: 'c'.repeat(40), lockedUrl: `github:acme/net?rev=${'c'.repeat(40)}`, lastModified: null,
  fromRevision: '9e0d4c2'.padEnd(40, '0'),
  changes: [{ name: 'nixpkgs', source: 'github:NixOS/nixpkgs', from: '5e4fbfb'.padEnd(40, '0'), to: '1234567'.padEnd(40, '0') }, { name: 'evil\x1b[2J', source: 'x', from: null, to: 'abc' }],
  inputs: [], estimate: { builds: 2, buildNames: ['a', 'b'], fetches: 40, downloadBytes: 120 * 2 ** 20, unpackedBytes: 512 * 2 ** 20 }, estimateProblem: null, heldAt: 0,
};

t('updates.review: a held update is shown (update, generations, status) with its inputs old → new and its cost; --approve asks the daemon to build it', async () => {
  daemon.iface.generations.set('acme', { ...REPORT, held: HELD });
  const run = hiboss(['update', 'acme']);
  for (let i = 0; i < 200 && !daemon.iface.calls.some((c) => c[0] === 'Update'); i++) await new Promise((resolve) => setTimeout(resolve, 25));
  daemon.iface.UpdateEvent('acme', 'held', 'acme: update held for review: …');
  const r = await run;
  assert.is(r.exitCode, 0, String(r.stderr));
  const review = [
    'update held for review: 9e0d4c2 → ccccccc',
    '  nixpkgs (github:NixOS/nixpkgs) 5e4fbfb → 1234567',
    '  evil?[2J (x) (none) → abc',
    '  2 to build, 40 to fetch (120.0 MiB download, 512.0 MiB unpacked)',
    'approve: hiboss update --approve acme',
  ].join('\n');
  assert.ok(String(r.stdout).endsWith(`${review}\n`) || String(r.stdout).endsWith(review), String(r.stdout));
  assert.not.ok(String(r.stdout).includes('\x1b'), 'no escape sequence from the lock file reaches the terminal');
  const listed = await hiboss(['generations', 'acme']);
  assert.ok(String(listed.stdout).endsWith(review), String(listed.stdout));

  daemon.iface.status.vms[0]!.updateHeld = 'ccccccc';
  const status = await hiboss(['status']);
  assert.match(String(status.stdout), /\nUpdates:\n {2}acme: update ccccccc held for review \(hiboss update acme; --approve to build it\)$/);

  const approved = await hiboss(['update', '--approve', 'acme', '--no-wait']);
  assert.is(approved.exitCode, 0, String(approved.stderr));
  assert.equal(daemon.iface.calls.filter((c) => c[0] === 'ApproveUpdate'), [['ApproveUpdate', 'acme', false]]);
  assert.is(String(approved.stdout).trim(), 'acme: updating: building the approved revision');
});

t.run();
