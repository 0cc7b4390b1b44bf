/**
 * What the daemon remembers of a VM's backups, in its state dir
 * (`$XDG_STATE_HOME/hiboss/NAME/backup-state.json`, written atomically): since
 * when it is configured for backups, the last runs, the disk it backed up, and
 * the point the disk's dirty bitmap starts at — an incremental is only correct
 * when the chain ends exactly there. And the marker of a job in progress
 * (`backup-job.json`), which a daemon that dies mid-backup leaves behind.
 */
import fs from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { writeFileAtomic } from '../../config/file.js';
import { readFileBounded } from '../../config/read-bounded.js';
import { PointId } from './chain.js';
import { errorCode } from '../../shared/error-message.js';

const MAX_STATE_BYTES = 256 * 1024;
const MAX_RUNS = 30;

export const BackupRun = z.strictObject({
  /** Epoch ms the run started. */
  startedAt: z.number(),
  durationMs: z.number(),
  ok: z.boolean(),
  kind: z.enum(['full', 'incremental', 'restore']),
  /** The restore point made (or restored). */
  id: PointId.nullable(),
  /** Epoch ms of the state copied (a good backup's point). */
  at: z.number().nullable(),
  bytes: z.number().nullable(),
  consistency: z.enum(['frozen', 'crash-consistent']).nullable(),
  /** Why this kind, or why it failed. */
  message: z.string().max(2000),
  target: z.string().max(4200),
});
export type BackupRun = z.infer<typeof BackupRun>;

export const BackupStateFile = z.strictObject({
  version: z.literal(1),
  /** Epoch ms: first seen with a backup setting. */
  configuredSince: z.number().nullable(),
  /** The point (on this target) the disk's bitmap has recorded changes since; null: unknown (next backup is full). */
  bitmapPoint: z.strictObject({ target: z.string().max(4200), id: PointId }).nullable(),
  /** The disk file backed up last (a stopped VM is backed up from it). */
  disk: z.string().max(4096).nullable(),
  runs: z.array(BackupRun).max(MAX_RUNS),
});
export type BackupStateFile = z.infer<typeof BackupStateFile>;

export const JobMarker = z.strictObject({
  id: PointId,
  kind: z.enum(['full', 'incremental']),
  image: z.string().max(4200),
  chainDir: z.string().max(4200),
  target: z.string().max(4200),
  live: z.boolean(),
  startedAt: z.number(),
  /** The job copied everything (it waited for finalize): the image is complete. */
  reachedPending: z.boolean(),
  /** The point's metadata, written into the chain once accepted. */
  meta: z.unknown(),
});
export type JobMarker = z.infer<typeof JobMarker>;

export function emptyState(): BackupStateFile {
  return { version: 1, configuredSince: null, bitmapPoint: null, disk: null, runs: [] };
}

export class BackupHistory {
  readonly file: string;
  readonly markerFile: string;
  constructor(readonly stateDir: string) {
    this.file = path.join(stateDir, 'backup-state.json');
    this.markerFile = path.join(stateDir, 'backup-job.json');
  }

  /** The state, or an empty one (a file that cannot be read is not trusted: backups start over with a full). */
  read(): BackupStateFile {
    try {
      return BackupStateFile.parse(JSON.parse(readFileBounded(this.file, MAX_STATE_BYTES)));
    } catch {
      return emptyState();
    }
  }

  update(mutate: (state: BackupStateFile) => void): BackupStateFile {
    const state = this.read();
    mutate(state);
    state.runs = state.runs.slice(-MAX_RUNS);
    fs.mkdirSync(this.stateDir, { recursive: true, mode: 0o700 });
    writeFileAtomic(this.file, JSON.stringify(BackupStateFile.parse(state), null, 2) + '\n');
    return state;
  }

  addRun(run: BackupRun): BackupStateFile {
    return this.update((state) => state.runs.push(run));
  }

  /** The last good backup (not a restore). */
  lastGood(state = this.read()): BackupRun | undefined {
    return state.runs.filter((run) => run.ok && run.kind !== 'restore').at(-1);
  }

  readMarker(): JobMarker | null {
    try {
      return JobMarker.parse(JSON.parse(readFileBounded(this.markerFile, MAX_STATE_BYTES)));
    } catch (error) {
      if (errorCode(error) === 'ENOENT') return null;
      // A marker we cannot read still says "a job was under way".
      return null;
    }
  }

  markerExists(): boolean {
    return fs.existsSync(this.markerFile);
  }

  writeMarker(marker: JobMarker): void {
    fs.mkdirSync(this.stateDir, { recursive: true, mode: 0o700 });
    writeFileAtomic(this.markerFile, JSON.stringify(JobMarker.parse(marker)) + '\n');
  }

  removeMarker(): void {
    fs.rmSync(this.markerFile, { force: true });
  }
}
