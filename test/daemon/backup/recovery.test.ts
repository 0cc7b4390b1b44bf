/**
 * Recovery at start-up (daemon/backup/runner.ts) of a backup whose daemon died
 * after the job had copied everything (it waits in `pending`: it never
 * finalizes on its own): the next daemon cancels the job (the bitmap keeps its
 * bits: a superset), keeps the complete image as a restore point, and the next
 * incremental builds on it and equals the disk. Real QEMU 7.2, real images.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { BackupConfig } from '../../../config/backup-schema.js';
import { Config } from '../../../config/schema.js';
import { vmPaths } from '../../../config/paths.js';
import { backupOnce } from '../../../daemon/backup/engine.js';
import { BackupHistory } from '../../../daemon/backup/history.js';
import { BackupRunner } from '../../../daemon/backup/runner.js';
import { LocalTarget } from '../../../daemon/backup/targets.js';
import { BITMAP, JOB_ID, TARGET_NODE } from '../../../daemon/backup/job.js';
import type { PolicyEvent } from '../../../daemon/policy/policy.js';
import type { VmProcess } from '../../../daemon/vm/vm-process.js';
import { createDisk, engineContext, sameImage, startDiskQemu } from '../../harness/backup-vms.js';
import { bounded } from '../../harness/bounded.js';
import { scratchPerTest } from '../../harness/scratch.js';

const t = suite('backups: recovery of a job that had copied everything');
const test = bounded(t, 60_000);
const MiB = 1024 * 1024;
const scratch = scratchPerTest(t, 'hb-bkrec-');

test('pending job + complete image left behind: cancelled, the image kept as a point, the next incremental correct', async () => {
  const { root } = scratch;
  const roots = { runRoot: path.join(root, 'run'), stateRoot: path.join(root, 'state') };
  const paths = vmPaths(roots, 'acme');
  const disk = createDisk(scratch, 'acme.qcow2', 64);
  const { qemu, qmp, source } = await startDiskQemu(scratch, disk);
  const backups = path.join(root, 'backups');
  const backup = BackupConfig.parse({ target: backups });
  const target = new LocalTarget(backups, 'acme', 7);
  const history = new BackupHistory(paths.stateDir);
  const ctx = engineContext(scratch, { backup, target, history, paths });
  await qmp.hmp('qemu-io drive0 "write -P 0x11 0 8M"');
  const full = await backupOnce(ctx, source);

  // What a daemon leaves when it dies right after the job reached `pending`.
  await qmp.hmp('qemu-io drive0 "write -P 0x22 16M 2M"');
  const id = '20991231T235959000Z';
  const image = target.chain.image(id);
  execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', '-b', path.basename(target.chain.image(full.point.id)), '-F', 'qcow2', image, '64M']);
  await qmp.execute('blockdev-add', { driver: 'qcow2', 'node-name': TARGET_NODE, file: { driver: 'file', filename: image }, backing: null });
  const pending = new Promise<void>((resolve) => {
    const off = qmp.onEvent('JOB_STATUS_CHANGE', (e) => e.data.status === 'pending' && (off(), resolve()));
  });
  await qmp.execute('blockdev-backup', { 'job-id': JOB_ID, device: 'disk0', target: TARGET_NODE, sync: 'incremental', bitmap: BITMAP, 'bitmap-mode': 'on-success', 'auto-finalize': false, 'auto-dismiss': false });
  await pending;
  history.writeMarker({
    id, kind: 'incremental', image, chainDir: target.chain.dir, target: target.description, live: true, startedAt: Date.now(), reachedPending: true,
    meta: { ...full.point, id, kind: 'incremental', parent: full.point.id, at: Date.now(), bytes: fs.statSync(image).size, why: 'incremental: test' },
  });

  const events: PolicyEvent[] = [];
  const runner = new BackupRunner({
    roots,
    config: () => Config.parse({ vms: { acme: { qemu: ['qemu-system-x86_64'], backup: { target: backups } } } }),
    post: (event) => events.push(event),
    process: () => ({ qmp, pid: qemu.process.pid, ended: false }) as unknown as VmProcess,
    now: Date.now,
  });
  const listeners = () => qmp.listenerCount('close') + qmp.listenerCount('event');
  const listenersBefore = listeners();
  await runner.recover();
  assert.is(listeners(), listenersBefore, 'no listener left behind on the connection (it lives as long as the VM)');
  const notes = events.map((e) => (e.type === 'note' ? e.message : e.type));
  assert.ok(notes.includes('cancelled the backup job an earlier daemon left in QEMU (pending); its change bitmap keeps every change'), notes.join('\n'));
  assert.ok(notes.includes(`kept the interrupted backup ${id}: it had copied everything`), notes.join('\n'));
  assert.equal(await qmp.execute('query-jobs'), []);
  assert.equal(target.chain.points().map((p) => p.id), [full.point.id, id]);
  assert.is(history.readMarker(), null);
  assert.equal(history.read().bitmapPoint, { target: target.description, id });

  // Not finalized: the bitmap kept the 2 MiB (a superset now): the next incremental is still correct.
  await qmp.hmp('qemu-io drive0 "write -P 0x33 32M 1M"');
  const next = await backupOnce(ctx, source);
  assert.is(next.point.kind, 'incremental');
  assert.is(next.point.parent, id);
  await qmp.hmp('qemu-io drive0 "flush"');
  assert.ok(sameImage(target.chain.image(next.point.id), disk), 'full + recovered + next equal the disk');
  assert.ok(next.point.bytes >= 3 * MiB, 'the superset: 2 + 1 MiB');
});

t.run();
