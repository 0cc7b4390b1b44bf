/**
 * The daemon killed -9 in the middle of a backup, with the real
 * daemon, the real guest writing records and real QEMU / qemu-storage-daemon:
 * the next daemon finds the orphaned job (in the running VM's QEMU, or in the
 * storage daemon holding a stopped VM's disk), cancels it, removes the partial
 * image, and the next backup is correct — incremental, every record in it. A
 * stopped VM's disk is free again: it starts.
 */
import { execa } from 'execa';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { QmpClient } from '../../../qmp/client.js';
import { bounded } from '../../harness/bounded.js';
import { HIBOSS, writeConfig, type RunningDaemon } from '../../harness/daemon.js';
import { withAgent } from '../../harness/records.js';
import { desktopPerTest, realGuestForSuite } from '../../harness/fixtures.js';
import { guestQemuArgv } from '../../harness/guest.js';
import { alive, pidsWithArg } from '../../harness/inspect.js';
import { track, waitForFile } from '../../harness/processes.js';
import { checkRecords, guestSh, recordsInImage, startRecords, stopRecords, waitForRecords } from '../../harness/records.js';

const t = suite('backups: the daemon killed mid-backup');
const test = bounded(t, 150_000);
const guest = realGuestForSuite(t);
const session = desktopPerTest(t, 'sway', 'bkill');
let daemon: RunningDaemon;

async function cli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const result = await execa(process.execPath, [HIBOSS, ...args], { env: daemon.env, extendEnv: false, reject: false, timeout: 120_000 });
  return { code: result.exitCode ?? -1, stdout: String(result.stdout), stderr: String(result.stderr) };
}

function setup(backup: Record<string, unknown>) {
  const root = session.sandbox.root;
  const disk = path.join(root, 'acme.qcow2');
  if (!fs.existsSync(disk)) execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', disk, '128M']);
  const agentSocket = path.join(root, 'acme.qga');
  const backups = path.join(root, 'backups');
  const config = (extra: Record<string, unknown> = {}) => ({
    vms: { acme: { workspace: '2', qemu: guestQemuArgv(guest, path.join(root, 'acme.serial'), '', { agentSocket, disk }), backup: { target: backups, ...backup, ...extra } } },
    policy: { pauseAfterMs: 600_000, firstBackupAfterMs: 3_600_000 },
  });
  return { disk, agentSocket, backups, config, marker: path.join(session.stateDir('acme'), 'backup-job.json'), runDir: session.runDir('acme') };
}

/** Resolves once the job's target image has data in it (the copy is under way), watching its directory. */
async function copying(markerFile: string): Promise<void> {
  await waitForFile(markerFile, 15_000);
  const image = (JSON.parse(fs.readFileSync(markerFile, 'utf8')) as { image: string }).image;
  await new Promise<void>((resolve, reject) => {
    const watcher = fs.watch(path.dirname(image));
    const check = () => {
      if ((fs.statSync(image, { throwIfNoEntry: false })?.size ?? 0) > 1024 * 1024) finish();
    };
    const finish = (error?: Error) => {
      clearTimeout(timer);
      watcher.close();
      error ? reject(error) : resolve();
    };
    const timer = setTimeout(() => finish(new Error(`${image} did not grow past 1 MiB`)), 20_000);
    watcher.on('change', check);
    check();
  });
}

async function killDaemon(): Promise<void> {
  daemon.process.child.kill('SIGKILL');
  await daemon.process.exited;
  daemon.client.close();
}

test('a live incremental: the orphaned job in QEMU is cancelled, the partial removed; the next incremental holds every record', async () => {
  const vm = setup({ everyHours: 24 });
  daemon = await session.startDaemon(vm.config());
  const running = daemon.client.waitForState('acme', (c) => c.state === 'running', 30_000);
  await session.wmc.command('workspace 2');
  await running;
  const [qemuPid] = pidsWithArg(vm.runDir);
  track(qemuPid!);
  await withAgent(vm.agentSocket, async (agent) => {
    await startRecords(agent, { format: true, bigMiB: 8 });
    await waitForRecords(agent, 50);
  });
  assert.is((await cli('backup', 'run', 'acme')).code, 0);
  await withAgent(vm.agentSocket, (agent) => guestSh(agent, 'dd if=/dev/urandom of=/mnt/more bs=1M count=4 2>/dev/null && sync'));

  // Slow (256 KiB/s): the 4 MiB incremental is still copying when the daemon is killed.
  writeConfig(session.sandbox, vm.config({ speedMiBps: 0.25 }));
  assert.equal(await daemon.client.reload(), []);
  assert.match(await daemon.client.backup('acme'), /backup started/);
  await copying(vm.marker);
  const second = await cli('backup', 'run', 'acme');
  assert.is(second.code, 1, 'two backups of one VM at once are refused');
  assert.match(second.stderr, /hiboss backup run: a backup of acme is already running \(since .*\): one at a time/);
  await killDaemon();

  // QEMU runs on, its job orphaned.
  const qmp = await QmpClient.connect(path.join(vm.runDir, 'qmp.sock'));
  const jobs = await qmp.execute('query-jobs');
  qmp.close();
  assert.equal(jobs.map((j) => [j.id, j.status]), [['hiboss-backup', 'running']]);
  assert.ok(alive(qemuPid!));

  writeConfig(session.sandbox, vm.config());
  daemon = await session.startDaemon();
  await daemon.waitForLog(/acme: cancelled the backup job an earlier daemon left in QEMU \(running\)/);
  await daemon.waitForLog(/acme: removed the partial image of the interrupted backup \d+T\d+Z; the next backup is incremental/);
  assert.is(fs.existsSync(vm.marker), false);
  assert.is((await daemon.client.status()).vms[0]!.state, 'running');

  const records = await withAgent(vm.agentSocket, async (agent) => {
    await stopRecords(agent);
    return guestSh(agent, 'mount /dev/vda /mnt && cat /mnt/records');
  });
  const next = await cli('backup', 'run', 'acme');
  assert.is(next.code, 0, next.stderr);
  assert.match(next.stdout, /incremental backup (\d+T\d+Z): [\d.]+ MiB/);
  const id = /incremental backup (\d+T\d+Z)/.exec(next.stdout)![1]!;
  assert.equal(fs.readdirSync(path.join(vm.backups, 'acme')).filter((f) => f.endsWith('.qcow2')).length, 2, 'the full and this one: nothing partial');
  assert.is(checkRecords(recordsInImage(path.join(vm.backups, 'acme', `${id}.qcow2`))), checkRecords(records.stdout), 'every record, whole');
});

test('an offline backup: the orphaned storage daemon is ended, the stopped VM\'s disk is free and it starts', async () => {
  const vm = setup({ everyHours: 24, speedMiBps: 1 });
  execFileSync('qemu-io', ['-c', 'write -P 0x5a 0 24M', vm.disk], { stdio: 'ignore' });
  daemon = await session.startDaemon(vm.config());
  assert.match(await daemon.client.backup('acme'), /backup started \(from its disk file\)/);
  await copying(vm.marker);
  const qsdPidFile = path.join(vm.runDir, 'backup-qsd.pid');
  await waitForFile(qsdPidFile, 10_000);
  const qsd = Number(fs.readFileSync(qsdPidFile, 'utf8'));
  track(qsd);
  await killDaemon();
  assert.ok(alive(qsd), 'the storage daemon outlived the daemon, holding the disk');

  writeConfig(session.sandbox, vm.config({ speedMiBps: undefined }));
  daemon = await session.startDaemon();
  await daemon.waitForLog(/acme: ended the storage daemon an interrupted offline backup left \(its job cancelled\)/);
  await daemon.waitForLog(/acme: removed the partial image of the interrupted backup \d+T\d+Z; the next backup is full/);
  assert.is(alive(qsd), false);
  const running = daemon.client.waitForState('acme', (c) => c.state === 'running', 30_000);
  await session.wmc.command('workspace 2');
  await running;
  const full = await cli('backup', 'run', 'acme');
  assert.is(full.code, 0, full.stderr);
  assert.match(full.stdout, /full backup .*full: no earlier backup on this target/);
});

t.run();
