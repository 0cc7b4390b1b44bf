/**
 * The restic target against real restic 0.14 and real QEMU: each backup's image
 * streamed into a local repository (one self-contained snapshot per restore
 * point), restic's own `forget --keep-last` retention, and restores of a kept
 * point and of the latest, byte for byte the disk as it was. QEMU's own
 * qemu-io writes the data (no guest needed: the guest path is engine-guest's).
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { BackupConfig } from '../../../config/backup-schema.js';
import { backupOnce, restoreOnce, type EngineContext } from '../../../daemon/backup/engine.js';
import { BackupHistory } from '../../../daemon/backup/history.js';
import { ResticTarget } from '../../../daemon/backup/targets.js';
import { QmpClient } from '../../../qmp/client.js';
import { bounded, rejection } from '../../harness/bounded.js';
import { startQemu, type RunningQemu } from '../../harness/qemu.js';

const t = suite('backups: restic target (real restic, real QEMU)');
const test = bounded(t, 90_000);
const MiB = 1024 * 1024;

let root: string;
let qemu: RunningQemu | undefined;
let qmp: QmpClient;

t.before.each(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'hb-restic-'));
});
t.after.each(async () => {
  qmp?.close();
  await qemu?.process.stop();
  qemu = undefined;
  fs.rmSync(root, { recursive: true, force: true });
});

function restic(repo: string, passwordFile: string, ...args: string[]): string {
  return execFileSync('restic', ['--repo', repo, '--password-file', passwordFile, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/** The disk's content now, as a raw file (QEMU's metadata cache flushed first). */
async function snapshotOfDisk(disk: string, name: string): Promise<string> {
  await qmp.hmp('qemu-io drive0 "flush"');
  const out = path.join(root, `${name}.raw`);
  execFileSync('qemu-img', ['convert', '-U', '-O', 'raw', disk, out]);
  return out;
}

function same(a: string, b: string): boolean {
  try {
    execFileSync('qemu-img', ['compare', '-U', a, b], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

test('backup, backup, backup: forget keeps the last 2; restore a kept point and the latest', async () => {
  const disk = path.join(root, 'acme.qcow2');
  execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', disk, '64M']);
  qemu = await startQemu(path.join(root, 'q'), ['-drive', `file=${disk},if=none,id=drive0,format=qcow2,node-name=disk0`]);
  qmp = await QmpClient.connect(qemu.qmpSocket);
  const repo = path.join(root, 'repo');
  const passwordFile = path.join(root, 'restic-pass');
  fs.writeFileSync(passwordFile, 'correct horse battery staple\n', { mode: 0o600 });
  restic(repo, passwordFile, 'init');

  const backup = BackupConfig.parse({ target: `restic:${repo}`, passwordFile, keep: 2 });
  const stateDir = path.join(root, 'state');
  const target = new ResticTarget('acme', backup, stateDir);
  const history = new BackupHistory(stateDir);
  const ctx: EngineContext = {
    vm: 'acme', backup, paths: { runDir: path.join(root, 'q'), stateDir }, target, history,
    signal: new AbortController().signal, log: () => {}, now: Date.now,
  };
  const source = { live: true as const, qmp, pid: qemu.process.pid };

  const states: string[] = [];
  const points: string[] = [];
  for (const [i, pattern] of [0x11, 0x22, 0x33].entries()) {
    await qmp.hmp(`qemu-io drive0 "write -P ${pattern} ${i * 8 * MiB} ${4 * MiB}"`);
    const outcome = await backupOnce(ctx, source);
    assert.is(outcome.point.kind, i === 0 ? 'full' : 'incremental', outcome.message);
    assert.match(outcome.message, /restic snapshot [0-9a-f]{8}/);
    states.push(await snapshotOfDisk(disk, `state-${i}`));
    points.push(outcome.point.id);
    // The cache keeps one image: the latest state, which the next incremental builds on.
    assert.equal(target.chain.points().map((p) => p.id), [outcome.point.id]);
  }

  const kept = await target.points();
  assert.equal(kept.map((p) => p.point), points.slice(1), 'restic forget --keep-last 2');
  const snapshots = JSON.parse(restic(repo, passwordFile, 'snapshots', '--json')) as Array<{ tags: string[] }>;
  assert.is(snapshots.length, 2);
  assert.ok(snapshots.every((s) => s.tags.includes('vm=acme') && s.tags.includes('hiboss')));

  const restoredDisk = path.join(root, 'restored.qcow2');
  await restoreOnce(ctx, restoredDisk, kept[0]!.id);
  assert.ok(same(restoredDisk, states[1]!), 'the kept older point, byte for byte');
  const again = await restoreOnce(ctx, restoredDisk, null);
  assert.ok(same(restoredDisk, states[2]!), 'the latest');
  assert.ok(again.keptAside && same(again.keptAside, states[1]!), 'the disk it replaced is kept aside');

  const gone = await rejection(restoreOnce(ctx, restoredDisk, 'deadbeef'));
  assert.match(gone.message, /no backup deadbeef of acme/);
  assert.ok(same(restoredDisk, states[2]!), 'a failed restore leaves the disk as it was');
});

test('a repository that cannot be opened (wrong password): the backup fails and says why; the next one still builds on the cache', async () => {
  const disk = path.join(root, 'acme.qcow2');
  execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', disk, '64M']);
  qemu = await startQemu(path.join(root, 'q'), ['-drive', `file=${disk},if=none,id=drive0,format=qcow2,node-name=disk0`]);
  qmp = await QmpClient.connect(qemu.qmpSocket);
  const repo = path.join(root, 'repo');
  const passwordFile = path.join(root, 'restic-pass');
  fs.writeFileSync(passwordFile, 'right\n', { mode: 0o600 });
  restic(repo, passwordFile, 'init');
  const wrongFile = path.join(root, 'wrong-pass');
  fs.writeFileSync(wrongFile, 'wrong\n', { mode: 0o600 });

  const stateDir = path.join(root, 'state');
  const history = new BackupHistory(stateDir);
  const make = (pf: string): EngineContext => {
    const backup = BackupConfig.parse({ target: `restic:${repo}`, passwordFile: pf, keep: 3 });
    return {
      vm: 'acme', backup, paths: { runDir: path.join(root, 'q'), stateDir }, target: new ResticTarget('acme', backup, stateDir), history,
      signal: new AbortController().signal, log: () => {}, now: Date.now,
    };
  };
  const source = { live: true as const, qmp, pid: qemu.process.pid };
  await qmp.hmp('qemu-io drive0 "write -P 0x44 0 4M"');
  const failed = await rejection(backupOnce(make(wrongFile), source));
  assert.match(failed.message, new RegExp(`restic backup \\(${repo}\\)`));
  assert.is(history.lastGood(), undefined, 'not a good backup');

  await qmp.hmp('qemu-io drive0 "write -P 0x55 8M 1M"');
  const ok = await backupOnce(make(passwordFile), source);
  assert.is(ok.point.kind, 'incremental', 'the image made before restic refused is in the cache: only the change is copied');
  const state = await snapshotOfDisk(disk, 'now');
  const restored = path.join(root, 'restored.qcow2');
  await restoreOnce(make(passwordFile), restored, null);
  assert.ok(same(restored, state));
});

t.run();
