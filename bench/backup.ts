/**
 * Backup cost: a full and an incremental backup of a 1 GiB disk with
 * 1% changed, through the same path the daemon takes (daemon/backup/engine.ts:
 * real QEMU 7.2, blockdev-backup, the persistent dirty bitmap, a local target),
 * against `cp` of the same disk file as the floor — all in one run.
 *
 *   npm run build && npm run bench:backup            1 GiB, 1% changed, 3 incrementals
 *   … -- --size-mib=N --change-percent=P --rounds=R
 *
 * - The disk: a qcow2 image with every cluster written (qemu-io, 16 patterns), in
 *   a bare QEMU (`-drive if=none`): no guest, so nothing else writes meanwhile.
 * - floor: `cp DISK COPY` then fsync of the copy (a backup's image is fsynced too).
 * - full: backupOnce() from QEMU's running disk into an empty target.
 * - incremental: P% of the disk rewritten in 64 KiB clusters at seeded random
 *   offsets (HMP qemu-io), then backupOnce(): only the dirty clusters are copied.
 * Times are wall-clock; bytes are the image files' sizes on the target. The goal
 * (an incremental after 1% change costs ≤ 5% of the full) is printed, not enforced.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { BackupConfig } from '../config/backup-schema.js';
import { backupOnce, formatBytes, type EngineContext } from '../daemon/backup/engine.js';
import { BackupHistory } from '../daemon/backup/history.js';
import { flatten } from '../daemon/backup/qemu-img.js';
import { LocalTarget } from '../daemon/backup/targets.js';
import { QmpClient } from '../qmp/client.js';
import { startQemu } from '../test/harness/qemu.js';
import { mulberry32 } from '../test/harness/random.js';

const MiB = 1024 * 1024;
const CLUSTER = 64 * 1024;

function flag(name: string, fallback: number): number {
  const arg = process.argv.find((a) => a.startsWith(`--${name}=`));
  return arg ? Number(arg.split('=')[1]) : fallback;
}

const sizeMiB = flag('size-mib', 1024);
const changePercent = flag('change-percent', 1);
const rounds = flag('rounds', 3);

function ms(t: number): string {
  return t < 10_000 ? `${t.toFixed(0)} ms` : `${(t / 1000).toFixed(2)} s`;
}

function pct(part: number, whole: number): string {
  return `${((part / whole) * 100).toFixed(2)} %`;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

async function main(): Promise<void> {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'hb-bench-backup-'));
  const disk = path.join(root, 'disk.qcow2');
  try {
    console.log(`disk: ${sizeMiB} MiB qcow2, fully written; change per incremental: ${changePercent} % in ${CLUSTER / 1024} KiB clusters; ${rounds} incrementals`);
    execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', disk, `${sizeMiB}M`]);
    const chunk = Math.max(1, Math.floor(sizeMiB / 16));
    const writes: string[] = [];
    for (let i = 0, off = 0; off < sizeMiB; i++, off += chunk) writes.push('-c', `write -P ${0x11 + i} ${off}M ${Math.min(chunk, sizeMiB - off)}M`);
    execFileSync('qemu-io', [...writes, disk], { stdio: 'ignore' });

    // Floor: the disk file copied, and the copy on disk for good.
    const copy = path.join(root, 'copy.qcow2');
    let t0 = performance.now();
    execFileSync('cp', [disk, copy]);
    const fd = fs.openSync(copy, 'r+');
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    const cpMs = performance.now() - t0;
    const cpBytes = fs.statSync(copy).size;
    fs.rmSync(copy);

    const qemu = await startQemu(path.join(root, 'q'), ['-drive', `file=${disk},if=none,id=drive0,format=qcow2,node-name=disk0`]);
    const qmp = await QmpClient.connect(qemu.qmpSocket);
    try {
      const backups = path.join(root, 'backups');
      const target = new LocalTarget(backups, 'bench', 100);
      const history = new BackupHistory(path.join(root, 'state'));
      const ctx: EngineContext = {
        vm: 'bench', backup: BackupConfig.parse({ target: backups, keep: 100 }), paths: { runDir: path.join(root, 'q'), stateDir: path.join(root, 'state') },
        target, history, signal: new AbortController().signal, log: () => {}, now: Date.now,
      };
      const source = { live: true as const, qmp, pid: qemu.process.pid };

      t0 = performance.now();
      const full = await backupOnce(ctx, source);
      const fullMs = performance.now() - t0;
      if (full.point.kind !== 'full') throw new Error(`expected a full backup: ${full.message}`);

      const random = mulberry32(12);
      const clusters = Math.floor((sizeMiB * MiB) / CLUSTER);
      const perRound = Math.max(1, Math.round((clusters * changePercent) / 100));
      const incrementals: { ms: number; bytes: number; id: string }[] = [];
      for (let round = 0; round < rounds; round++) {
        const chosen = new Set<number>();
        while (chosen.size < perRound) chosen.add(Math.floor(random() * clusters));
        for (const cluster of chosen) await qmp.hmp(`qemu-io drive0 "write -P ${0x80 + round} ${cluster * CLUSTER} ${CLUSTER}"`);
        t0 = performance.now();
        const inc = await backupOnce(ctx, source);
        const incMs = performance.now() - t0;
        if (inc.point.kind !== 'incremental') throw new Error(`expected an incremental: ${inc.message}`);
        incrementals.push({ ms: incMs, bytes: inc.point.bytes, id: inc.point.id });
      }

      // A restore's work: the chain (full + incrementals) flattened into one image.
      t0 = performance.now();
      await flatten(target.chain.image(incrementals.at(-1)!.id), path.join(root, 'restored.qcow2'));
      const restoreMs = performance.now() - t0;

      const incMs = median(incrementals.map((i) => i.ms));
      const incBytes = median(incrementals.map((i) => i.bytes));
      const changed = perRound * CLUSTER;
      console.log('');
      console.log('| what | time | bytes on the target |');
      console.log('| --- | --- | --- |');
      console.log(`| floor: cp + fsync of the disk file | ${ms(cpMs)} | ${formatBytes(cpBytes)} |`);
      console.log(`| full backup (live, blockdev-backup) | ${ms(fullMs)} | ${formatBytes(full.point.bytes)} |`);
      console.log(`| incremental after ${changePercent} % changed (${formatBytes(changed)}), median of ${rounds} | ${ms(incMs)} | ${formatBytes(incBytes)} |`);
      console.log(`| restore: full + ${rounds} incrementals flattened | ${ms(restoreMs)} | |`);
      console.log('');
      console.log(`full vs floor: time ${(fullMs / cpMs).toFixed(2)}×, bytes ${(full.point.bytes / cpBytes).toFixed(2)}×`);
      console.log(`incremental vs full: time ${pct(incMs, fullMs)}, bytes ${pct(incBytes, full.point.bytes)} (each incremental: ${incrementals.map((i) => `${ms(i.ms)}/${formatBytes(i.bytes)}`).join(', ')})`);
      const met = incMs <= fullMs * 0.05 && incBytes <= full.point.bytes * 0.05;
      console.log(`goal (incremental after 1 % change ≤ 5 % of the full, time and bytes): ${met ? 'met' : 'NOT met'}`);
    } finally {
      qmp.close();
      await qemu.process.stop();
    }
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
}

main().then(
  () => process.exit(0),
  (error) => {
    console.error(`bench:backup failed: ${(error as Error).stack ?? error}`);
    process.exit(1);
  },
);
