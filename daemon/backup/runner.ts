/**
 * Carries out the policy's backup actions (daemon/policy/backup.ts decides) on
 * real files and processes, and reports back as policy events: a backup or
 * restore done or failed, each VM's history as read from its state dir. At
 * start-up it first finds what a daemon that died mid-backup left behind (a job
 * marker, a job still in QEMU, a storage daemon, a partial image, a frozen
 * guest, a half-done merge or restore) and settles it, so the next backup is
 * correct. It decides nothing.
 */
import fs from 'node:fs';
import type { BackupList, BackupRunInfo, VmBackupStatus } from '../../api/backup-schema.js';
import { ensureVmDirs, vmPaths, type RuntimeRoots } from '../../config/paths.js';
import type { Config } from '../../config/schema.js';
import type { BackupAction, BackupStatusPart } from '../policy/backup.js';
import { unhandled } from '../policy/types.js';
import type { PolicyEvent } from '../policy/policy.js';
import type { VmProcess } from '../vm/vm-process.js';
import { findAgentSocket, thawIfFrozen } from './agent.js';
import { Chain, PointMeta } from './chain.js';
import { diskPathFor } from './disk-path.js';
import { backupOnce, restoreOnce, type BackupSource, type EngineContext } from './engine.js';
import { BackupHistory } from './history.js';
import { BackupCancelledError, cleanUpOrphanJob } from './job.js';
import { checkImage } from './qemu-img.js';
import { adoptOffline } from './storage-daemon.js';
import { targetFor, type Target } from './targets.js';
import { findImage, setImageAside } from '../vm/hibernate.js';
import { errorMessage } from '../../shared/error-message.js';
import { DaemonError } from '../errors.js';

export interface BackupRunnerOptions {
  roots: RuntimeRoots;
  config: () => Config;
  post: (event: PolicyEvent) => void;
  /** The VM's QEMU, when it runs (its QMP connection carries the live job). */
  process: (name: string) => VmProcess | undefined;
  now: () => number;
}

export class BackupRunner {
  #jobs = new Map<string, AbortController>();
  /** VMs whose history the policy has been told, by target (a new target is told again). */
  #told = new Map<string, string>();
  #recentCache = new Map<string, { mtime: number; recent: BackupRunInfo[] }>();

  constructor(private readonly options: BackupRunnerOptions) {}

  #context(name: string): { target: Target; history: BackupHistory; paths: ReturnType<typeof vmPaths> } | null {
    const backup = this.options.config().vms[name]?.backup;
    if (!backup) return null;
    const paths = vmPaths(this.options.roots, name);
    return { target: targetFor(name, backup, paths.stateDir), history: new BackupHistory(paths.stateDir), paths };
  }

  #note(name: string, message: string, level: 'info' | 'warn' = 'info'): void {
    this.options.post({ type: 'note', name, message, level });
  }

  /**
   * Tells the policy each configured VM's history (the first time a setting is
   * seen, it is configured from now on). Called at start-up and after a reload.
   */
  load(): void {
    for (const [name, vm] of Object.entries(this.options.config().vms)) {
      if (!vm.backup) {
        this.#told.delete(name);
        continue;
      }
      if (this.#told.get(name) === vm.backup.target) continue;
      const context = this.#context(name)!;
      let state = context.history.read();
      try {
        if (state.configuredSince === null) {
          ensureVmDirs(this.options.roots, context.paths); // a real directory of ours, never through a symlink
          state = context.history.update((s) => void (s.configuredSince = this.options.now()));
        }
      } catch (error) {
        this.#note(name, `cannot write its backup state in ${context.paths.stateDir}: ${errorMessage(error)}`, 'warn');
      }
      const good = context.history.lastGood(state);
      const failure = state.runs.filter((run) => !run.ok && run.kind !== 'restore').at(-1);
      this.options.post({
        type: 'backup-known',
        name,
        configuredSince: state.configuredSince ?? this.options.now(),
        lastGood: good && good.id !== null && good.at !== null && good.kind !== 'restore' ? { id: good.id, at: good.at, kind: good.kind, bytes: good.bytes } : null,
        lastFailure: failure && (!good || failure.startedAt > good.startedAt) ? { at: failure.startedAt, reason: failure.message } : null,
      });
      this.#told.set(name, vm.backup.target);
    }
  }

  carryOut(action: Extract<BackupAction, { type: 'backup-run' | 'backup-cancel' | 'backup-restore' }>): void {
    switch (action.type) {
      case 'backup-run':
        void this.#backup(action.name, action.live);
        return;
      case 'backup-cancel':
        this.#jobs.get(action.name)?.abort(new DaemonError(action.reason));
        return;
      case 'backup-restore':
        void this.#restore(action.name, action.id);
        return;
      default:
        return unhandled(action);
    }
  }

  #engine(name: string, signal: AbortSignal): EngineContext | null {
    const context = this.#context(name);
    const backup = this.options.config().vms[name]?.backup;
    if (!context || !backup) return null;
    return {
      vm: name,
      backup,
      paths: context.paths,
      target: context.target,
      history: context.history,
      signal,
      log: (line) => this.#note(name, line),
      now: this.options.now,
    };
  }

  async #backup(name: string, live: boolean): Promise<void> {
    const post = this.options.post;
    const controller = new AbortController();
    this.#jobs.set(name, controller);
    try {
      const ctx = this.#engine(name, controller.signal);
      if (!ctx) return post({ type: 'backup-failed', name, reason: 'no backup setting any more', cancelled: true });
      ensureVmDirs(this.options.roots, vmPaths(this.options.roots, name));
      let source: BackupSource;
      if (live) {
        const vm = this.options.process(name);
        if (!vm || vm.ended) return post({ type: 'backup-failed', name, reason: 'its QEMU is gone (it stopped just now?)', cancelled: true });
        source = { live: true, qmp: vm.qmp, pid: vm.pid };
      } else {
        const vmConfig = this.options.config().vms[name]!;
        const disk = diskPathFor(name, vmConfig, ctx.paths, ctx.history.read().disk);
        if (!fs.existsSync(disk)) {
          return post({ type: 'backup-failed', name, reason: `no disk yet at ${disk} (it has never run)`, cancelled: true });
        }
        source = { live: false, disk };
      }
      const outcome = await backupOnce(ctx, source);
      const { id, at, kind, bytes } = outcome.point;
      post({ type: 'backup-done', name, point: { id, at, kind, bytes }, message: `${name}: ${outcome.message}` });
    } catch (error) {
      post({ type: 'backup-failed', name, reason: errorMessage(error), cancelled: error instanceof BackupCancelledError });
    } finally {
      this.#jobs.delete(name);
    }
  }

  async #restore(name: string, id: string | null): Promise<void> {
    const post = this.options.post;
    try {
      const ctx = this.#engine(name, new AbortController().signal);
      if (!ctx) return post({ type: 'restore-failed', name, reason: 'no backup setting any more' });
      if (this.options.process(name)) return post({ type: 'restore-failed', name, reason: 'its QEMU still runs' });
      const disk = diskPathFor(name, this.options.config().vms[name]!, ctx.paths, ctx.history.read().disk);
      const outcome = await restoreOnce(ctx, disk, id);
      // A hibernated VM's memory image belongs to the disk that was replaced: resuming it on the
      // restored disk would corrupt it. Kept aside (never deleted); the VM boots cold.
      const aside = this.#setMemoryImageAside(name);
      if (aside) {
        this.#note(name, `its memory image (hibernated) belonged to the replaced disk: kept aside as ${aside}; it boots cold`, 'warn');
        post({ type: 'observed', name, state: 'stopped', reason: 'restored from a backup (its hibernated memory image set aside)' });
      }
      post({ type: 'restore-done', name, id: outcome.id, message: `${name}: ${outcome.message}` });
    } catch (error) {
      post({ type: 'restore-failed', name, reason: errorMessage(error) });
    }
  }

  #setMemoryImageAside(name: string): string | null {
    const paths = vmPaths(this.options.roots, name);
    try {
      return findImage(paths) ? setImageAside(paths) : null;
    } catch (error) {
      this.#note(name, `could not set its memory image aside: ${errorMessage(error)}`, 'warn');
      return null;
    }
  }

  /** The restore points (`Backups(name)`). */
  async list(name: string): Promise<BackupList> {
    const context = this.#context(name);
    if (!context) throw new DaemonError(`${name} has no backup setting`);
    const points = await context.target.points();
    return {
      name,
      target: context.target.description,
      points: points.map((p) => ({ id: p.id, at: new Date(p.at).toISOString(), kind: p.kind, bytes: p.bytes, consistency: p.consistency })),
    };
  }

  /** The policy's view completed with what only files say: the target's free space and the last runs. */
  status(name: string, part: BackupStatusPart): VmBackupStatus {
    const context = part.configured ? this.#context(name) : null;
    let recent: BackupRunInfo[] = [];
    let free: number | null = null;
    if (context) {
      recent = this.#recent(name, context.history);
      free = context.target.freeBytes();
    }
    return { ...part, targetFreeBytes: free, recent };
  }

  /** The last runs, read again only when the state file changed (Status() is asked on every signal). */
  #recent(name: string, history: BackupHistory): BackupRunInfo[] {
    const stat = fs.statSync(history.file, { throwIfNoEntry: false });
    const mtime = stat ? stat.mtimeMs * 1e6 + stat.size : 0; // a rename replaces the file: a new mtime, size and inode
    const cached = this.#recentCache.get(name);
    if (cached && cached.mtime === mtime) return cached.recent;
    const recent = history
      .read()
      .runs.slice(-5)
      .map((run) => ({ at: new Date(run.startedAt).toISOString(), ok: run.ok, kind: run.kind, bytes: run.bytes, durationMs: run.durationMs, message: run.message }));
    this.#recentCache.set(name, { mtime, recent });
    return recent;
  }

  /** The daemon stops: an offline job is cancelled cleanly (a live one is left for the next daemon to settle). */
  shutdown(): void {
    for (const controller of this.#jobs.values()) controller.abort(new DaemonError('the daemon stops'));
  }

  /**
   * What a daemon that died mid-backup left behind, settled (run before any
   * backup): a job still in QEMU or a storage daemon is cancelled (its bitmap
   * keeps every change), a guest left frozen is thawed, a half-done merge is
   * finished, a complete image (the job had reached `pending`) is kept as a
   * restore point and a partial one removed, a restore's temp file removed.
   */
  async recover(): Promise<void> {
    for (const name of Object.keys(this.options.config().vms)) {
      try {
        await this.#recoverOne(name);
      } catch (error) {
        this.#note(name, `recovering an interrupted backup: ${errorMessage(error)}`, 'warn');
      }
    }
  }

  async #recoverOne(name: string): Promise<void> {
    const context = this.#context(name);
    const paths = vmPaths(this.options.roots, name);
    const history = context?.history ?? new BackupHistory(paths.stateDir);
    const marker = history.readMarker();
    const vm = this.options.process(name);
    if (marker || history.markerExists()) {
      if (vm) {
        const socket = await findAgentSocket(vm.qmp, vm.pid).catch(() => null);
        if (await thawIfFrozen(socket)) this.#note(name, 'thawed the guest\'s filesystems, left frozen by an interrupted backup', 'warn');
        const { jobFound, status } = await cleanUpOrphanJob(vm.qmp);
        if (jobFound) this.#note(name, `cancelled the backup job an earlier daemon left in QEMU (${status}); its change bitmap keeps every change`);
      }
    }
    const storage = await adoptOffline(paths).catch(() => null);
    if (storage) {
      const { jobFound } = await cleanUpOrphanJob(storage.qmp);
      await storage.close();
      this.#note(name, `ended the storage daemon an interrupted offline backup left${jobFound ? ' (its job cancelled)' : ''}`);
    }
    if (marker) {
      const chain = new Chain(marker.chainDir);
      const complete = marker.reachedPending && fs.existsSync(marker.image) && (await checkImage(marker.image).then(() => true, () => false));
      const meta = PointMeta.safeParse(marker.meta);
      if (complete && meta.success) {
        chain.commit(meta.data);
        history.update((s) => {
          s.bitmapPoint = meta.data.disk.format === 'qcow2' ? { target: marker.target, id: marker.id } : null;
          s.disk = meta.data.disk.file;
        });
        history.addRun({
          startedAt: marker.startedAt, durationMs: 0, ok: !marker.target.startsWith('restic '), kind: marker.kind, id: marker.id, at: meta.data.at,
          bytes: meta.data.bytes, consistency: meta.data.consistency,
          message: `${marker.kind} backup ${marker.id} recovered after the daemon stopped during it (it had copied everything)`,
          target: marker.target,
        });
        this.#note(name, `kept the interrupted backup ${marker.id}: it had copied everything`);
      } else {
        fs.rmSync(marker.image, { force: true });
        history.addRun({
          startedAt: marker.startedAt, durationMs: 0, ok: false, kind: marker.kind, id: null, at: null, bytes: null, consistency: null,
          message: `interrupted (the daemon stopped during it); its partial image was removed`, target: marker.target,
        });
        this.#note(name, `removed the partial image of the interrupted backup ${marker.id}; the next backup is ${marker.kind === 'full' ? 'full' : 'incremental (the bitmap kept every change)'}`, 'warn');
      }
      history.removeMarker();
    } else if (history.markerExists()) {
      history.removeMarker();
      history.update((s) => void (s.bitmapPoint = null));
      this.#note(name, 'an unreadable backup job marker was removed; the next backup is full', 'warn');
    }
    if (context) {
      await context.target.chain.finishMerge();
      const removed = context.target.chain.removePartials();
      if (removed.length) this.#note(name, `removed partial backup files: ${removed.join(', ')}`);
    }
    const disk = this.options.config().vms[name] ? safeDiskPath(name, this.options.config(), paths.stateDir, history) : null;
    if (disk && fs.existsSync(`${disk}.restoring`)) {
      fs.rmSync(`${disk}.restoring`, { force: true });
      this.#note(name, 'removed the temp file of an interrupted restore (the disk is as it was)', 'warn');
    }
    fs.rmSync(`${paths.stateDir}/restore-scratch`, { recursive: true, force: true });
  }
}

function safeDiskPath(name: string, config: Config, stateDir: string, history: BackupHistory): string | null {
  try {
    return diskPathFor(name, config.vms[name]!, { stateDir }, history.read().disk);
  } catch {
    return null;
  }
}
