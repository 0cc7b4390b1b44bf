/**
 * What the WM shows and what the config says: which VMs are out of sight
 * (and since when), which workspace's VM has the focus (told once per change),
 * and the VMs added, changed or removed by a new config.
 */
import { workspaceMatches } from '../../config/workspaces.js';
import { newRecord, vmOnWorkspace } from './record.js';
import { log } from './turn.js';
import type { PolicyEvent, PolicySettings, PolicyState, Turn, VmSpec } from './types.js';

function sameSpecs(state: PolicyState, specs: VmSpec[]): boolean {
  const current = Object.values(state.vms).filter((vm) => !vm.removed);
  return current.length === specs.length && specs.every((spec) => JSON.stringify(state.vms[spec.name]?.spec) === JSON.stringify(spec));
}

export function updateVisibility(state: PolicyState, now: number): void {
  for (const name in state.vms) {
    const vm = state.vms[name]!;
    const workspace = vm.spec.workspace;
    if (workspace === null) continue;
    const visible = state.visible.some((w) => workspaceMatches(workspace, w));
    if (visible) vm.hiddenSince = null;
    else vm.hiddenSince ??= now;
  }
}

function focusedVm(state: PolicyState): string | null {
  return vmOnWorkspace(state, state.focused);
}

export function announceFocus(turn: Turn): void {
  const { state } = turn;
  if (!state.focused) return;
  const current = { workspace: state.focused.name, vm: focusedVm(state) ?? '' };
  const last = state.announcedFocus;
  if (last && last.workspace === current.workspace && last.vm === current.vm) return;
  state.announcedFocus = current;
  turn.actions.push({ type: 'focus-changed', ...current });
}

/** Why a VM runs or is paused, when the observation itself does not say. */
function reconfigure(turn: Turn, specs: VmSpec[], settings: PolicySettings): void {
  const { state, now } = turn;
  state.settings = settings;
  const wanted = new Map(specs.map((spec) => [spec.name, spec]));
  for (const [name, vm] of Object.entries(state.vms)) {
    const spec = wanted.get(name);
    if (!spec) {
      if (!vm.removed) log(turn, name, 'removed from the config');
      vm.removed = true;
      continue;
    }
    vm.removed = false;
    vm.spec = spec;
  }
  for (const spec of specs) {
    if (state.vms[spec.name]) continue;
    state.vms[spec.name] = newRecord(spec, now);
    log(turn, spec.name, 'added to the config');
  }
  // Bindings may have changed: recompute who is hidden.
  for (const vm of Object.values(state.vms)) if (vm.spec.workspace === null) vm.hiddenSince = null;
  updateVisibility(state, now);
}

/** A new config, valid: in force from now on. */
export function configAccepted(turn: Turn, event: Extract<PolicyEvent, { type: 'config' }>): void {
  const { state } = turn;
  if (state.configProblems.length > 0 || !sameSpecs(state, event.vms) || JSON.stringify(state.settings) !== JSON.stringify(event.settings)) {
    turn.actions.push({ type: 'config-changed', accepted: true, problems: [] });
  }
  state.configProblems = [];
  reconfigure(turn, event.vms, event.settings);
}

/** The config file on disk cannot be used (invalid, unreadable, gone): the last good one stays. */
export function configRefused(turn: Turn, problems: string[]): void {
  const { state } = turn;
  // The same problems again (an editor saving twice) are told once.
  if (problems.join('\n') === state.configProblems.join('\n')) return;
  state.configProblems = problems;
  for (const problem of problems) log(turn, null, `config refused: ${problem}`, 'warn');
  turn.actions.push({ type: 'config-changed', accepted: false, problems });
  turn.actions.push({ type: 'notify', summary: 'hiboss: config refused', body: problems[0] ?? '', urgency: 'normal' });
}
