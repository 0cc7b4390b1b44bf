/**
 * Backups of a running VM, end to end below the daemon (daemon/backup/engine.ts)
 * on real parts: QEMU 7.2 running the real guest, which writes numbered records
 * on its virtio disk while the backups run, Debian's real qemu-guest-agent
 * freezing its filesystem for each job's start, qemu-img, qemu-storage-daemon
 * and debugfs reading the images.
 *
 * Full, then incremental (much smaller after a small change), each a consistent
 * prefix of the records; then, with the VM stopped, an offline incremental from
 * the disk file (the bitmap survived QEMU's clean exit); and a restore into a
 * fresh VM shows exactly the records of the latest backup, nothing torn.
 */
import fs from 'node:fs';
import path from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { AgentClient } from '../../../qga/client.js';
import { BackupConfig } from '../../../config/backup-schema.js';
import { backupOnce, restoreOnce } from '../../../daemon/backup/engine.js';
import { BackupHistory } from '../../../daemon/backup/history.js';
import { LocalTarget } from '../../../daemon/backup/targets.js';
import { bootGuestOnDisk, createDisk, engineContext } from '../../harness/backup-vms.js';
import { bounded } from '../../harness/bounded.js';
import { ensureGuest, type Guest } from '../../harness/guest.js';
import { checkRecords, guestSh, recordsInGuest, recordsInImage, startRecords, stopRecords, waitForRecords } from '../../harness/records.js';
import { scratchPerTest } from '../../harness/scratch.js';

const t = suite('backups of the real guest: full, incremental, offline, restore (engine)');
const test = bounded(t, 120_000);

let guest: Guest;
t.before(async () => {
  guest = await ensureGuest();
});
const scratch = scratchPerTest(t, 'hb-bk-');

test('full, then a much smaller incremental, while the guest writes; offline incremental; restore into a fresh VM', async () => {
  const disk = createDisk(scratch, 'acme.qcow2', 128);
  const backups = path.join(scratch.root, 'backups');
  fs.mkdirSync(backups);
  const target = new LocalTarget(backups, 'acme', 7);
  const history = new BackupHistory(path.join(scratch.root, 'state'));
  const ctx = engineContext(scratch, { backup: BackupConfig.parse({ target: target.root }), target, history });

  const acme = await bootGuestOnDisk(scratch, guest, disk, 'acme');
  await acme.inGuest(async (agent) => {
    await startRecords(agent, { format: true, bigMiB: 24 });
    await waitForRecords(agent, 100);
  });

  const full = await backupOnce(ctx, acme.source);
  assert.is(full.point.kind, 'full');
  assert.is(full.point.consistency, 'frozen', full.message);
  assert.match(full.point.why, /no earlier backup/);
  const inFull = checkRecords(recordsInImage(target.chain.image(full.point.id)));
  assert.ok(inFull >= 100, `the full backup holds ${inFull} records`);
  await acme.inGuest((agent) => waitForRecords(agent, inFull + 150));
  const incremental = await backupOnce(ctx, acme.source);
  assert.is(incremental.point.kind, 'incremental', incremental.message);
  assert.is(incremental.point.parent, full.point.id);
  assert.is(incremental.point.consistency, 'frozen');
  assert.ok(incremental.point.bytes * 8 < full.point.bytes, `incremental ${incremental.point.bytes} B vs full ${full.point.bytes} B`);
  const inIncremental = checkRecords(recordsInImage(target.chain.image(incremental.point.id)));
  assert.ok(inIncremental >= inFull + 150, `${inIncremental} records after ${inFull}`);

  await acme.inGuest(async (agent) => {
    await stopRecords(agent);
    assert.is(await recordsInGuest(agent).catch(() => null), null, 'unmounted');
  });
  await acme.quit();

  // Stopped: from the disk file, through qemu-storage-daemon; the bitmap carried the chain on.
  const offline = await backupOnce(ctx, { live: false, disk });
  assert.is(offline.point.kind, 'incremental', offline.message);
  assert.is(offline.point.parent, incremental.point.id);
  assert.is(offline.point.consistency, 'crash-consistent');
  const final = checkRecords(recordsInImage(target.chain.image(offline.point.id)));
  assert.ok(final >= inIncremental);
  assert.equal((await target.points()).map((p) => p.kind), ['full', 'incremental', 'incremental']);

  // Restore the incremental (full + incremental applied) into a fresh VM on the same disk path.
  const restored = await restoreOnce(ctx, disk, incremental.point.id);
  assert.ok(restored.keptAside && fs.existsSync(restored.keptAside), 'the disk it replaced is kept');
  assert.is(checkRecords(recordsInImage(restored.keptAside!)), final, 'the kept disk is the one before the restore');
  const fresh = await bootGuestOnDisk(scratch, guest, disk, 'fresh');
  const mounted = await fresh.inGuest(readRecordsReadOnly);
  assert.is(checkRecords(mounted), inIncremental, 'the restored VM holds exactly the incremental backup\'s records');
});

/** Mounts the restored disk and reads the records file through the agent (no new records written). */
async function readRecordsReadOnly(agent: AgentClient): Promise<string> {
  const run = await guestSh(agent, 'mkdir -p /mnt && mount -o ro /dev/vda /mnt && cat /mnt/records');
  if (run.code !== 0) throw new Error(`cannot read the restored records: ${run.stderr}`);
  return run.stdout;
}

t.run();
