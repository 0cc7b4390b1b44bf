/**
 * The restic target against real restic 0.14 and real QEMU: each backup's image
 * streamed into a local repository (one self-contained snapshot per restore
 * point), restic's own `forget --keep-last` retention, and restores of a kept
 * point and of the latest, byte for byte the disk as it was. QEMU's own
 * qemu-io writes the data (no guest needed: the guest path is engine-guest's).
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { BackupConfig } from '../../../config/backup-schema.js';
import { backupOnce, restoreOnce } from '../../../daemon/backup/engine.js';
import { BackupHistory } from '../../../daemon/backup/history.js';
import { ResticTarget } from '../../../daemon/backup/targets.js';
import type { QmpClient } from '../../../qmp/client.js';
import { createDisk, engineContext, sameImage, startDiskQemu } from '../../harness/backup-vms.js';
import { bounded, rejection } from '../../harness/bounded.js';
import { scratchPerTest } from '../../harness/scratch.js';

const t = suite('backups: restic target (real restic, real QEMU)');
const test = bounded(t, 90_000);
const MiB = 1024 * 1024;
const scratch = scratchPerTest(t, 'hb-restic-');

function restic(repo: string, passwordFile: string, ...args: string[]): string {
  return execFileSync('restic', ['--repo', repo, '--password-file', passwordFile, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/** The disk's content now, as a raw file (QEMU's metadata cache flushed first). */
async function snapshotOfDisk(qmp: QmpClient, disk: string, name: string): Promise<string> {
  await qmp.hmp('qemu-io drive0 "flush"');
  const out = path.join(scratch.root, `${name}.raw`);
  execFileSync('qemu-img', ['convert', '-U', '-O', 'raw', disk, out]);
  return out;
}

test('backup, backup, backup: forget keeps the last 2; restore a kept point and the latest', async () => {
  const { root } = scratch;
  const disk = createDisk(scratch, 'acme.qcow2', 64);
  const { qmp, source } = await startDiskQemu(scratch, disk);
  const repo = path.join(root, 'repo');
  const passwordFile = path.join(root, 'restic-pass');
  fs.writeFileSync(passwordFile, 'correct horse battery staple\n', { mode: 0o600 });
  restic(repo, passwordFile, 'init');

  const backup = BackupConfig.parse({ target: `restic:${repo}`, passwordFile, keep: 2 });
  const stateDir = path.join(root, 'state');
  const target = new ResticTarget('acme', backup, stateDir);
  const history = new BackupHistory(stateDir);
  const ctx = engineContext(scratch, { backup, target, history });

  const states: string[] = [];
  const points: string[] = [];
  for (const [i, pattern] of [0x11, 0x22, 0x33].entries()) {
    await qmp.hmp(`qemu-io drive0 "write -P ${pattern} ${i * 8 * MiB} ${4 * MiB}"`);
    const outcome = await backupOnce(ctx, source);
    assert.is(outcome.point.kind, i === 0 ? 'full' : 'incremental', outcome.message);
    assert.match(outcome.message, /restic snapshot [0-9a-f]{8}/);
    states.push(await snapshotOfDisk(qmp, disk, `state-${i}`));
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
  assert.ok(sameImage(restoredDisk, states[1]!), 'the kept older point, byte for byte');
  const again = await restoreOnce(ctx, restoredDisk, null);
  assert.ok(sameImage(restoredDisk, states[2]!), 'the latest');
  assert.ok(again.keptAside && sameImage(again.keptAside, states[1]!), 'the disk it replaced is kept aside');

  const gone = await rejection(restoreOnce(ctx, restoredDisk, 'deadbeef'));
  assert.match(gone.message, /no backup deadbeef of acme/);
  assert.ok(sameImage(restoredDisk, states[2]!), 'a failed restore leaves the disk as it was');
});

test('a repository that cannot be opened (wrong password): the backup fails and says why; the next one still builds on the cache', async () => {
  const { root } = scratch;
  const disk = createDisk(scratch, 'acme.qcow2', 64);
  const { qmp, source } = await startDiskQemu(scratch, disk);
  const repo = path.join(root, 'repo');
  const passwordFile = path.join(root, 'restic-pass');
  fs.writeFileSync(passwordFile, 'right\n', { mode: 0o600 });
  restic(repo, passwordFile, 'init');
  const wrongFile = path.join(root, 'wrong-pass');
  fs.writeFileSync(wrongFile, 'wrong\n', { mode: 0o600 });

  const stateDir = path.join(root, 'state');
  const history = new BackupHistory(stateDir);
  const make = (pf: string) => {
    const backup = BackupConfig.parse({ target: `restic:${repo}`, passwordFile: pf, keep: 3 });
    return engineContext(scratch, { backup, target: new ResticTarget('acme', backup, stateDir), history });
  };
  await qmp.hmp('qemu-io drive0 "write -P 0x44 0 4M"');
  const failed = await rejection(backupOnce(make(wrongFile), source));
  assert.match(failed.message, new RegExp(`restic backup \\(${repo}\\)`));
  assert.is(history.lastGood(), undefined, 'not a good backup');

  await qmp.hmp('qemu-io drive0 "write -P 0x55 8M 1M"');
  const ok = await backupOnce(make(passwordFile), source);
  assert.is(ok.point.kind, 'incremental', 'the image made before restic refused is in the cache: only the change is copied');
  const state = await snapshotOfDisk(qmp, disk, 'now');
  const restored = path.join(root, 'restored.qcow2');
  await restoreOnce(make(passwordFile), restored, null);
  assert.ok(sameImage(restored, state));
});

t.run();
