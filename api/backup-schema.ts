/**
 * What the D-Bus API says about backups: each VM's `backup` in
 * Status(), and `Backups(name)`'s list of restore points. One schema for the
 * daemon that writes it and every client (CLI, bar, panel) that reads it.
 */
import { z } from 'zod';

export const BackupRunInfo = z.object({
  /** ISO time the run started. */
  at: z.string(),
  ok: z.boolean(),
  kind: z.enum(['full', 'incremental', 'restore']),
  bytes: z.number().nullable(),
  durationMs: z.number(),
  /** What it did, or why it failed. */
  message: z.string(),
});
export type BackupRunInfo = z.infer<typeof BackupRunInfo>;

export const VmBackupStatus = z.object({
  /** ISO time of the last good backup's copy, or null. */
  last: z.string().nullable(),
  /** Its last good backup is older than everyHours × 1.25, or it has none and has been configured longer than everyHours. */
  unbacked: z.boolean(),
  /** It has a `backup` setting. */
  configured: z.boolean(),
  everyHours: z.number().nullable(),
  /** The directory or restic repository. */
  target: z.string().nullable(),
  /** Free bytes where its backups are kept (null: unknown, a remote repository). */
  targetFreeBytes: z.number().nullable(),
  lastKind: z.enum(['full', 'incremental']).nullable(),
  /** Bytes the last good backup added on the target. */
  lastBytes: z.number().nullable(),
  /** A backup or restore of it runs (or is asked). */
  running: z.enum(['backup', 'restore']).nullable(),
  /** ISO time the next backup is due. */
  nextDue: z.string().nullable(),
  /** Why the last attempt failed (when it failed after the last good one). */
  lastError: z.string().nullable(),
  lastErrorAt: z.string().nullable(),
  /** The last runs, newest last. */
  recent: z.array(BackupRunInfo).max(10),
});
export type VmBackupStatus = z.infer<typeof VmBackupStatus>;

export const RestorePointInfo = z.object({
  /** What `hiboss backup restore NAME ID` takes. */
  id: z.string(),
  /** ISO time of the copy. */
  at: z.string(),
  kind: z.enum(['full', 'incremental']),
  bytes: z.number(),
  consistency: z.enum(['frozen', 'crash-consistent']),
});
export type RestorePointInfo = z.infer<typeof RestorePointInfo>;

/** `Backups(name)`: the restore points, oldest first. */
export const BackupList = z.object({
  name: z.string(),
  target: z.string(),
  points: z.array(RestorePointInfo).max(100_000),
});
export type BackupList = z.infer<typeof BackupList>;

/** BackupChanged's kinds: the daemon's policy tells them, every client reads them through this schema. */
export const BACKUP_SIGNAL_KINDS = ['started', 'done', 'failed', 'unbacked', 'restoring', 'restored', 'restore-failed'] as const;
export const BackupSignalKind = z.enum(BACKUP_SIGNAL_KINDS);
export type BackupSignalKind = z.infer<typeof BackupSignalKind>;
