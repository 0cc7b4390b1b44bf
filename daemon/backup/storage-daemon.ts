/**
 * A stopped (or hibernated) VM's disk is backed up from its file by
 * qemu-storage-daemon: QEMU's block layer without a VM, so the very same QMP
 * job (daemon/backup/job.ts) runs on it and the persistent bitmap in the qcow2
 * file carries the incremental chain on. It holds the image's lock while it
 * runs, so the VM cannot start on the disk meanwhile (the policy cancels the
 * backup first). Its pidfile and socket live in the VM's runtime dir, so a
 * daemon that died mid-backup leaves something the next one can find and end.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import type { VmPaths } from '../../config/paths.js';
import { QmpClient } from '../../qmp/client.js';
import { QmpConnectError } from '../../qmp/errors.js';
import { DaemonError } from '../errors.js';

export const OFFLINE_NODE = 'disk0';

export function storageDaemonPaths(paths: Pick<VmPaths, 'runDir'>): { socket: string; pidFile: string; logFile: string } {
  return {
    socket: path.join(paths.runDir, 'backup-qsd.sock'),
    pidFile: path.join(paths.runDir, 'backup-qsd.pid'),
    logFile: path.join(paths.runDir, 'backup-qsd.log'),
  };
}

export interface StorageDaemon {
  qmp: QmpClient;
  pid: number;
  /** Quits it (the bitmap is written back into the image) and waits until it is gone. */
  close(): Promise<void>;
}

/** QEMU's option syntax doubles commas inside values. */
function optionValue(text: string): string {
  return text.replace(/,/g, ',,');
}

export async function openOffline(disk: string, format: string, paths: Pick<VmPaths, 'runDir'>, timeoutMs = 10_000): Promise<StorageDaemon> {
  const { socket, pidFile, logFile } = storageDaemonPaths(paths);
  for (const stale of [socket, pidFile]) fs.rmSync(stale, { force: true });
  const log = fs.openSync(logFile, 'w', 0o600);
  const blockdev = format === 'qcow2'
    ? { driver: 'qcow2', 'node-name': OFFLINE_NODE, file: { driver: 'file', filename: disk } }
    : { driver: 'raw', 'node-name': OFFLINE_NODE, file: { driver: 'file', filename: disk } };
  const child = spawn(
    'qemu-storage-daemon',
    [
      '--blockdev', JSON.stringify(blockdev),
      '--chardev', `socket,id=qmp0,path=${optionValue(socket)},server=on,wait=off`,
      '--monitor', 'chardev=qmp0',
      '--pidfile', pidFile,
    ],
    { stdio: ['ignore', log, log] },
  );
  fs.closeSync(log);
  const exited = new Promise<number | null>((resolve) => {
    child.once('exit', (code) => resolve(code));
    child.once('error', () => resolve(127));
  });
  const deadline = Date.now() + timeoutMs;
  let qmp: QmpClient | undefined;
  for (let delay = 5; !qmp; delay = Math.min(delay * 2, 100)) {
    const gone = await Promise.race([exited.then(() => true), new Promise<false>((r) => setTimeout(() => r(false), delay))]);
    if (gone) throw new DaemonError(`qemu-storage-daemon could not open ${disk}: ${tail(logFile)}`);
    if (!fs.existsSync(socket)) {
      if (Date.now() > deadline) break;
      continue;
    }
    try {
      qmp = await QmpClient.connect(socket);
    } catch (error) {
      if (!(error instanceof QmpConnectError) || Date.now() > deadline) break;
    }
  }
  if (!qmp) {
    child.kill('SIGKILL');
    throw new DaemonError(`qemu-storage-daemon did not answer on ${socket} within ${timeoutMs} ms: ${tail(logFile)}`);
  }
  const client = qmp;
  return {
    qmp: client,
    pid: child.pid!,
    async close() {
      await client.execute('quit').catch(() => undefined);
      client.close();
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
      for (const file of [socket, pidFile]) fs.rmSync(file, { force: true });
    },
  };
}

function tail(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8').trim().split('\n').slice(-2).join(' | ') || '(no output)';
  } catch {
    return '(no output)';
  }
}

/**
 * A storage daemon left running by a daemon that died mid-backup: connected to
 * and returned (its job is then cleaned up like a VM's), or null. Its pid must
 * be alive and name our socket (a recycled pid would not).
 */
export async function adoptOffline(paths: Pick<VmPaths, 'runDir'>): Promise<StorageDaemon | null> {
  const { socket, pidFile } = storageDaemonPaths(paths);
  let pid: number;
  try {
    pid = Number(fs.readFileSync(pidFile, 'utf8').trim());
  } catch {
    return null;
  }
  if (!Number.isInteger(pid) || pid <= 1) return null;
  let cmdline: string;
  try {
    cmdline = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8');
  } catch {
    fs.rmSync(pidFile, { force: true });
    return null;
  }
  if (!cmdline.split('\0').some((arg) => arg.includes(optionValue(socket)))) return null;
  const qmp = await QmpClient.connect(socket);
  return {
    qmp,
    pid,
    async close() {
      await qmp.execute('quit').catch(() => undefined);
      qmp.close();
      for (let i = 0; i < 50 && alive(pid); i++) await new Promise((r) => setTimeout(r, 100));
      if (alive(pid)) process.kill(pid, 'SIGKILL');
      for (const file of [socket, pidFile]) fs.rmSync(file, { force: true });
    },
  };
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
