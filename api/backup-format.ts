/**
 * Backups as words, the same in the CLI, the bar and the panel:
 * "acme: last backup 9 days ago", "never backed up", sizes.
 */
import type { VmBackupStatus } from './backup-schema.js';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

/** "just now", "12 minutes ago", "5 hours ago", "9 days ago". */
export function agoText(ms: number): string {
  if (ms < MINUTE) return 'just now';
  const [n, unit] = ms < HOUR ? [Math.round(ms / MINUTE), 'minute'] : ms < 2 * DAY ? [Math.round(ms / HOUR), 'hour'] : [Math.round(ms / DAY), 'day'];
  return `${n} ${unit}${n === 1 ? '' : 's'} ago`;
}

export function sizeText(bytes: number | null): string {
  if (bytes === null) return '-';
  if (bytes < 1024 * 1024) return `${Math.round(bytes / 1024)} KiB`;
  if (bytes < 1024 ** 3) return `${(bytes / 1024 ** 2).toFixed(1)} MiB`;
  return `${(bytes / 1024 ** 3).toFixed(1)} GiB`;
}

/** "last backup 9 days ago" / "never backed up". */
export function lastBackupText(backup: VmBackupStatus, now: number): string {
  return backup.last === null ? 'never backed up' : `last backup ${agoText(now - Date.parse(backup.last))}`;
}

/** The line an unbacked VM gets in tooltips and lists: "acme: last backup 9 days ago". */
export function unbackedLine(name: string, backup: VmBackupStatus, now: number): string {
  return `${name}: ${lastBackupText(backup, now)}`;
}

/** One line per VM with a backup setting, for `hiboss status` (⚠ marks an unbacked one). */
export function backupStatusLine(name: string, backup: VmBackupStatus, now: number): string {
  const parts = [`${backup.unbacked ? '⚠' : ' '} ${name}: ${lastBackupText(backup, now)}`];
  if (backup.lastKind) parts.push(`${backup.lastKind}, ${sizeText(backup.lastBytes)}`);
  if (backup.running) parts.push(`${backup.running} running`);
  else if (backup.nextDue) parts.push(`next ${Date.parse(backup.nextDue) <= now ? 'now' : `at ${new Date(backup.nextDue).toISOString().slice(0, 16).replace('T', ' ')}Z`}`);
  parts.push(`to ${backup.target ?? '-'}${backup.targetFreeBytes === null ? '' : ` (${sizeText(backup.targetFreeBytes)} free)`}`);
  if (backup.lastError) parts.push(`last attempt failed: ${backup.lastError}`);
  return parts.join(' · ');
}

/** The VMs not backed up (the status's "unbacked" list), by name. */
export function unbackedVms<T extends { name: string; backup?: VmBackupStatus | undefined }>(vms: readonly T[]): T[] {
  return vms.filter((vm) => vm.backup?.unbacked);
}

/** What the bar adds to its text while a VM is not backed up. */
export const BACKUP_MARK = '⚠ backup';
