/**
 * A VM's backups in the panel's detail view: its last good backup
 * (or that it is not backed up), the target and its free space, the next due
 * time, the last runs, and the keys. Pure text with blessed tags.
 */
import { agoText, lastBackupText, sizeText } from '../api/backup-format.js';
import type { VmStatus } from '../api/schema.js';
import { escapeTags } from './view-model.js';

export const BACKUP_KEYS = 'B back up now, R restore the latest';

export function backupLines(vm: VmStatus, now: number): string[] {
  const backup = vm.backup;
  // Without a backup setting, nothing: the detail pane is short, and `hiboss status` says which VMs have one.
  if (!backup?.configured) return [];
  const lines = ['', `{bold}backups{/bold}  (${BACKUP_KEYS})`];
  const last = lastBackupText(backup, now);
  lines.push(backup.unbacked ? `{red-fg}⚠ not backed up: ${last}{/red-fg}` : `{green-fg}${last}{/green-fg}${backup.lastKind ? ` (${backup.lastKind}, ${sizeText(backup.lastBytes)})` : ''}`);
  lines.push(`target    ${escapeTags(backup.target ?? '-')}${backup.targetFreeBytes === null ? '' : `, ${sizeText(backup.targetFreeBytes)} free`}`);
  if (backup.running) lines.push(`{yellow-fg}${backup.running === 'backup' ? 'a backup' : 'a restore'} is running{/yellow-fg}`);
  else if (backup.nextDue) {
    const due = Date.parse(backup.nextDue);
    lines.push(`next      ${due <= now ? 'now' : new Date(due).toISOString().slice(0, 16).replace('T', ' ') + 'Z'} (every ${backup.everyHours} h)`);
  }
  if (backup.lastError) lines.push(`{red-fg}failed ${backup.lastErrorAt ? agoText(now - Date.parse(backup.lastErrorAt)) : ''}: ${escapeTags(backup.lastError)}{/red-fg}`);
  for (const run of [...backup.recent].reverse().slice(0, 4)) {
    const mark = run.ok ? '{green-fg}✓{/green-fg}' : '{red-fg}✗{/red-fg}';
    lines.push(`${mark} ${agoText(now - Date.parse(run.at)).padEnd(14)} ${run.kind.padEnd(11)} ${run.ok && run.bytes !== null ? sizeText(run.bytes) : escapeTags(run.message.slice(0, 80))}`);
  }
  return lines;
}
