/**
 * The VMs the backup tests below the daemon back up, in a test's scratch
 * directory (scratch.ts) and ended with it: bare QEMU on a qcow2 disk that
 * QEMU's own qemu-io writes to (no guest needed), or the real guest on its
 * virtio disk with its agent; and the engine's context for them.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import type { BackupConfig } from '../../config/backup-schema.js';
import type { VmPaths } from '../../config/paths.js';
import type { BackupSource, EngineContext } from '../../daemon/backup/engine.js';
import type { BackupHistory } from '../../daemon/backup/history.js';
import type { Target } from '../../daemon/backup/targets.js';
import type { AgentClient } from '../../qga/client.js';
import { QmpClient } from '../../qmp/client.js';
import { guestQemuArgv, type Guest } from './guest.js';
import { start, waitForFile, waitUntilAccepting, type Started } from './processes.js';
import { startQemu, type RunningQemu } from './qemu.js';
import { connectAgent, withAgent } from './records.js';
import type { Scratch } from './scratch.js';

/** A fresh, empty qcow2 image of `sizeMiB` in the scratch directory. */
export function createDisk(scratch: Scratch, name: string, sizeMiB: number): string {
  const disk = path.join(scratch.root, name);
  execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', disk, `${sizeMiB}M`]);
  return disk;
}

export interface DiskQemu {
  qemu: RunningQemu;
  qmp: QmpClient;
  /** What the engine backs up: this QEMU, live. */
  source: BackupSource & { live: true };
}

/**
 * Bare QEMU with `disk` as drive0 (node disk0) and no guest device on it, so
 * HMP's `qemu-io drive0 "…"` may write to it; stopped after the test.
 */
export async function startDiskQemu(scratch: Scratch, disk: string): Promise<DiskQemu> {
  const qemu = await startQemu(path.join(scratch.root, 'q'), ['-drive', `file=${disk},if=none,id=drive0,format=qcow2,node-name=disk0`]);
  let qmp: QmpClient | undefined;
  scratch.defer(async () => {
    qmp?.close();
    await qemu.process.stop();
  });
  qmp = await QmpClient.connect(qemu.qmpSocket);
  return { qemu, qmp, source: { live: true, qmp, pid: qemu.process.pid } };
}

export interface GuestOnDisk {
  qemu: Started;
  qmp: QmpClient;
  agentSocket: string;
  source: BackupSource & { live: true };
  /**
   * Talks to the guest through a connection of its own. QEMU serves the agent's
   * channel to one client at a time: between backups, never during one (a
   * backup freezes through its own connection).
   */
  inGuest<T>(fn: (agent: AgentClient) => Promise<T>): Promise<T>;
  /** quit: QEMU closes the disk cleanly (the persistent bitmap is written into the qcow2 file). Once; again after the test. */
  quit(): Promise<void>;
}

/** The real guest on `disk` (virtio, node disk0), booted until its agent answers; quit after the test. */
export async function bootGuestOnDisk(scratch: Scratch, guest: Guest, disk: string, name = 'acme'): Promise<GuestOnDisk> {
  const qmpSocket = path.join(scratch.root, `${name}.qmp`);
  const agentSocket = path.join(scratch.root, `${name}.qga`);
  const [file, ...args] = guestQemuArgv(guest, path.join(scratch.root, `${name}.serial`), '', { agentSocket, disk });
  const qemu = start(file!, [...args, '-qmp', `unix:${qmpSocket},server=on,wait=off`]);
  let qmp: QmpClient | undefined;
  let quitting: Promise<void> | undefined;
  const quit = () =>
    (quitting ??= (async () => {
      if (!qmp) return qemu.stop(); // never connected: nothing to close cleanly
      await qmp.execute('quit').catch(() => undefined);
      qmp.close();
      await qemu.exited;
    })());
  scratch.defer(quit);
  await waitForFile(qmpSocket, 15_000);
  await waitUntilAccepting(qmpSocket);
  qmp = await QmpClient.connect(qmpSocket);
  (await connectAgent(agentSocket)).close();
  return { qemu, qmp, agentSocket, source: { live: true, qmp, pid: qemu.pid }, inGuest: (fn) => withAgent(agentSocket, fn), quit };
}

/**
 * The engine's context for VM `acme`, quiet and never cancelled; by default its
 * run dir (made) and state dir in the scratch directory.
 */
export function engineContext(
  scratch: Scratch,
  parts: { backup: BackupConfig; target: Target; history: BackupHistory; paths?: Pick<VmPaths, 'runDir' | 'stateDir'> },
): EngineContext {
  const paths = parts.paths ?? { runDir: path.join(scratch.root, 'run'), stateDir: path.join(scratch.root, 'state') };
  fs.mkdirSync(paths.runDir, { recursive: true, mode: 0o700 });
  return { vm: 'acme', ...parts, paths, signal: new AbortController().signal, log: () => {}, now: Date.now };
}

/** Whether two images hold the same content (qemu-img compare; -U: QEMU may hold them open). */
export function sameImage(a: string, b: string): boolean {
  try {
    execFileSync('qemu-img', ['compare', '-U', a, b], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}
