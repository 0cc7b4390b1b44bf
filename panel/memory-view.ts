/**
 * The panel's memory section for one VM: its image when it is
 * hibernated (size, when saved), how long its last save and restore took, why
 * the last one failed, the images set aside, and what all VMs hold against the memory budget.
 */
import { formatHeld, formatMiB } from '../api/format.js';
import type { DaemonStatus, VmStatus } from '../api/schema.js';

function escape(text: string): string {
  return text.replace(/[{}]/g, (c) => (c === '{' ? '{open}' : '{close}'));
}

function ms(value: number | null | undefined): string {
  if (value === null || value === undefined) return '-';
  return value < 10_000 ? `${Math.round(value)} ms` : `${(value / 1000).toFixed(1)} s`;
}

/** `2026-01-01 12:03` in local time. */
export function localDateTime(epochMs: number): string {
  const d = new Date(epochMs);
  const two = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${two(d.getMonth() + 1)}-${two(d.getDate())} ${two(d.getHours())}:${two(d.getMinutes())}`;
}

export function memoryLines(vm: VmStatus, status: DaemonStatus, dateTime: (epochMs: number) => string = localDateTime): string[] {
  const lines = ['', `{bold}memory{/bold}  (h hibernate${vm.hibernates === false ? ': off for this VM' : ''}, p resumes a hibernated VM)`];
  if (vm.image) lines.push(`image      ${formatMiB(vm.image.bytes)} on disk, saved ${dateTime(vm.image.savedAt)} — it holds no RAM`);
  if (vm.lastSaveMs != null || vm.lastRestoreMs != null) lines.push(`last save  ${ms(vm.lastSaveMs)}   last restore  ${ms(vm.lastRestoreMs)}`);
  if (vm.memoryProblem) lines.push(`{red-fg}${escape(vm.memoryProblem)}{/red-fg}`);
  const aside = vm.asideImages ?? [];
  if (aside.length) {
    const bytes = aside.reduce((sum, image) => sum + image.bytes, 0);
    lines.push(`set aside  ${aside.length === 1 ? '1 image' : `${aside.length} images`} that could not be restored, ${formatMiB(bytes)} (newest ${dateTime(aside[0]!.at)})`);
  }
  const held = formatHeld(status.memory);
  if (held) lines.push(`all VMs    ${held}`);
  return lines;
}
