/**
 * The typed QMP path backups stand on, against real QEMU 7.2 and real qcow2
 * images: find the disk node, a persistent dirty bitmap added in the same
 * transaction as a full backup, an incremental into an image backed by the
 * full one, the job's life (pending → finalize → concluded → dismiss), and a
 * cancelled job that keeps every dirty bit. Data is written by QEMU's own
 * qemu-io (no guest needed) and checked with qemu-img.
 */
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { QmpClient } from '../../qmp/client.js';
import { QmpCommandError } from '../../qmp/errors.js';
import type { JobStatus } from '../../qmp/protocol.js';
import { createDisk, sameImage, startDiskQemu } from '../harness/backup-vms.js';
import { bounded, rejection } from '../harness/bounded.js';
import { scratchPerTest } from '../harness/scratch.js';

const t = suite('qmp: blockdev-backup, dirty bitmaps, jobs on real QEMU');
const test = bounded(t, 30_000);
const MiB = 1024 * 1024;

const scratch = scratchPerTest(t, 'hb-qmpbk-');
let client: QmpClient;
let disk: string;

t.before.each(async () => {
  disk = createDisk(scratch, 'disk.qcow2', 64);
  ({ qmp: client } = await startDiskQemu(scratch, disk));
});

function write(pattern: number, offset: number, length: number): Promise<string> {
  return client.hmp(`qemu-io drive0 "write -P ${pattern} ${offset} ${length}"`);
}

/** Resolves when the job reaches `status` (events are listened to before the command that causes them). */
function jobReaches(id: string, status: JobStatus): Promise<void> {
  return new Promise((resolve) => {
    const off = client.onEvent('JOB_STATUS_CHANGE', (event) => {
      if (event.data.id === id && event.data.status === status) {
        off();
        resolve();
      }
    });
  });
}

function createTarget(file: string, backing?: string): void {
  execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', ...(backing ? ['-b', backing, '-F', 'qcow2'] : []), file, '64M']);
}

async function finish(id: string, target: string): Promise<void> {
  const concluded = jobReaches(id, 'concluded');
  await client.execute('job-finalize', { id });
  await concluded;
  await client.execute('job-dismiss', { id });
  await client.execute('blockdev-del', { 'node-name': target });
}

/** Bytes the image itself holds data for (its backing chain left out). */
function allocatedBytes(file: string): number {
  const map = JSON.parse(execFileSync('qemu-img', ['map', '--output=json', '-U', file], { encoding: 'utf8' })) as Array<{ length: number; data: boolean; depth: number }>;
  return map.filter((extent) => extent.data && extent.depth === 0).reduce((sum, extent) => sum + extent.length, 0);
}

/** QEMU keeps qcow2 metadata in its own cache: flush before another process reads the disk. */
async function sameContent(a: string, b: string): Promise<boolean> {
  await client.hmp('qemu-io drive0 "flush"');
  return sameImage(a, b);
}

test('query-block names the disk node with its file, format and size', async () => {
  const blocks = await client.execute('query-block');
  const drive = blocks.find((block) => block.device === 'drive0');
  assert.ok(drive?.inserted);
  assert.is(drive.inserted['node-name'], 'disk0');
  assert.is(drive.inserted.drv, 'qcow2');
  assert.is(drive.inserted.file, disk);
  assert.is(drive.inserted.image['virtual-size'], 64 * MiB);
  const nodes = await client.execute('query-named-block-nodes', { flat: true });
  assert.ok(nodes.some((node) => node['node-name'] === 'disk0' && node.drv === 'qcow2'));
});

test('a full backup with its bitmap in one transaction, then an incremental of only what changed', async () => {
  await write(0x11, 0, 8 * MiB);
  const full = path.join(scratch.root, 'full.qcow2');
  createTarget(full);
  await client.execute('blockdev-add', { driver: 'qcow2', 'node-name': 'target-full', file: { driver: 'file', filename: full } });
  const pending = jobReaches('backup-1', 'pending');
  await client.execute('transaction', {
    actions: [
      { type: 'block-dirty-bitmap-add', data: { node: 'disk0', name: 'hiboss-backup', persistent: true } },
      { type: 'blockdev-backup', data: { 'job-id': 'backup-1', device: 'disk0', target: 'target-full', sync: 'full', 'auto-finalize': false, 'auto-dismiss': false } },
    ],
  });
  await pending;
  const [job] = await client.execute('query-jobs');
  assert.is(job?.status, 'pending');
  assert.is(job?.type, 'backup');
  await finish('backup-1', 'target-full');
  assert.ok(await sameContent(full, disk), 'the full backup equals the disk');

  await write(0x22, 16 * MiB, MiB);
  const [block] = await client.execute('query-block');
  const bitmap = block!.inserted!['dirty-bitmaps']!.find((b) => b.name === 'hiboss-backup');
  assert.is(bitmap?.count, MiB, 'the bitmap holds exactly the changed MiB');
  assert.is(bitmap?.persistent, true);

  const incremental = path.join(scratch.root, 'inc.qcow2');
  createTarget(incremental, full);
  await client.execute('blockdev-add', { driver: 'qcow2', 'node-name': 'target-inc', file: { driver: 'file', filename: incremental }, backing: null });
  const incPending = jobReaches('backup-2', 'pending');
  await client.execute('blockdev-backup', {
    'job-id': 'backup-2', device: 'disk0', target: 'target-inc', sync: 'incremental', bitmap: 'hiboss-backup', 'bitmap-mode': 'on-success', 'auto-finalize': false, 'auto-dismiss': false,
  });
  await incPending;
  await finish('backup-2', 'target-inc');
  assert.is(allocatedBytes(incremental), MiB, 'the incremental holds only the changed MiB');
  assert.ok(await sameContent(incremental, disk), 'full + incremental equal the disk');
  const [after] = await client.execute('query-block');
  assert.is(after!.inserted!['dirty-bitmaps']!.find((b) => b.name === 'hiboss-backup')?.count, 0, 'cleared once the backup succeeded');
});

test('a cancelled job keeps every dirty bit; a second job on the same node is refused', async () => {
  await client.execute('block-dirty-bitmap-add', { node: 'disk0', name: 'hiboss-backup', persistent: true });
  await write(0x33, 0, 4 * MiB);
  const target = path.join(scratch.root, 'slow.qcow2');
  createTarget(target);
  await client.execute('blockdev-add', { driver: 'qcow2', 'node-name': 'target-slow', file: { driver: 'file', filename: target }, backing: null });
  const running = jobReaches('backup-slow', 'running');
  // 64 KiB/s: it cannot finish while the test looks at it.
  await client.execute('blockdev-backup', {
    'job-id': 'backup-slow', device: 'disk0', target: 'target-slow', sync: 'incremental', bitmap: 'hiboss-backup', 'bitmap-mode': 'on-success', speed: 64 * 1024, 'auto-finalize': false, 'auto-dismiss': false,
  });
  await running;
  const second = await rejection(client.execute('blockdev-backup', { 'job-id': 'backup-slow', device: 'disk0', target: 'target-slow', sync: 'full' }));
  assert.instance(second, QmpCommandError);
  const concluded = jobReaches('backup-slow', 'concluded');
  await client.execute('job-cancel', { id: 'backup-slow' });
  await concluded;
  await client.execute('job-dismiss', { id: 'backup-slow' });
  await client.execute('blockdev-del', { 'node-name': 'target-slow' });
  assert.equal(await client.execute('query-jobs'), []);
  const [block] = await client.execute('query-block');
  assert.is(block!.inserted!['dirty-bitmaps']!.find((b) => b.name === 'hiboss-backup')?.count, 4 * MiB, 'nothing lost: the next incremental copies it all');
});

t.run();
