/**
 * One backup and one restore, start to end, on real files and processes: what
 * the runner (./runner.ts) does for an action of the policy, and what tests and
 * the bench call directly.
 *
 * A backup: find the disk (QMP on the running QEMU, or qemu-storage-daemon on a
 * stopped VM's file) → full or incremental (chooseBackupKind, which says why) →
 * check the target has room → a job marker → the QMP job (guest frozen for its
 * start when the agent answers) → the image and its metadata committed → the
 * bitmap's starting point recorded → the target publishes (retention; restic).
 * While the job runs, the target's free space is watched: nearly full, the job
 * is cancelled cleanly (the VM undisturbed, the bitmap kept).
 *
 * A restore: the point's image (with its chain) flattened next to the disk,
 * checked, then the current disk kept aside (a hard link: the disk's path never
 * lacks a disk) and the restored one renamed over it. A failure before that
 * rename leaves the current disk as it was.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { BackupConfig } from '../../config/backup-schema.js';
import type { VmPaths } from '../../config/paths.js';
import type { QmpClient } from '../../qmp/client.js';
import { chooseBackupKind } from '../policy/backup.js';
import { findAgentSocket, GuestFreeze } from './agent.js';
import { fsyncDir, pointIdAt, type PointMeta } from './chain.js';
import type { BackupHistory, BackupRun } from './history.js';
import { BackupCancelledError, findDisk, findNode, runBackupJob, type DiskNode } from './job.js';
import { checkImage, flatten, imageInfo } from './qemu-img.js';
import { OFFLINE_NODE, openOffline, type StorageDaemon } from './storage-daemon.js';
import { freeBytesAt, type Target } from './targets.js';
import { errorMessage } from '../../shared/error-message.js';
import { DaemonError } from '../errors.js';

/** Below this much free space at the target, a running job is cancelled (and one that would not fit is not started). */
export const TARGET_MARGIN_BYTES = 16 * 1024 * 1024;
const SPACE_CHECK_MS = 200;

export interface EngineContext {
  vm: string;
  backup: BackupConfig;
  paths: Pick<VmPaths, 'runDir' | 'stateDir'>;
  target: Target;
  history: BackupHistory;
  signal: AbortSignal;
  log: (line: string) => void;
  now: () => number;
}

export type BackupSource = { live: true; qmp: QmpClient; pid: number } | { live: false; disk: string };

export interface BackupOutcome {
  point: PointMeta;
  /** One line for people: kind, size, time, why, consistency, target. */
  message: string;
}

export class BackupError extends DaemonError {}

export function formatBytes(bytes: number): string {
  if (bytes < 1024 * 1024) return `${Math.round(bytes / 1024)} KiB`;
  if (bytes < 1024 ** 3) return `${(bytes / 1024 ** 2).toFixed(1)} MiB`;
  return `${(bytes / 1024 ** 3).toFixed(2)} GiB`;
}

/** QEMU reports file names as given on its command line: relative ones are relative to its working directory. */
function resolverFor(pid: number): (file: string) => string {
  let cwd: string | null = null;
  return (file) => {
    if (path.isAbsolute(file)) return file;
    cwd ??= fs.readlinkSync(`/proc/${pid}/cwd`);
    return path.join(cwd, file);
  };
}

export async function backupOnce(ctx: EngineContext, source: BackupSource): Promise<BackupOutcome> {
  const { target, history } = ctx;
  const chain = target.chain;
  const startedAt = ctx.now();
  const run: Omit<BackupRun, 'ok' | 'message' | 'durationMs'> = { startedAt, kind: 'full', id: null, at: null, bytes: null, consistency: null, target: target.description };
  let storage: StorageDaemon | undefined;
  let stopWatch = () => {};
  let markerWritten = false;
  try {
    chain.ensure();
    await chain.finishMerge();
    chain.removePartials();
    let qmp: QmpClient;
    let disk: DiskNode;
    let agentSocket: string | null = null;
    if (source.live) {
      qmp = source.qmp;
      disk = await findDisk(qmp, ctx.backup.disk, resolverFor(source.pid));
      agentSocket = await findAgentSocket(qmp, source.pid).catch(() => null);
    } else {
      const info = await imageInfo(source.disk);
      storage = await openOffline(source.disk, info.format, ctx.paths);
      qmp = storage.qmp;
      disk = { ...(await findNode(qmp, OFFLINE_NODE)), file: source.disk, format: info.format };
    }
    const state = history.read();
    const last = chain.last();
    const { kind, why } = chooseBackupKind({
      disk: { file: disk.file, format: disk.format, virtualSize: disk.virtualSize },
      bitmap: !disk.bitmap ? { state: 'absent' } : disk.bitmap.inconsistent ? { state: 'inconsistent' } : { state: 'ok', dirtyBytes: disk.bitmap.count },
      last: last ? { id: last.id, disk: last.disk } : null,
      bitmapPoint: state.bitmapPoint?.target === target.description ? state.bitmapPoint.id : null,
    });
    run.kind = kind;
    ctx.log(`backup of ${disk.file} (${source.live ? 'live' : 'from the file'}) to ${target.description}: ${why}`);

    const estimate = kind === 'full' ? (disk.allocated ?? disk.virtualSize) : (disk.bitmap?.count ?? 0);
    const free = freeBytesAt(chain.dir);
    if (free !== null && free < estimate + TARGET_MARGIN_BYTES) {
      throw new BackupError(`the target is full: ${formatBytes(free)} free at ${chain.dir}, the ${kind} backup needs about ${formatBytes(estimate)}`);
    }
    // A full starts the bitmap afresh: until it succeeds, no incremental may build on the old one.
    if (kind === 'full') history.update((s) => void (s.bitmapPoint = null));

    const id = pointIdAt(startedAt);
    const image = chain.image(id);
    run.id = id;
    const marker = { id, kind, image, chainDir: chain.dir, target: target.description, live: source.live, startedAt, reachedPending: false, meta: null as unknown };
    history.writeMarker(marker);
    markerWritten = true;

    const controller = new AbortController();
    const abort = () => controller.abort(ctx.signal.reason);
    ctx.signal.addEventListener('abort', abort, { once: true });
    const timer = setInterval(() => {
      const left = freeBytesAt(chain.dir);
      if (left !== null && left < TARGET_MARGIN_BYTES) controller.abort(new BackupError(`the target is full (${formatBytes(left)} left at ${chain.dir})`));
    }, SPACE_CHECK_MS);
    stopWatch = () => {
      clearInterval(timer);
      ctx.signal.removeEventListener('abort', abort);
    };

    const meta = (consistency: 'frozen' | 'crash-consistent', notFrozen: string | null): PointMeta => ({
      version: 1,
      id,
      vm: ctx.vm,
      kind,
      parent: kind === 'incremental' ? last!.id : null,
      at: startedAt,
      disk: { file: disk.file, format: disk.format, virtualSize: disk.virtualSize },
      bytes: fs.statSync(image, { throwIfNoEntry: false })?.size ?? 0,
      consistency,
      why: consistency === 'frozen' ? why : `${why}; crash-consistent (${notFrozen ?? 'no guest agent'})`,
      durationMs: ctx.now() - startedAt,
    });
    const freeze = new GuestFreeze(agentSocket);
    const result = await runBackupJob(
      qmp,
      {
        disk,
        kind,
        image,
        ...(kind === 'incremental' ? { backing: path.basename(chain.image(last!.id)) } : {}),
        ...(ctx.backup.speedMiBps ? { speed: Math.round(ctx.backup.speedMiBps * 1024 * 1024) } : {}),
      },
      {
        freeze,
        signal: controller.signal,
        log: ctx.log,
        // Everything is copied: a daemon that dies from here on leaves a complete image.
        onPending: () => history.writeMarker({ ...marker, reachedPending: true, meta: meta(freeze.why ? 'crash-consistent' : 'frozen', freeze.why) }),
      },
    );
    stopWatch();
    const point = meta(result.consistency, result.why);
    chain.commit(point);
    history.update((s) => {
      s.bitmapPoint = disk.format === 'qcow2' ? { target: target.description, id } : null;
      s.disk = disk.file;
    });
    history.removeMarker();
    markerWritten = false;
    Object.assign(run, { at: point.at, bytes: point.bytes, consistency: point.consistency });
    const published = await target.publish(point, ctx.signal);
    const message =
      `${point.kind} backup ${id}: ${formatBytes(point.bytes)} in ${(point.durationMs / 1000).toFixed(1)} s` +
      `${point.consistency === 'frozen' ? ' (filesystems frozen for its start)' : ' (crash-consistent)'} to ${target.description}` +
      `${published ? `; ${published}` : ''} — ${point.why}`;
    history.addRun({ ...run, ok: true, message, durationMs: ctx.now() - startedAt });
    return { point, message };
  } catch (error) {
    stopWatch();
    if (markerWritten) {
      // The job did not complete: its image is a partial (the bitmap kept every change).
      chain.removePartials();
      history.removeMarker();
    }
    let reason = error instanceof BackupCancelledError ? `cancelled: ${error.message}` : errorMessage(error);
    // QEMU says "No space left on device": say which target, and how full.
    const left = error instanceof BackupCancelledError ? null : freeBytesAt(chain.dir);
    if (left !== null && markerWritten && left < TARGET_MARGIN_BYTES) reason = `the target is full (${formatBytes(left)} left at ${chain.dir}): ${reason}`;
    history.addRun({ ...run, ok: false, message: reason, durationMs: ctx.now() - startedAt });
    if (error instanceof BackupCancelledError) throw error;
    throw error instanceof BackupError ? error : new BackupError(reason, { cause: error });
  } finally {
    await storage?.close();
  }
}

export interface RestoreOutcome {
  id: string;
  /** The disk the restore replaced, kept (null: there was none). */
  keptAside: string | null;
  message: string;
}

/**
 * Writes point `id` (null: the latest) over `disk`, which no QEMU may hold. The
 * current disk is kept as DISK.before-restore-TIME; never deleted.
 */
export async function restoreOnce(ctx: Omit<EngineContext, 'backup'>, disk: string, id: string | null): Promise<RestoreOutcome> {
  const started = ctx.now();
  const points = await ctx.target.points();
  const point = id === null ? points.at(-1) : points.find((p) => p.id === id);
  if (!point) {
    throw new BackupError(id === null ? `no backup of ${ctx.vm} in ${ctx.target.description}` : `no backup ${id} of ${ctx.vm} in ${ctx.target.description} (hiboss backup list ${ctx.vm})`);
  }
  const scratch = path.join(ctx.paths.stateDir, 'restore-scratch');
  const temp = `${disk}.restoring`;
  fs.rmSync(scratch, { recursive: true, force: true });
  fs.mkdirSync(scratch, { recursive: true, mode: 0o700 });
  try {
    const top = await ctx.target.materialize(point.id, scratch);
    fs.rmSync(temp, { force: true });
    await flatten(top, temp);
    await checkImage(temp);
    const fd = fs.openSync(temp, 'r+');
    try {
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    let keptAside: string | null = null;
    if (fs.existsSync(disk)) {
      keptAside = `${disk}.before-restore-${new Date(started).toISOString().replace(/[-:.]/g, '')}`;
      try {
        fs.linkSync(disk, keptAside);
      } catch {
        fs.copyFileSync(disk, keptAside, fs.constants.COPYFILE_FICLONE);
      }
    }
    fs.renameSync(temp, disk);
    fsyncDir(path.dirname(disk));
    // The restored disk has no bitmap: the next backup is full (and says why).
    ctx.history.update((s) => void (s.bitmapPoint = null));
    const message = `restored ${point.id} (${new Date(point.at).toISOString()}) onto ${disk}${keptAside ? `; the disk it replaced is kept as ${keptAside}` : ''}`;
    ctx.history.addRun({ startedAt: started, durationMs: ctx.now() - started, ok: true, kind: 'restore', id: pointIdOf(point.point), at: point.at, bytes: null, consistency: point.consistency, message, target: ctx.target.description });
    return { id: point.id, keptAside, message };
  } catch (error) {
    fs.rmSync(temp, { force: true });
    const reason = errorMessage(error);
    ctx.history.addRun({ startedAt: started, durationMs: ctx.now() - started, ok: false, kind: 'restore', id: pointIdOf(point.point), at: point.at, bytes: null, consistency: null, message: reason, target: ctx.target.description });
    throw error instanceof BackupError ? error : new BackupError(reason, { cause: error });
  } finally {
    fs.rmSync(scratch, { recursive: true, force: true });
  }
}

function pointIdOf(id: string): string | null {
  return /^\d{8}T\d{9}Z$/.test(id) ? id : null;
}
