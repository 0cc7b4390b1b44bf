/**
 * Pure rendering: a DaemonStatus (or null when the daemon is away) becomes the
 * output of one update, for each bar format. No I/O here, so every byte the bar
 * prints can be checked exactly by unit tests.
 */
import { formatHeld } from '../api/format.js';
import { type DaemonStatus, type VmStatus } from '../api/schema.js';
import { BAR_COLOURS, micMark, MIC_GLYPHS, RUNS_HIDDEN_GLYPH, STATE_GLYPHS, type ShownState } from '../api/states.js';
import { textColorOn } from '../config/colors.js';
import { BACKUP_MARK, unbackedLine, unbackedVms } from '../api/backup-format.js';

export const FORMATS = ['waybar', 'i3bar', 'i3blocks', 'i3blocks-json'] as const;
export type Format = (typeof FORMATS)[number];

/** What the bar shows: a VM state, or the daemon being away, or no VM on the focused workspace. */
export type BarState = ShownState;

/** One colour per state for i3bar/i3blocks (waybar takes them from style.css, held to the same table). */
export const STATE_COLOURS: Record<BarState, string> = BAR_COLOURS;

export const BLOCK_NAME = 'hiboss';
const DOWN_TEXT = `${STATE_GLYPHS.down} hiboss down`;
const DOWN_TOOLTIP = 'hiboss: the daemon is not running';
const MiB = 1024 * 1024;
const MAX_REASON = 80;

export interface RenderContext {
  /** Epoch ms of the render, to turn uptimes into wall-clock times that do not go stale. */
  now: number;
  /** Formats an epoch ms as a short wall-clock time; default local HH:MM. */
  clock?: (epochMs: number) => string;
}

export function localClock(epochMs: number): string {
  const d = new Date(epochMs);
  return `${String(d.getHours()).padStart(2, '0')}:${String(d.getMinutes()).padStart(2, '0')}`;
}

/** The essentials every format is built from. */
export interface Summary {
  state: BarState;
  /** The focused workspace's VM, when there is one. */
  vm: VmStatus | null;
  fullText: string;
  shortText: string;
  tooltip: string;
  /** rss as a share of the memory budget, 0–100, when both are known. */
  percentage: number | null;
}

export function summarize(status: DaemonStatus | null, ctx: RenderContext): Summary {
  if (status === null) {
    return { state: 'down', vm: null, fullText: DOWN_TEXT, shortText: STATE_GLYPHS.down, tooltip: DOWN_TOOLTIP, percentage: null };
  }
  const vm = status.focusedVm === null ? null : (status.vms.find((v) => v.name === status.focusedVm) ?? null);
  const tooltip = renderTooltip(status, ctx);
  if (!vm) {
    return { state: 'none', vm: null, fullText: `${STATE_GLYPHS.none}${elsewhere(status, null)}`, shortText: STATE_GLYPHS.none, tooltip, percentage: null };
  }
  return {
    state: vm.state,
    vm,
    fullText: `${vm.name} ${STATE_GLYPHS[vm.state]}${micSuffix(status, vm.name)}`,
    shortText: STATE_GLYPHS[vm.state],
    tooltip,
    percentage: memoryPercentage(vm),
  };
}

/** Sound: " 🎤" when the shown VM hears the member, or " 🎤mail📌" when a pin keeps it elsewhere. */
function micSuffix(status: DaemonStatus, shown: string): string {
  const mark = micMark(status, shown);
  return mark ? ` ${mark}` : elsewhere(status, shown);
}

function elsewhere(status: DaemonStatus, shown: string | null): string {
  const mic = status.microphone;
  if (!mic?.pinned || mic.vm === null || mic.vm === shown) return '';
  return ` ${MIC_GLYPHS.holds}${mic.vm}${MIC_GLYPHS.pinned}`;
}

export function memoryPercentage(vm: VmStatus): number | null {
  if (vm.rssBytes === null || vm.memoryBudgetMiB === null || vm.memoryBudgetMiB <= 0) return null;
  return Math.max(0, Math.min(100, Math.round((vm.rssBytes / (vm.memoryBudgetMiB * MiB)) * 100)));
}

function memoryText(vm: VmStatus): string | null {
  // Memory: a hibernated VM holds no RAM; its image is on disk.
  if (vm.image) return `on disk ${Math.round(vm.image.bytes / MiB)} MiB`;
  const rss = vm.rssBytes === null ? null : Math.round(vm.rssBytes / MiB);
  if (rss === null && vm.memoryBudgetMiB === null) return null;
  if (vm.memoryBudgetMiB === null) return `${rss} MiB`;
  return `${rss ?? '-'}/${vm.memoryBudgetMiB} MiB`;
}

function oneLine(text: string, max: number): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
}

/** One line per VM: glyph, name, state, workspace, memory, uptime (as a start time: it never goes stale). */
export function renderTooltip(status: DaemonStatus, ctx: RenderContext): string {
  const clock = ctx.clock ?? localClock;
  const lines: string[] = [];
  lines.push(status.focusedWorkspace === null ? 'hiboss' : `hiboss — workspace ${status.focusedWorkspace}`);
  if (status.vms.length === 0) lines.push('no VMs configured');
  for (const vm of status.vms) {
    const mic = micMark(status, vm.name);
    const glyph = vm.runsHidden ? RUNS_HIDDEN_GLYPH : STATE_GLYPHS[vm.state];
    const note = vm.heldByUser ? ' (held)' : vm.runsHidden ? ' (runs hidden)' : '';
    const parts = [`${vm.name === status.focusedVm ? '›' : ' '} ${glyph} ${vm.name}: ${vm.state}${note}${mic ? ` ${mic}${status.microphone?.pinned ? ' pinned' : ''}` : ''}`];
    parts.push(vm.workspace === null ? 'no workspace' : `ws ${vm.workspace}`);
    const memory = memoryText(vm);
    if (memory) parts.push(memory);
    if (vm.uptimeMs !== null) parts.push(`up since ${clock(ctx.now - vm.uptimeMs)}`);
    let line = parts.join(' · ');
    if (vm.state === 'failed' && vm.reason) line += ` — ${oneLine(vm.reason, MAX_REASON)}`;
    if (vm.lastUpdate) line += `\n    ${oneLine(vm.lastUpdate, 2 * MAX_REASON)}`;
    lines.push(line);
  }
  // Backups: every VM not backed up, whichever workspace is focused.
  for (const vm of unbackedVms(status.vms)) lines.push(`⚠ ${unbackedLine(vm.name, vm.backup!, ctx.now)}`);
  // Memory: what all VMs hold, against the budget when there is one.
  const held = formatHeld(status.memory);
  if (held && status.vms.length) lines.push(`memory: ${held}`);
  if (status.configProblems.length) {
    lines.push(`config refused (${status.configProblems.length} problem${status.configProblems.length === 1 ? '' : 's'}): the last good one is in force`);
  }
  return lines.join('\n');
}

/** Waybar's text and tooltip are Pango markup: names and reasons must not be read as tags. */
export function escapeMarkup(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

export interface WaybarLine {
  text: string;
  alt: BarState;
  /** The state; with a VM not backed up, also `unbacked`; with one running out of sight, `runs-hidden` (waybar takes an array of classes). */
  class: BarState | [BarState, ...Marker[]];
  tooltip: string;
  percentage?: number;
}

export function renderWaybar(status: DaemonStatus | null, ctx: RenderContext): WaybarLine {
  const s = summarize(status, ctx);
  const line: WaybarLine = { text: escapeMarkup(s.fullText), alt: s.state, class: s.state, tooltip: escapeMarkup(s.tooltip) };
  // The network's colour, as on its windows' labels: the name on its colour.
  const color = s.vm?.color;
  if (s.vm && color) line.text = `<span background='${color}' foreground='${textColorOn(color)}'> ${escapeMarkup(s.vm.name)} </span> ${STATE_GLYPHS[s.vm.state]}${escapeMarkup(micSuffix(status!, s.vm.name))}`;
  if (s.percentage !== null) line.percentage = s.percentage;
  const marked = markers(status);
  if (marked.length) {
    line.class = [s.state, ...marked];
    for (const marker of marked) line.text += ` ${MARKS[marker]}`;
  }
  return line;
}

/** What the bar marks beside the focused VM: a VM not backed up, a VM running out of sight. */
type Marker = 'unbacked' | 'runs-hidden';
const MARKS: Record<Marker, string> = { unbacked: BACKUP_MARK, 'runs-hidden': RUNS_HIDDEN_GLYPH };

function markers(status: DaemonStatus | null): Marker[] {
  if (!status) return [];
  const marked: Marker[] = [];
  if (unbackedVms(status.vms).length) marked.push('unbacked');
  if (status.vms.some((vm) => vm.runsHidden)) marked.push('runs-hidden');
  return marked;
}

export interface I3barBlock {
  full_text: string;
  short_text: string;
  name: string;
  instance: string;
  color: string;
  markup: 'none';
  urgent?: true;
  /** The network's colour, as a line under the block (i3bar ≥ 4.20 draws block borders). */
  border?: string;
  border_top?: number;
  border_right?: number;
  border_left?: number;
  border_bottom?: number;
}

/** The i3bar protocol header: we take click events on stdin. */
export const I3BAR_HEADER = '{"version":1,"click_events":true}';

export function renderI3barBlock(status: DaemonStatus | null, ctx: RenderContext): I3barBlock {
  const s = summarize(status, ctx);
  const block: I3barBlock = {
    full_text: s.fullText,
    short_text: s.shortText,
    name: BLOCK_NAME,
    // The instance carries the VM a click acts on; 'down'/'none' act on nothing by name.
    instance: s.vm?.name ?? s.state,
    color: STATE_COLOURS[s.state],
    markup: 'none',
  };
  if (s.state === 'failed') block.urgent = true;
  if (s.vm?.color) Object.assign(block, { border: s.vm.color, border_top: 0, border_right: 0, border_left: 0, border_bottom: 3 });
  for (const marker of markers(status)) block.full_text += ` ${MARKS[marker]}`;
  return block;
}

/**
 * The text of one update (without its final newline), by format. i3bar updates
 * are elements of an endless JSON array, so each one ends with a comma.
 */
export function renderUpdate(format: Format, status: DaemonStatus | null, ctx: RenderContext): string {
  switch (format) {
    case 'waybar':
      return JSON.stringify(renderWaybar(status, ctx));
    case 'i3bar':
      return `[${JSON.stringify(renderI3barBlock(status, ctx))}],`;
    case 'i3blocks':
      // interval=persist: each line replaces the block's full_text.
      return withBackupMark(summarize(status, ctx).fullText, status);
    case 'i3blocks-json':
      // interval=persist with format=json: each line is the block's properties.
      return JSON.stringify(renderI3barBlock(status, ctx));
  }
}

/** i3blocks' classic three lines (full_text, short_text, color), for `--once` under an interval or signal. */
export function renderI3blocksOnce(status: DaemonStatus | null, ctx: RenderContext): string {
  const s = summarize(status, ctx);
  return [withBackupMark(s.fullText, status), s.shortText, STATE_COLOURS[s.state]].join('\n');
}

/** Bars without CSS classes say "not backed up" in their text. */
function withBackupMark(text: string, status: DaemonStatus | null): string {
  return status && unbackedVms(status.vms).length ? `${text} ${BACKUP_MARK}` : text;
}
