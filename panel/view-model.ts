/**
 * The panel's data, as text: pure functions from what the daemon said
 * (DaemonStatus, signals) to tree rows, detail lines and the status line. The
 * blessed screens only place these strings; tests check them without a
 * terminal.
 */
import { colorName } from '../config/colors.js';
import { swatch } from './colors.js';
import path from 'node:path';
import { shortRevision, type DaemonStatus, type GenerationsReport, type VmState, type VmStatus } from '../api/schema.js';
import type { StateChange } from '../api/client.js';
import { formatDuration } from '../api/format.js';
import { heldLines } from '../api/held-update.js';
import { micMark, RUNS_HIDDEN_GLYPH, STATE_GLYPHS, TERMINAL_COLOURS } from '../api/states.js';

/** One colour per state in the panel: api/states.ts. */
export const STATE_COLOURS: Record<VmState | 'down', string> = TERMINAL_COLOURS;

export interface Network {
  /** What the tree shows: a wizard network's name, else the flake without "#…". */
  label: string;
  /** The flake without "#…" (null: QEMU VMs without a flake). */
  flake: string | null;
  /** The directory of a network created by the wizard (editable here). */
  localDir: string | null;
  vms: VmStatus[];
}

/** Flake base of a VM: "path:/x/networks/acme#acme" → "path:/x/networks/acme". */
export function flakeBase(flake: string): string {
  const hash = flake.indexOf('#');
  return hash === -1 ? flake : flake.slice(0, hash);
}

/** The wizard's network directory a flake points at, if it is one. */
export function localNetworkDir(flake: string, networksDir: string): string | null {
  const base = flakeBase(flake);
  if (!base.startsWith('path:')) return null;
  const dir = path.normalize(base.slice('path:'.length));
  return path.dirname(dir) === path.normalize(networksDir) ? dir : null;
}

/** VMs grouped by the network (flake) they come from; QEMU VMs last. Order is stable: by label, then name. */
export function groupNetworks(vms: readonly VmStatus[], networksDir: string): Network[] {
  const byKey = new Map<string, Network>();
  for (const vm of vms) {
    const key = vm.flake === null ? '' : flakeBase(vm.flake);
    let network = byKey.get(key);
    if (!network) {
      const localDir = vm.flake === null ? null : localNetworkDir(vm.flake, networksDir);
      network = {
        label: vm.flake === null ? 'QEMU VMs' : localDir ? path.basename(localDir) : key,
        flake: vm.flake === null ? null : key,
        localDir,
        vms: [],
      };
      byKey.set(key, network);
    }
    network.vms.push(vm);
  }
  const networks = [...byKey.values()];
  for (const network of networks) network.vms.sort((a, b) => a.name.localeCompare(b.name));
  return networks.sort((a, b) => (a.flake === null ? 1 : 0) - (b.flake === null ? 1 : 0) || a.label.localeCompare(b.label));
}

export type TreeRow =
  | { kind: 'network'; text: string; network: Network }
  | { kind: 'vm'; text: string; vm: VmStatus; network: Network };

export function glyph(state: VmState): string {
  return `{${STATE_COLOURS[state]}-fg}${STATE_GLYPHS[state]}{/${STATE_COLOURS[state]}-fg}`;
}

/** Tree rows with blessed colour tags; `focusedVm` gets a "*". */
export function treeRows(status: DaemonStatus, networksDir: string): TreeRow[] {
  const rows: TreeRow[] = [];
  for (const network of groupNetworks(status.vms, networksDir)) {
    rows.push({ kind: 'network', text: `▾ ${escapeTags(network.label)}`, network });
    for (const vm of network.vms) {
      const focus = vm.name === status.focusedVm ? '*' : '';
      const ws = vm.workspace === null ? '' : ` [${escapeTags(vm.workspace)}]`;
      const color = vm.color ? `${swatch(vm.color)} ` : '';
      const mic = micMark(status, vm.name);
      const hiddenRun = vm.runsHidden ? ` ${RUNS_HIDDEN_GLYPH}` : '';
      rows.push({ kind: 'vm', text: `  ${glyph(vm.state)} ${color}${escapeTags(vm.name)}${focus}${ws} ${vm.state}${hiddenRun}${mic ? ` ${mic}` : ''}`, vm, network });
    }
  }
  return rows;
}

/** Text from the daemon or the user never carries blessed tags. */
export function escapeTags(text: string): string {
  return text.replace(/[{}]/g, (c) => (c === '{' ? '{open}' : '{close}'));
}

export function formatMs(ms: number | null): string {
  if (ms === null) return '-';
  return ms < 10_000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(1)} s`;
}

export function formatBytes(bytes: number | null): string {
  if (bytes === null) return '-';
  const mib = bytes / (1024 * 1024);
  return mib >= 1024 ? `${(mib / 1024).toFixed(1)} GiB` : `${Math.round(mib)} MiB`;
}

/**
 * The detail view of one VM. `elapsedMs` is the time since the status was
 * fetched: uptime keeps counting between events without asking the daemon.
 */
export function detailLines(vm: VmStatus, elapsedMs = 0): string[] {
  const uptime = vm.uptimeMs === null ? null : vm.state === 'running' ? vm.uptimeMs + elapsedMs : vm.uptimeMs;
  const memory = vm.rssBytes === null && vm.memoryBudgetMiB === null
    ? '-'
    : `${formatBytes(vm.rssBytes)}${vm.memoryBudgetMiB === null ? '' : ` of ${vm.memoryBudgetMiB} MiB budget`}`;
  const rows: Array<[string, string]> = [
    ['state', `${glyph(vm.state)} ${vm.state}${vm.heldByUser ? ' (held by you: focus does not undo it)' : vm.runsHidden ? ` (${RUNS_HIDDEN_GLYPH} runs while its workspace is hidden)` : ''}`],
    ...(vm.whenHidden === 'run' ? [['hidden', 'keeps running ("whenHidden": "run")'] as [string, string]] : []),
    ['reason', escapeTags(vm.reason || '-')],
    ...(vm.color ? [['colour', `${swatch(vm.color)} ${colorName(vm.color)}`] as [string, string]] : []),
    ['workspace', escapeTags(vm.workspace ?? '- (not bound)')],
    ['pid', vm.pid === null ? '-' : String(vm.pid)],
    ['memory', memory],
    ['CPU', vm.cpuPercent === null ? '-' : `${vm.cpuPercent.toFixed(1)} %`],
    ['uptime', formatDuration(uptime)],
    ['launcher', vm.kind],
    ['flake', escapeTags(vm.flake ?? '-')],
    ['cold boot', formatMs(vm.lastColdBootMs)],
    ['resume', formatMs(vm.lastResumeMs)],
    ['restarts', String(vm.restarts)],
  ];
  const width = Math.max(...rows.map(([k]) => k.length));
  return [`{bold}${escapeTags(vm.name)}{/bold}`, ...rows.map(([k, v]) => `${k.padEnd(width)}  ${v}`)];
}

/** A flake VM's generations under its details: newest first, * the one its next start boots. */
export function generationLines(vm: VmStatus, report: GenerationsReport | undefined): string[] {
  if (vm.kind !== 'flake') return [];
  const lines = ['', '{bold}generations{/bold}  (u update, U update now, b back to the last healthy)'];
  if (vm.lastUpdate) lines.push(escapeTags(vm.lastUpdate));
  if (!report) return [...lines, '…'];
  if (report.updating) lines.push(`{yellow-fg}an ${report.updating.auto ? 'automatic ' : ''}update is building{/yellow-fg}`);
  if (report.generations.length === 0) lines.push('none yet: the first start builds one');
  for (const g of report.generations.slice(0, 8)) {
    const mark = g.number === report.selected ? '*' : ' ';
    const outcome = g.outcome === 'failed' ? `{red-fg}failed: ${escapeTags(g.failure ?? '?')}{/red-fg}` : g.outcome === 'healthy' ? '{green-fg}healthy{/green-fg}' : 'new';
    lines.push(`${mark} ${String(g.number).padStart(3)}  ${shortRevision(g.revision)}  ${outcome}`);
  }
  // Held for the member's review (updates.review): after the generations it would join.
  if (report.held) lines.push(...heldLines(report.held).map((line, i) => (i === 0 ? `{yellow-fg}${escapeTags(line)} (A approves){/yellow-fg}` : escapeTags(line))));
  return lines;
}

export function networkDetailLines(network: Network): string[] {
  return [
    `{bold}${escapeTags(network.label)}{/bold}`,
    `flake     ${escapeTags(network.flake ?? '- (QEMU command lines)')}`,
    `directory ${escapeTags(network.localDir ?? '-')}`,
    `VMs       ${network.vms.map((vm) => escapeTags(vm.name)).join(', ')}`,
  ];
}

/** A StateChanged signal applied to the last status (the rest comes with the next Status()). */
export function applyStateChange(status: DaemonStatus, change: StateChange): DaemonStatus {
  return {
    ...status,
    vms: status.vms.map((vm) => (vm.name === change.name ? { ...vm, state: change.state, reason: change.reason } : vm)),
  };
}

export function applyFocus(status: DaemonStatus, focus: { workspace: string; vm: string }): DaemonStatus {
  return { ...status, focusedWorkspace: focus.workspace, focusedVm: focus.vm === '' ? null : focus.vm };
}

export const KEY_HELP = 's start  x stop  p pause/resume  r restart  g go to  c colour  e edit  d delete  n new network  q quit  m market  i members  h hibernate  PgUp/PgDn detail';

export const DAEMON_DOWN_TEXT =
  '{red-fg}⚠ the hiboss daemon is not running{/red-fg} (no owner for org.hiboss.Daemon1 on the session bus).\n' +
  'Start it with `hiboss daemon` or `systemctl --user start hiboss`; this panel picks it up as soon as it appears.';

/** Log lines kept per VM. */
export const LOG_LIMIT = 500;

export function appendLog(lines: readonly string[], line: string): string[] {
  const next = [...lines, line];
  return next.length > LOG_LIMIT ? next.slice(next.length - LOG_LIMIT) : next;
}
