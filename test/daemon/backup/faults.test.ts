/**
 * Backups when things go wrong (issue #12), on real parts (QEMU 7.2, the real
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
import os from 'node:os';
import path from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { AgentClient } from '../../../qga/client.js';
import { QmpClient } from '../../../qmp/client.js';
import { BackupConfig } from '../../../config/backup-schema.js';
import { backupOnce, type EngineContext } from '../../../daemon/backup/engine.js';
import { BackupHistory } from '../../../daemon/backup/history.js';
import { BITMAP } from '../../../daemon/backup/job.js';
import { LocalTarget } from '../../../daemon/backup/targets.js';
import { bounded, rejection } from '../../harness/bounded.js';
import { ensureGuest, guestQemuArgv, type Guest } from '../../harness/guest.js';
import { start, waitForFile, waitUntilAccepting, type Started } from '../../harness/processes.js';
import { checkRecords, connectAgent, guestSh, recordsInGuest, recordsInImage, startRecords, stopRecords, waitForRecords } from '../../harness/records.js';

const t = suite('backups: faults (target full mid-job, bitmap missing or inconsistent, disk format changed)');
const test = bounded(t, 120_000);
const MiB = 1024 * 1024;

let guest: Guest;
let root: string;
let tmpfs: string | null = null;
let vm: { qemu: Started; qmp: QmpClient; agentSocket: string } | undefined;

t.before(async () => {
  guest = await ensureGuest();
});
t.before.each(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'hb-bkf-'));
  fs.mkdirSync(path.join(root, 'run'), { mode: 0o700 });
});
t.after.each(async () => {
  await quit();
  if (tmpfs) execFileSync('umount', [tmpfs]);
  tmpfs = null;
  fs.rmSync(root, { recursive: true, force: true });
});

async function boot(disk: string): Promise<NonNullable<typeof vm>> {
  const qmpSocket = path.join(root, 'qmp.sock');
  const agentSocket = path.join(root, 'qga.sock');
  const [file, ...args] = guestQemuArgv(guest, path.join(root, 'serial.log'), '', { agentSocket, disk });
  const qemu = start(file!, [...args, '-qmp', `unix:${qmpSocket},server=on,wait=off`]);
  await waitForFile(qmpSocket, 15_000);
  await waitUntilAccepting(qmpSocket);
  const qmp = await QmpClient.connect(qmpSocket);
  (await connectAgent(agentSocket)).close();
  vm = { qemu, qmp, agentSocket };
  return vm;
}

async function quit(): Promise<void> {
  if (!vm) return;
  const { qemu, qmp } = vm;
  vm = undefined;
  await qmp.execute('quit').catch(() => undefined);
  qmp.close();
  await qemu.exited;
}

async function inGuest<T>(fn: (agent: AgentClient) => Promise<T>): Promise<T> {
  const agent = await connectAgent(vm!.agentSocket);
  try {
    return await fn(agent);
  } finally {
    agent.close();
  }
}

function context(target: LocalTarget, history: BackupHistory, over: Record<string, unknown> = {}): EngineContext {
  return {
    vm: 'acme',
    backup: BackupConfig.parse({ target: target.root, ...over }),
    paths: { runDir: path.join(root, 'run'), stateDir: path.join(root, 'state') },
    target,
    history,
    signal: new AbortController().signal,
    log: () => {},
    now: Date.now,
  };
}

async function dirtyBytes(qmp: QmpClient): Promise<number> {
  const [block] = await qmp.execute('query-block');
  return block!.inserted!['dirty-bitmaps']!.find((b) => b.name === BITMAP)!.count;
}

test('the target fills up mid-job: cancelled cleanly, the VM undisturbed, the bitmap kept; the next run is incremental and complete', async () => {
  tmpfs = path.join(root, 'tmpfs');
  fs.mkdirSync(tmpfs);
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=72m', 'tmpfs', tmpfs]);
  const target = new LocalTarget(tmpfs, 'acme', 7);
  const history = new BackupHistory(path.join(root, 'state'));
  const disk = path.join(root, 'acme.qcow2');
  execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', disk, '128M']);
  const { qmp, qemu } = await boot(disk);
  await inGuest(async (agent) => {
    await startRecords(agent, { format: true, bigMiB: 16 });
    await waitForRecords(agent, 50);
  });
  const source = { live: true as const, qmp, pid: qemu.pid };
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
  const target = new LocalTarget(path.join(root, 'backups'), 'acme', 7);
  const history = new BackupHistory(path.join(root, 'state'));
  const disk = path.join(root, 'acme.qcow2');
  execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', disk, '64M']);
  const { qmp, qemu } = await boot(disk);
  await inGuest(async (agent) => {
    await startRecords(agent, { format: true });
    await waitForRecords(agent, 20);
    await stopRecords(agent);
  });
  const source = { live: true as const, qmp, pid: qemu.pid };
  assert.is((await backupOnce(context(target, history), source)).point.kind, 'full');
  assert.is((await backupOnce(context(target, history), source)).point.kind, 'incremental');
  // Quit (the bitmap is written into the image), booted again: the chain goes on live.
  await quit();
  const again = await boot(disk);
  assert.is((await backupOnce(context(target, history), { live: true, qmp: again.qmp, pid: again.qemu.pid })).point.kind, 'incremental');

  // Killed: the persistent bitmap it loaded stays marked in use in the image.
  process.kill(again.qemu.pid, 'SIGKILL');
  await again.qemu.exited;
  again.qmp.close();
  vm = undefined;
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
