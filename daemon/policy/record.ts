/**
 * A VM's record and the policy's state: how they begin, how a decision copies
 * them, and the few questions every concern asks of them.
 */
import { workspaceMatches } from '../../config/workspaces.js';
import { copyBackups, NO_BACKUPS } from './backup.js';
import { HOST_AWAKE } from './host.js';
import { NO_MICROPHONE } from './microphone.js';
import type { MemoryRecord, PolicySettings, PolicyState, ReportedState, VmRecord, VmSpec, WorkspaceRef } from './types.js';

export const NEW_MEMORY_RECORD: MemoryRecord = Object.freeze({
  rssBytes: null,
  rssBeforeSave: null,
  peakRssBytes: null,
  lastFocusedAt: null,
  prewarmedAt: null,
  hibernateRequested: false,
  prewarmRequested: false,
  budgetPicked: false,
  saveWhy: null,
  saveFailed: false,
  image: null,
  problem: null,
  coldBootBecause: null,
  lastSaveMs: null,
  lastRestoreMs: null,
  shrunk: false,
  waiting: null,
  mayBeHidden: false,
});

export function initialState(settings: PolicySettings, vms: VmSpec[], now: number): PolicyState {
  const state: PolicyState = {
    settings,
    vms: {},
    focused: null,
    visible: [],
    sessionEnding: false,
    configProblems: [],
    announcedFocus: null,
    host: HOST_AWAKE,
    backups: NO_BACKUPS,
    mic: NO_MICROPHONE,
  };
  for (const spec of vms) state.vms[spec.name] = newRecord(spec, now);
  return state;
}

export function newRecord(spec: VmSpec, now: number): VmRecord {
  return {
    spec,
    state: 'stopped',
    reason: 'not started',
    since: now,
    op: null,
    opSince: null,
    awaitingReply: false,
    unresponsiveSince: null,
    hold: null,
    runRequested: false,
    restartRequested: false,
    hiddenSince: spec.workspace === null ? null : now,
    failures: [],
    restarts: 0,
    restartAt: null,
    quitAt: null,
    retryAt: null,
    removed: false,
    lastColdBootMs: null,
    lastResumeMs: null,
    health: null,
    rollbackReason: null,
    memory: NEW_MEMORY_RECORD,
  };
}

/**
 * A copy the decision may change freely. Cheaper than structuredClone on the
 * switch path: records are flat; their arrays and objects (`failures`, `spec`)
 * are replaced, never changed in place, so they are shared.
 */
export function copyState(state: PolicyState): PolicyState {
  const vms: Record<string, VmRecord> = {};
  for (const name in state.vms) vms[name] = copyRecord(state.vms[name]!);
  return { ...state, vms, visible: [...state.visible], backups: copyBackups(state.backups) };
}

/**
 * Field by field, in newRecord's order: every copy has one shape, which V8 copies
 * several times faster than a spread of records whose shapes drifted apart.
 * (Every field is required: one left out here does not compile.)
 */
function copyRecord(vm: VmRecord): VmRecord {
  return {
    spec: vm.spec,
    state: vm.state,
    reason: vm.reason,
    since: vm.since,
    op: vm.op,
    opSince: vm.opSince,
    awaitingReply: vm.awaitingReply,
    unresponsiveSince: vm.unresponsiveSince,
    hold: vm.hold,
    runRequested: vm.runRequested,
    restartRequested: vm.restartRequested,
    hiddenSince: vm.hiddenSince,
    failures: vm.failures,
    restarts: vm.restarts,
    restartAt: vm.restartAt,
    quitAt: vm.quitAt,
    retryAt: vm.retryAt,
    removed: vm.removed,
    lastColdBootMs: vm.lastColdBootMs,
    lastResumeMs: vm.lastResumeMs,
    health: vm.health,
    rollbackReason: vm.rollbackReason,
    memory: vm.memory,
  };
}

export function vmOnWorkspace(state: PolicyState, workspace: WorkspaceRef | null): string | null {
  if (!workspace) return null;
  for (const name in state.vms) {
    const vm = state.vms[name]!;
    if (!vm.removed && vm.spec.workspace !== null && workspaceMatches(vm.spec.workspace, workspace)) return name;
  }
  return null;
}

/** The state the world is told: `unresponsive` while QEMU does not answer. */
export function reportedState(vm: VmRecord): ReportedState {
  return vm.unresponsiveSince !== null ? 'unresponsive' : vm.state;
}

/** The reason the world is told with reportedState: while QEMU does not answer, that (not what it last did). */
export function reportedReason(vm: VmRecord): string {
  if (vm.unresponsiveSince === null || vm.op === null) return vm.reason;
  return `QEMU has not answered "${vm.op}" since ${new Date(vm.unresponsiveSince).toISOString()}`;
}

/** Its workspace is the focused one. */
export function focusedHere(vm: VmRecord, focused: WorkspaceRef | null): boolean {
  return vm.spec.workspace !== null && focused !== null && workspaceMatches(vm.spec.workspace, focused);
}

/** Bound to a workspace that is out of sight. */
export function hidden(vm: VmRecord): boolean {
  return vm.spec.workspace !== null && vm.hiddenSince !== null;
}

/** Out of sight, it keeps running (`"whenHidden": "run"`): never paused, saved or picked for being hidden. */
export function runsHidden(vm: VmRecord): boolean {
  return vm.spec.whenHidden === 'run';
}

/** It may be saved to disk (`"hibernate": false` opts out). */
export function mayHibernate(vm: VmRecord): boolean {
  return vm.spec.hibernate !== false;
}

/** What a VM run by hand on a hidden workspace does next (its reason and the request's answer say it). */
export function runsWhileHidden(vm: VmRecord): string {
  return `it runs while workspace ${vm.spec.workspace} is hidden, until the workspace is shown`;
}
