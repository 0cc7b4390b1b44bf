/**
 * Backups when things go wrong, on real parts (QEMU 7.2, the real
 * guest writing records, its agent, qemu-img, qemu-storage-daemon, a real
 * tmpfs as a small target):
 *
 * - the target fills up mid-job: the job is cancelled cleanly, the VM runs on
 *   undisturbed, no partial image stays, the bitmap keeps every change — the
 *   next run is incremental and holds everything;
 * - the disk replaced by hand (no bitmap), a QEMU killed -9 (the bitmap left
 *   inconsistent), a disk converted to raw: each falls back to a full backup
 *   and says why.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { QmpClient } from '../../../qmp/client.js';
import { BackupConfig } from '../../../config/backup-schema.js';
import { backupOnce } from '../../../daemon/backup/engine.js';
import { BackupHistory } from '../../../daemon/backup/history.js';
import { BITMAP } from '../../../daemon/backup/job.js';
import { LocalTarget } from '../../../daemon/backup/targets.js';
import { bootGuestOnDisk, createDisk, engineContext } from '../../harness/backup-vms.js';
import { bounded, rejection } from '../../harness/bounded.js';
import { ensureGuest, type Guest } from '../../harness/guest.js';
import { waitForFile } from '../../harness/processes.js';
import { checkRecords, guestSh, recordsInGuest, recordsInImage, startRecords, stopRecords, waitForRecords } from '../../harness/records.js';
import { scratchPerTest, type Scratch } from '../../harness/scratch.js';

const t = suite('backups: faults (target full mid-job, bitmap missing or inconsistent, disk format changed)');
const test = bounded(t, 120_000);
const MiB = 1024 * 1024;

let guest: Guest;
t.before(async () => {
  guest = await ensureGuest();
});
const scratch = scratchPerTest(t, 'hb-bkf-');

function context(target: LocalTarget, history: BackupHistory, over: Record<string, unknown> = {}) {
  return engineContext(scratch, { backup: BackupConfig.parse({ target: target.root, ...over }), target, history });
}

/** A tmpfs of `sizeMiB` in the scratch dir (a small target that fills up), unmounted after the test. */
function mountTmpfs(scratch: Scratch, sizeMiB: number): string {
  const dir = path.join(scratch.root, 'tmpfs');
  fs.mkdirSync(dir);
  execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${sizeMiB}m`, 'tmpfs', dir]);
  scratch.defer(() => execFileSync('umount', [dir]));
  return dir;
}

async function dirtyBytes(qmp: QmpClient): Promise<number> {
  const [block] = await qmp.execute('query-block');
  return block!.inserted!['dirty-bitmaps']!.find((b) => b.name === BITMAP)!.count;
}

test('the target fills up mid-job: cancelled cleanly, the VM undisturbed, the bitmap kept; the next run is incremental and complete', async () => {
  const tmpfs = mountTmpfs(scratch, 72);
  const target = new LocalTarget(tmpfs, 'acme', 7);
  const history = new BackupHistory(path.join(scratch.root, 'state'));
  const disk = createDisk(scratch, 'acme.qcow2', 128);
  const { qmp, source, inGuest } = await bootGuestOnDisk(scratch, guest, disk);
  await inGuest(async (agent) => {
    await startRecords(agent, { format: true, bigMiB: 16 });
    await waitForRecords(agent, 50);
  });
  const full = await backupOnce(context(target, history), source);
  assert.is(full.point.kind, 'full');

  // 8 MiB more in the guest: the incremental fits the free space, at 1 MiB/s.
  await inGuest((agent) => guestSh(agent, 'dd if=/dev/urandom of=/mnt/more bs=1M count=8 2>/dev/null && sync'));
  const running = backupOnce(context(target, history, { speedMiBps: 1 }), source);
  running.catch(() => {});
  // The job has started (its marker is written): someone else fills the target.
  await waitForFile(history.markerFile, 10_000);
  const free = fs.statfsSync(tmpfs);
  fs.writeFileSync(path.join(tmpfs, 'filler'), Buffer.alloc(Math.max(0, free.bavail * free.bsize - 8 * MiB)));
  const error = await rejection(running);
  // Cancelled when the watch sees it first, else failed by QEMU's ENOSPC: either way clean.
  assert.match(error.message, /the target is full \(.* left at /, error.message);

  // Undisturbed: running, the guest still writing, no partial image, every change still in the bitmap.
  assert.is((await qmp.execute('query-status')).status, 'running');
  const before = await inGuest((agent) => recordsInGuest(agent));
  await inGuest((agent) => waitForRecords(agent, before + 20));
  assert.equal(fs.readdirSync(target.chain.dir).sort(), [`${full.point.id}.json`, `${full.point.id}.qcow2`]);
  assert.equal(await qmp.execute('query-jobs'), []);
  assert.ok((await dirtyBytes(qmp)) >= 8 * MiB, 'the 8 MiB are still marked dirty');
  assert.is(history.readMarker(), null);
  assert.match(history.read().runs.at(-1)!.message, /the target is full/);

  fs.rmSync(path.join(tmpfs, 'filler'));
  await inGuest(stopRecords);
  const next = await backupOnce(context(target, history), source);
  assert.is(next.point.kind, 'incremental', next.message);
  assert.ok(next.point.bytes >= 8 * MiB, 'it holds the 8 MiB the cancelled run did not save');
  await inGuest(async (agent) => {
    const run = await guestSh(agent, 'mount /dev/vda /mnt && cat /mnt/records && md5sum /mnt/more >&2');
    assert.is(checkRecords(recordsInImage(target.chain.image(next.point.id))), checkRecords(run.stdout), 'every record, nothing torn');
  });
});

test('no bitmap (disk replaced by hand), an inconsistent one (QEMU killed), a disk now raw: a full backup each time, saying why', async () => {
  const target = new LocalTarget(path.join(scratch.root, 'backups'), 'acme', 7);
  const history = new BackupHistory(path.join(scratch.root, 'state'));
  const disk = createDisk(scratch, 'acme.qcow2', 64);
  const first = await bootGuestOnDisk(scratch, guest, disk);
  await first.inGuest(async (agent) => {
    await startRecords(agent, { format: true });
    await waitForRecords(agent, 20);
    await stopRecords(agent);
  });
  assert.is((await backupOnce(context(target, history), first.source)).point.kind, 'full');
  assert.is((await backupOnce(context(target, history), first.source)).point.kind, 'incremental');
  // Quit (the bitmap is written into the image), booted again: the chain goes on live.
  await first.quit();
  const again = await bootGuestOnDisk(scratch, guest, disk);
  assert.is((await backupOnce(context(target, history), again.source)).point.kind, 'incremental');

  // Killed: the persistent bitmap it loaded stays marked in use in the image.
  process.kill(again.qemu.pid, 'SIGKILL');
  await again.qemu.exited;
  again.qmp.close();
  const inconsistent = await backupOnce(context(target, history), { live: false, disk });
  assert.is(inconsistent.point.kind, 'full');
  assert.match(inconsistent.point.why, /^full: the change bitmap was left inconsistent \(QEMU did not close the disk cleanly\)/, inconsistent.point.why);
  assert.is((await backupOnce(context(target, history), { live: false, disk })).point.kind, 'incremental', 'a new bitmap carries on');

  // Replaced by hand: a copy has no bitmap.
  execFileSync('qemu-img', ['convert', '-O', 'qcow2', disk, `${disk}.copy`]);
  fs.renameSync(`${disk}.copy`, disk);
  const replaced = await backupOnce(context(target, history), { live: false, disk });
  assert.is(replaced.point.kind, 'full');
  assert.match(replaced.point.why, /^full: the disk has no change bitmap \(replaced by hand, or restored\)/);

  // Converted to raw in place.
  execFileSync('qemu-img', ['convert', '-O', 'raw', disk, `${disk}.raw`]);
  fs.renameSync(`${disk}.raw`, disk);
  const raw = await backupOnce(context(target, history), { live: false, disk });
  assert.is(raw.point.kind, 'full');
  assert.match(raw.point.why, /^full: the disk is raw, which cannot keep a change bitmap/);
  assert.is(checkRecords(recordsInImage(target.chain.image(raw.point.id))), checkRecords(recordsInImage(target.chain.image(replaced.point.id))));
});

t.run();
