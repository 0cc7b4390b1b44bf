/**
 * One backup job through QMP — on a running VM's QEMU, or on a
 * qemu-storage-daemon holding a stopped VM's disk: the same commands either way.
 *
 *   blockdev-add the target image (an incremental's: its backing not opened)
 *   freeze the guest (if an agent answers) → one transaction: [the bitmap] +
 *   blockdev-backup → thaw at once (the copy is of that instant: copy-before-write)
 *   wait: the job reaches `pending` (all copied) → job-finalize → `concluded` → job-dismiss
 *   blockdev-del the target
 *
 * The job never finalizes on its own (auto-finalize off): if the daemon dies
 * mid-job, the bitmap is untouched until a daemon decides (recovery cancels it,
 * so no dirty bit is lost), and the job waits to be found (auto-dismiss off).
 * A failed or cancelled job keeps every dirty bit (bitmap-mode on-success): the
 * next incremental is still complete.
 */
import type { QmpClient } from '../../qmp/client.js';
import { QmpCommandError } from '../../qmp/errors.js';
import type { BlockdevCreateOptions, BlockDeviceInfo, DirtyBitmapInfo, JobInfo, TransactionAction } from '../../qmp/protocol.js';
import type { z } from 'zod';

type BlockdevCreate = z.input<typeof BlockdevCreateOptions>;
import type { Consistency, GuestFreeze } from './agent.js';
import { DaemonError } from '../errors.js';

export const BITMAP = 'hiboss-backup';
export const JOB_ID = 'hiboss-backup';
export const TARGET_NODE = 'hiboss-backup-target';
export const TARGET_FILE_NODE = 'hiboss-backup-target-file';
const CREATE_JOB_ID = 'hiboss-backup-create';

export class BackupJobError extends DaemonError {}
export class BackupCancelledError extends BackupJobError {}

/** The VM's disk as QEMU sees it: the node a job copies from. */
export interface DiskNode {
  node: string;
  file: string;
  format: string;
  virtualSize: number;
  /** Bytes allocated in the image file (what a full backup copies, about). */
  allocated: number | null;
  bitmap: DirtyBitmapInfo | undefined;
}

function toDisk(info: BlockDeviceInfo & { 'node-name': string }): DiskNode {
  return {
    node: info['node-name'],
    file: info.file,
    format: info.drv,
    virtualSize: info.image['virtual-size'],
    allocated: info.image['actual-size'] ?? null,
    bitmap: info['dirty-bitmaps']?.find((b) => b.name === BITMAP),
  };
}

/**
 * The writable disk of a VM (query-block: the devices' root nodes), or the one
 * whose file is `wanted`. `resolve` turns QEMU's (possibly relative) file names into absolute ones.
 */
export async function findDisk(qmp: QmpClient, wanted: string | undefined, resolve: (file: string) => string): Promise<DiskNode> {
  const blocks = await qmp.execute('query-block');
  const writable = blocks
    .map((block) => block.inserted)
    .filter((inserted): inserted is BlockDeviceInfo & { 'node-name': string } => inserted !== undefined && !inserted.ro && inserted['node-name'] !== undefined)
    .map((inserted) => ({ ...toDisk(inserted), file: resolve(inserted.file) }));
  if (wanted !== undefined) {
    const disk = writable.find((d) => d.file === wanted);
    if (!disk) throw new BackupJobError(`the VM has no writable disk ${wanted} (it has: ${writable.map((d) => d.file).join(', ') || 'none'})`);
    return disk;
  }
  if (writable.length === 0) throw new BackupJobError('the VM has no writable disk to back up');
  if (writable.length > 1) throw new BackupJobError(`the VM has ${writable.length} writable disks (${writable.map((d) => d.file).join(', ')}): set backup.disk to the one to back up`);
  return writable[0]!;
}

/** A node by name (qemu-storage-daemon has no devices, so no query-block). */
export async function findNode(qmp: QmpClient, node: string): Promise<DiskNode> {
  const nodes = await qmp.execute('query-named-block-nodes', { flat: true });
  const info = nodes.find((n) => n['node-name'] === node);
  if (!info) throw new BackupJobError(`no block node ${node}`);
  return toDisk(info);
}

export interface JobPlan {
  disk: DiskNode;
  kind: 'full' | 'incremental';
  /** The new image, and for an incremental its backing image's name (relative to it). */
  image: string;
  backing?: string;
  /** Bytes per second; 0 or undefined: unlimited. */
  speed?: number;
}

export interface JobHooks {
  freeze: GuestFreeze;
  /** All data is copied; the job waits for finalize (the caller notes that it got this far). */
  onPending?: () => void;
  /** Aborting cancels the job (cleanly: bitmap kept, target node removed). */
  signal: AbortSignal;
  log?: (line: string) => void;
}

export interface JobResult {
  /** Bytes the job copied (QEMU's progress). */
  copied: number;
  consistency: Consistency;
  /** Why not frozen, when crash-consistent. */
  why: string | null;
}

/**
 * The bitmap part of the transaction: a full starts the bitmap afresh at the
 * instant it copies. (An old one is removed before: QEMU 7.2 removes bitmaps in
 * a transaction's commit phase, after the add has seen the name taken.)
 */
function bitmapActions(plan: JobPlan): TransactionAction[] {
  const { disk, kind } = plan;
  if (kind === 'incremental' || disk.format !== 'qcow2') return [];
  return [{ type: 'block-dirty-bitmap-add', data: { node: disk.node, name: BITMAP, persistent: true } }];
}

export async function runBackupJob(qmp: QmpClient, plan: JobPlan, hooks: JobHooks): Promise<JobResult> {
  const { disk, kind } = plan;
  hooks.signal.throwIfAborted();
  await addTarget(qmp, plan);
  // A full replaces the bitmap (inconsistent, or not where the chain ends): what it
  // recorded is not needed, the copy takes everything.
  if (kind === 'full' && disk.format === 'qcow2' && disk.bitmap) await qmp.execute('block-dirty-bitmap-remove', { node: disk.node, name: BITMAP });
  const outcome = watchJob(qmp, hooks.signal);
  let consistency: Consistency = 'crash-consistent';
  try {
    consistency = await hooks.freeze.freeze();
    try {
      await qmp.execute('transaction', {
        actions: [
          ...bitmapActions(plan),
          {
            type: 'blockdev-backup',
            data: {
              'job-id': JOB_ID,
              device: disk.node,
              target: TARGET_NODE,
              sync: kind,
              ...(kind === 'incremental' ? { bitmap: BITMAP, 'bitmap-mode': 'on-success' as const } : {}),
              ...(plan.speed ? { speed: plan.speed } : {}),
              'on-target-error': 'report',
              'auto-finalize': false,
              'auto-dismiss': false,
            },
          },
        ],
      });
    } finally {
      // The copy is of the instant the job started: the guest may write again at once.
      const problem = await hooks.freeze.thaw();
      if (problem) hooks.log?.(problem);
    }
    const end = await outcome.settled;
    if (end.kind === 'pending') {
      hooks.onPending?.();
      const concluded = outcome.next('concluded');
      await qmp.execute('job-finalize', { id: JOB_ID });
      await concluded;
      const info = await jobInfo(qmp);
      await dismiss(qmp);
      if (info?.error) throw new BackupJobError(`finalizing the backup failed: ${info.error}`);
      return { copied: info?.['current-progress'] ?? end.progress, consistency, why: hooks.freeze.why };
    }
    await dismiss(qmp);
    if (end.kind === 'cancelled') throw new BackupCancelledError(end.reason);
    throw new BackupJobError(end.reason);
  } catch (error) {
    // A transaction that failed never started the job; one that started is cancelled.
    await cancelJob(qmp).catch(() => undefined);
    throw error;
  } finally {
    outcome.dispose();
    await removeTarget(qmp);
  }
}

/**
 * The target image made and opened by QEMU itself (blockdev-create: no qemu-img
 * process to start, a few QMP round trips): an empty file, a qcow2 image on it
 * (an incremental's backed by the previous point, by relative name), then the
 * qcow2 node — without its backing chain: the job writes only what changed.
 */
async function addTarget(qmp: QmpClient, plan: JobPlan): Promise<void> {
  await create(qmp, { driver: 'file', filename: plan.image, size: 0 });
  await qmp.execute('blockdev-add', { driver: 'file', 'node-name': TARGET_FILE_NODE, filename: plan.image });
  await create(qmp, {
    driver: 'qcow2',
    file: TARGET_FILE_NODE,
    size: plan.disk.virtualSize,
    ...(plan.backing !== undefined ? { 'backing-file': plan.backing, 'backing-fmt': 'qcow2' as const } : {}),
  });
  await qmp.execute('blockdev-add', { driver: 'qcow2', 'node-name': TARGET_NODE, file: TARGET_FILE_NODE, ...(plan.backing !== undefined ? { backing: null } : {}) });
}

/** One blockdev-create job, waited for and dismissed; its error thrown. */
async function create(qmp: QmpClient, options: BlockdevCreate): Promise<void> {
  const concluded = new Promise<void>((resolve) => {
    const off = qmp.onEvent('JOB_STATUS_CHANGE', (event) => {
      if (event.data.id === CREATE_JOB_ID && event.data.status === 'concluded') {
        off();
        resolve();
      }
    });
  });
  await qmp.execute('blockdev-create', { 'job-id': CREATE_JOB_ID, options });
  await concluded;
  const info = (await qmp.execute('query-jobs')).find((job) => job.id === CREATE_JOB_ID);
  await qmp.execute('job-dismiss', { id: CREATE_JOB_ID });
  if (info?.error) throw new BackupJobError(`creating the backup image: ${info.error}`);
}

async function removeTarget(qmp: QmpClient): Promise<void> {
  await qmp.execute('blockdev-del', { 'node-name': TARGET_NODE }).catch(() => undefined);
  await qmp.execute('blockdev-del', { 'node-name': TARGET_FILE_NODE }).catch(() => undefined);
}

type JobEnd = { kind: 'pending'; progress: number } | { kind: 'failed'; reason: string } | { kind: 'cancelled'; reason: string };

/** Follows our job's status changes from the start (events come before the replies that cause them). */
function watchJob(qmp: QmpClient, signal: AbortSignal) {
  let cancelReason: string | null = null;
  let settle!: (end: JobEnd) => void;
  const settled = new Promise<JobEnd>((resolve) => (settle = resolve));
  const waiters: Array<{ status: string; resolve: () => void }> = [];
  const offStatus = qmp.onEvent('JOB_STATUS_CHANGE', (event) => {
    if (event.data.id !== JOB_ID) return;
    for (const waiter of waiters.filter((w) => w.status === event.data.status)) {
      waiters.splice(waiters.indexOf(waiter), 1);
      waiter.resolve();
    }
    if (event.data.status === 'pending') {
      void jobInfo(qmp).then((info) => settle({ kind: 'pending', progress: info?.['current-progress'] ?? 0 }), () => settle({ kind: 'pending', progress: 0 }));
    }
    if (event.data.status === 'concluded') {
      void jobInfo(qmp).then(
        (info) => settle(cancelReason !== null ? { kind: 'cancelled', reason: cancelReason } : { kind: 'failed', reason: info?.error ?? 'the backup job ended without finishing' }),
        (error: Error) => settle({ kind: 'failed', reason: error.message }),
      );
    }
  });
  const onClose = () => settle({ kind: 'failed', reason: 'QEMU went away during the backup (the VM stopped?)' });
  qmp.once('close', onClose);
  const onAbort = () => {
    cancelReason = signal.reason instanceof Error ? signal.reason.message : String(signal.reason ?? 'cancelled');
    void cancelJob(qmp).catch(() => undefined);
  };
  signal.addEventListener('abort', onAbort, { once: true });
  return {
    settled,
    next: (status: string) => new Promise<void>((resolve) => waiters.push({ status, resolve })),
    dispose() {
      offStatus();
      qmp.off('close', onClose);
      signal.removeEventListener('abort', onAbort);
    },
  };
}

async function jobInfo(qmp: QmpClient): Promise<JobInfo | undefined> {
  return (await qmp.execute('query-jobs')).find((job) => job.id === JOB_ID);
}

async function dismiss(qmp: QmpClient): Promise<void> {
  await qmp.execute('job-dismiss', { id: JOB_ID }).catch(() => undefined);
}

/** Cancels our job if it exists, whatever its state; resolves once it is gone. */
export async function cancelJob(qmp: QmpClient): Promise<boolean> {
  const info = await jobInfo(qmp);
  if (!info) return false;
  if (info.status !== 'concluded' && info.status !== 'null') {
    let stopWaiting = () => {};
    const concluded = new Promise<void>((resolve) => {
      const off = qmp.onEvent('JOB_STATUS_CHANGE', (event) => {
        if (event.data.id === JOB_ID && event.data.status === 'concluded') resolve();
      });
      const onClose = () => resolve();
      qmp.once('close', onClose);
      stopWaiting = () => {
        off();
        qmp.off('close', onClose);
      };
    });
    try {
      await qmp.execute('job-cancel', { id: JOB_ID });
      await concluded;
    } catch (error) {
      if (!(error instanceof QmpCommandError)) throw error; // already concluding
    } finally {
      // Both listeners go, however it ended: the connection lives as long as the VM.
      stopWaiting();
    }
  }
  await dismiss(qmp);
  return true;
}

/** Leftovers of a job a dead daemon started (found at adoption): cancelled, target node removed. */
export async function cleanUpOrphanJob(qmp: QmpClient): Promise<{ jobFound: boolean; status: string | null }> {
  const info = await jobInfo(qmp);
  const found = await cancelJob(qmp);
  // A create job left concluded (the daemon died while making the target), and the target's nodes.
  await qmp.execute('job-dismiss', { id: CREATE_JOB_ID }).catch(() => undefined);
  await removeTarget(qmp);
  return { jobFound: found, status: info?.status ?? null };
}
