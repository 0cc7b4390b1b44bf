/**
 * `hiboss status` for people: one row per VM with its network colour, state,
 * hold, memory, uptime and last backup; `--json` is the machine form. Pure (the
 * verb prints it), so every cell is checked by unit tests.
 */
import { agoText } from '../api/backup-format.js';
import { formatDuration, formatVmMemory } from '../api/format.js';
import type { DaemonStatus, VmStatus } from '../api/schema.js';
import { STATE_GLYPHS } from '../api/states.js';
import { colorName } from '../config/colors.js';

export interface TableOptions {
  now: number;
  /** Colour swatches as 24-bit ANSI (a terminal, NO_COLOR unset); else the colour's name alone. */
  ansi: boolean;
}

/** Whether stdout takes colours: a terminal, and NO_COLOR (no-color.org) unset. */
export function ansiWanted(stream: { isTTY?: boolean }, env: NodeJS.ProcessEnv = process.env): boolean {
  return stream.isTTY === true && !env.NO_COLOR;
}

function swatch(hex: string): string {
  const n = parseInt(hex.slice(1), 16);
  return `\x1b[48;2;${(n >> 16) & 255};${(n >> 8) & 255};${n & 255}m  \x1b[0m`;
}

function colorCell(vm: VmStatus, ansi: boolean): string {
  if (!vm.color) return '-';
  return ansi ? `${swatch(vm.color)} ${colorName(vm.color)}` : colorName(vm.color);
}

function holdCell(vm: VmStatus): string {
  if (vm.hold) return vm.hold;
  if (vm.heldByUser) return 'held';
  return vm.runsHidden ? 'runs hidden' : '-';
}

function memoryCell(vm: VmStatus): string {
  const held = formatVmMemory(vm);
  if (vm.memoryBudgetMiB === null || vm.memoryBudgetMiB === undefined || vm.image) return held;
  return held === '-' ? `-/${vm.memoryBudgetMiB} MiB` : `${held.replace(/ MiB$/, '')}/${vm.memoryBudgetMiB} MiB`;
}

function backupCell(vm: VmStatus, now: number): string {
  const backup = vm.backup;
  if (!backup?.configured) return '-';
  if (backup.running === 'backup') return 'running now';
  return backup.last === null ? 'never' : agoText(now - Date.parse(backup.last));
}

export const HEADER = ['', 'NAME', 'COLOUR', 'STATE', 'HOLD', 'WORKSPACE', 'PID', 'MEMORY', 'UPTIME', 'LAST BACKUP', 'REASON'];

export function statusRows(status: DaemonStatus, options: TableOptions): string[][] {
  return [
    HEADER,
    ...status.vms.map((vm) => [
      vm.name === status.focusedVm ? '*' : ' ',
      vm.name,
      colorCell(vm, options.ansi),
      `${STATE_GLYPHS[vm.state]} ${vm.state}`,
      holdCell(vm),
      vm.workspace ?? '-',
      vm.pid === null ? '-' : String(vm.pid),
      memoryCell(vm),
      formatDuration(vm.uptimeMs),
      backupCell(vm, options.now),
      vm.reason,
    ]),
  ];
}

/** Visible width: escape sequences take no room; one column per code point. */
export function visibleWidth(text: string): number {
  return [...text.replace(/\x1b\[[0-9;]*m/g, '')].length;
}

/** Columns padded to their widest cell (escape sequences not counted); the last column is not padded. */
export function layoutTable(rows: string[][]): string[] {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => visibleWidth(r[i]!))));
  return rows.map((r) => r.map((cell, i) => (i === r.length - 1 ? cell : cell + ' '.repeat(widths[i]! - visibleWidth(cell)))).join('  ').trimEnd());
}
