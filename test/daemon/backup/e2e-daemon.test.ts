/**
 * Backups through the real daemon (bin/hiboss daemon) on headless sway, with
 * the real guest writing records on its virtio disk and Debian's real guest
 * agent: `hiboss backup run|list|restore` (the D-Bus API), `hiboss status
 * --json`'s backup part, and a VM that is not backed up shown by `hiboss bar`
 * (class `unbacked`, the tooltip naming it) and by status, until a backup succeeds.
 */
import { execa } from 'execa';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { DaemonStatus } from '../../../api/schema.js';
import { BackupList } from '../../../api/backup-schema.js';
import { bounded } from '../../harness/bounded.js';
import { HIBOSS, type RunningDaemon } from '../../harness/daemon.js';
import { withAgent } from '../../harness/records.js';
import { desktopPerTest, realGuestForSuite } from '../../harness/fixtures.js';
import { guestQemuArgv } from '../../harness/guest.js';
import { start, type Started } from '../../harness/processes.js';
import { checkRecords, guestSh, recordsInImage, startRecords, waitForRecords } from '../../harness/records.js';
import { LineReader } from '../../bar/lines.js';
import { bound } from '../../harness/bounds.js';

const t = suite('backups through the real daemon');
const test = bounded(t, 150_000);
const guest = realGuestForSuite(t);
let daemon: RunningDaemon;
const procs: Started[] = [];
// Registered before the desktop's own: the bars stop before their desktop ends.
t.after.each(async () => {
  for (const p of procs.splice(0)) await p.stop();
});
const session = desktopPerTest(t, 'sway', 'backup');

async function cli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const result = await execa(process.execPath, [HIBOSS, ...args], { env: daemon.env, extendEnv: false, reject: false, timeout: 120_000 });
  return { code: result.exitCode ?? -1, stdout: String(result.stdout), stderr: String(result.stderr) };
}

async function status() {
  const { stdout } = await cli('status', '--json');
  return DaemonStatus.parse(JSON.parse(stdout)).vms.find((vm) => vm.name === 'acme')!;
}

function acme(root: string, backup: Record<string, unknown>) {
  const disk = path.join(root, 'acme.qcow2');
  if (!fs.existsSync(disk)) execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', disk, '128M']);
  const agentSocket = path.join(root, 'acme.qga');
  return {
    disk,
    agentSocket,
    config: { workspace: '2', qemu: guestQemuArgv(guest, path.join(root, 'acme.serial'), '', { agentSocket, disk }), backup },
  };
}

test('backup run (full, then incremental), list, status, restore of the full into the restarted VM', async () => {
  const root = session.sandbox.root;
  const backups = path.join(root, 'backups');
  const vm = acme(root, { target: backups, everyHours: 24, keep: 5 });
  daemon = await session.startDaemon({ vms: { acme: vm.config }, policy: { pauseAfterMs: 600_000, firstBackupAfterMs: 3_600_000 } });
  const running = daemon.client.waitForState('acme', (c) => c.state === 'running', 30_000);
  await session.wmc.command('workspace 2');
  await running;
  await withAgent(vm.agentSocket, async (agent) => {
    await startRecords(agent, { format: true, bigMiB: 16 });
    await waitForRecords(agent, 100);
  });

  const full = await cli('backup', 'run', 'acme');
  assert.is(full.code, 0, full.stderr);
  assert.match(full.stdout, /acme: backup started \(live, through QEMU\)/);
  assert.match(full.stdout, /full backup \d{8}T\d{9}Z: .* \(filesystems frozen for its start\) to .*full: no earlier backup on this target/);

  await withAgent(vm.agentSocket, (agent) => waitForRecords(agent, 300));
  const incremental = await cli('backup', 'run', 'acme');
  assert.is(incremental.code, 0, incremental.stderr);
  assert.match(incremental.stdout, /incremental backup \d{8}T\d{9}Z: .* incremental: \d+ bytes changed since/);

  const list = BackupList.parse(JSON.parse((await cli('backup', 'list', 'acme', '--json')).stdout));
  assert.equal(list.points.map((p) => [p.kind, p.consistency]), [['full', 'frozen'], ['incremental', 'frozen']]);
  assert.is(list.target, path.join(backups, 'acme'));
  const table = await cli('backup', 'list', 'acme');
  assert.match(table.stdout, new RegExp(`acme: 2 restore points in ${backups}/acme\\nID +TIME +KIND +SIZE +CONSISTENCY\\n${list.points[0]!.id} `));

  const after = await status();
  assert.ok(after.backup);
  assert.is(after.backup.unbacked, false);
  assert.is(after.backup.last, list.points[1]!.at);
  assert.is(after.backup.lastKind, 'incremental');
  assert.is(after.backup.recent.length, 2);
  assert.match((await cli('status')).stdout, /Backups:\n {2}acme: last backup just now · incremental, /);

  const inFull = checkRecords(recordsInImage(path.join(backups, 'acme', `${list.points[0]!.id}.qcow2`)));
  const restored = await cli('backup', 'restore', 'acme', list.points[0]!.id);
  assert.is(restored.code, 0, restored.stderr);
  assert.match(restored.stdout, /acme: restore of \d+T\d+Z: the VM is stopped/);
  assert.match(restored.stdout, new RegExp(`acme: restored ${list.points[0]!.id} .* onto ${vm.disk}; the disk it replaced is kept as ${vm.disk}\\.before-restore-`));
  await daemon.client.untilState('acme', (c) => c.state === 'running', 30_000).catch(async () => {
    assert.is((await status()).state, 'running');
  });
  const records = await withAgent(vm.agentSocket, (agent) => guestSh(agent, 'mkdir -p /mnt && mount -o ro /dev/vda /mnt && cat /mnt/records'));
  assert.is(checkRecords(records.stdout), inFull, 'the restarted VM holds the full backup\'s records, whole');
  assert.ok(fs.readdirSync(root).some((f) => f.startsWith('acme.qcow2.before-restore-')), 'the disk it replaced is kept');
});

test('a VM not backed up: the bar (class unbacked, tooltip), status and the failure; a good backup clears it', async () => {
  const root = session.sandbox.root;
  // The target's parent is a file: every backup fails (unreachable).
  const blocker = path.join(root, 'not-a-dir');
  fs.writeFileSync(blocker, '');
  const vm = acme(root, { target: path.join(blocker, 'backups'), everyHours: 24 });
  // An earlier daemon's history: the last good backup 10 days ago.
  const stateDir = session.stateDir('acme');
  fs.mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  const tenDaysAgo = Date.now() - 10 * 24 * 3_600_000;
  fs.writeFileSync(path.join(stateDir, 'backup-state.json'), JSON.stringify({
    version: 1, configuredSince: tenDaysAgo - 1000, bitmapPoint: null, disk: null,
    runs: [{ startedAt: tenDaysAgo, durationMs: 1000, ok: true, kind: 'full', id: '20200101T000000000Z', at: tenDaysAgo, bytes: 1000, consistency: 'frozen', message: 'full', target: 'elsewhere' }],
  }));
  daemon = await session.startDaemon({ vms: { acme: vm.config }, policy: { firstBackupAfterMs: 0 } });

  const bar = start(process.execPath, [HIBOSS, 'bar'], { env: daemon.env, extendEnv: false, stdout: 'pipe', stderr: 'pipe' });
  procs.push(bar);
  const lines = new LineReader(bar.child.stdout!);
  type Waybar = { text: string; class: string | string[]; tooltip: string };
  const flagged = JSON.parse(await lines.next((l) => Array.isArray((JSON.parse(l) as Waybar).class), 30_000)) as Waybar;
  assert.equal(flagged.class, ['none', 'unbacked']);
  assert.match(flagged.text, /⚠ backup$/);
  assert.match(flagged.tooltip, /⚠ acme: last backup 10 days ago/);

  const failed = await daemon.client.status().then((s) => s.vms[0]!.backup!);
  assert.is(failed.unbacked, true);
  assert.is(failed.last, new Date(tenDaysAgo).toISOString());
  await waitFor(async () => (await status()).backup?.lastError !== null, 30_000);
  assert.match((await status()).backup!.lastError!, /not-a-dir/);
  assert.match((await cli('status')).stdout, /⚠ acme: last backup 10 days ago · full, .* · last attempt failed: .*not-a-dir/);

  // The target reachable again: a backup now (the VM is stopped: from its disk file) clears the flag.
  fs.rmSync(blocker);
  fs.mkdirSync(blocker);
  const run = await cli('backup', 'run', 'acme');
  assert.is(run.code, 0, run.stdout + run.stderr);
  assert.match(run.stdout, /from its disk file/);
  assert.match(run.stdout, /full backup .* \(crash-consistent\)/);
  const cleared = JSON.parse(await lines.next((l) => !Array.isArray((JSON.parse(l) as Waybar).class), 30_000)) as Waybar;
  assert.is(cleared.class, 'none');
  assert.not.match(cleared.tooltip, /last backup/);
  assert.is((await status()).backup!.unbacked, false);
});

async function waitFor(check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + bound(timeoutMs);
  // The daemon's BackupChanged signal says when to look again.
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, 1000);
      daemon.client.once('backup', () => (clearTimeout(timer), resolve()));
    });
  }
}

t.run();
