/**
 * The daemon's decisions, as a pure function: (state, event, now) → (state,
 * actions, next wake-up, answer). No sockets, no timers, no clock, no module
 * state: the loop (daemon/loop.ts) feeds it what happened, one event at a time,
 * and carries out what it returns; tests drive it directly.
 *
 * How it decides: each event updates what is known (focus, visibility, the VMs'
 * observed states, the user's requests); then every VM is reconciled — what it
 * should be doing now is compared with what it is doing, and at most one
 * operation per VM is in flight. That is what keeps rapid switching calm: the
 * last focus wins, a VM is never started twice, and a pause that is no longer
 * wanted is undone as soon as it lands.
 *
 * Everything the daemon tells the world comes out of here as an action
 * (`changed`, `focus-changed`, `config-changed`, `notify`, `log`), so what the
 * bar, the panel, the log and the notifications say is decided in one place.
 *
 * A VM paused or stopped by hand is *held*: focusing its workspace does not undo
 * the user's decision (the bar shows it as held); resume/start/toggle release it.
 * Requests that arrive while an operation is in flight follow one rule: the last
 * request wins, and its answer says what will happen.
 */
import type { VmState as ReportedState } from '../../api/schema.js';
import type { PolicyConfig } from '../../config/schema.js';
import { workspaceMatches, type WorkspaceRef } from '../../config/workspaces.js';
import { deadlinePassed, judgeAnswered, judgeFailed, openWindow, windowPaused, windowResumed, type HealthWindow, type Judgement, type WindowStart } from './health.js';
import * as memory from './memory.js';
import { applyBackupEvent, BACKUP_OPERATIONS, backupWake, copyBackups, diskHeldForStart, isBackupEvent, NO_BACKUPS, reconcileBackups, restoreHolds, type BackupAction, type BackupEvent, type BackupSpec, type BackupState } from './backup.js';
import { afterReconcile, applyHostEvent, HOST_AWAKE, hostPausesVms, type HostEvent, type HostState } from './host.js';

export { workspaceMatches, type WorkspaceRef };

/** What a VM is doing; the API adds `unresponsive`, which is about QEMU's answers, not the VM. */
export type VmState = Exclude<ReportedState, 'unresponsive'>;

export interface VmSpec {
  name: string;
  workspace: string | null;
  restart: 'on-failure' | 'never';
  /** Memory (issue #10): false opts out of hibernation; the size counts for the budget until measured. */
  hibernate?: boolean;
  /** Memory (issue #10): false: no balloon of ours (nothing to shrink before a pause). */
  balloon?: boolean;
  memoryMiB?: number | null;
  /** Backups (issue #12): how often, and where to (./backup.ts decides). */
  backup?: BackupSpec;
}

/** The policy's settings are the config's `policy` section, defaults included. */
export type PolicySettings = PolicyConfig;

export type Operation = 'start' | 'pause' | 'resume' | 'stop' | memory.MemoryOp;

export interface VmRecord {
  spec: VmSpec;
  state: VmState;
  reason: string;
  /** When `state` last changed (epoch ms). */
  since: number;
  /** The operation asked of the supervisor and not yet seen to land. */
  op: Operation | null;
  /** When `op` was asked. */
  opSince: number | null;
  /** A QMP command of `op` is written and its answer not yet back. */
  awaitingReply: boolean;
  /** QEMU has not answered a command for `unresponsiveAfterMs`: since when (null: it answers). */
  unresponsiveSince: number | null;
  hold: 'paused' | 'stopped' | null;
  /** The user asked for it to run (start/resume/toggle) and it is not running yet. */
  runRequested: boolean;
  restartRequested: boolean;
  /** When its workspace stopped being visible; null while visible or without workspace. */
  hiddenSince: number | null;
  failures: number[];
  /** Failures since the daemon started (for status). */
  restarts: number;
  restartAt: number | null;
  quitAt: number | null;
  /** After a failed pause/resume/stop, no new operation before this time. */
  retryAt: number | null;
  removed: boolean;
  lastColdBootMs: number | null;
  lastResumeMs: number | null;
  /** A new generation of a flake VM being judged (./health.ts); null otherwise. */
  health: HealthWindow | null;
  /** A rollback's start is under way: its reason (cleared once it runs). */
  rollbackReason: string | null;
  /** Memory (issue #10): hibernation, budget, prewarm (daemon/policy/memory.ts). */
  memory: memory.MemoryRecord;
}

const RETRY_AFTER_FAILED_OP_MS = 1000;

export interface PolicyState {
  settings: PolicySettings;
  vms: Record<string, VmRecord>;
  focused: WorkspaceRef | null;
  visible: WorkspaceRef[];
  sessionEnding: boolean;
  /** Problems of the config file as it is on disk (empty: it is in force). */
  configProblems: string[];
  /** The focus last announced, so that FocusChanged goes out once per change. */
  announcedFocus: { workspace: string; vm: string } | null;
  /** The machine's sleep and the session's lock (./host.ts). */
  host: HostState;
  /** Backups and restores (./backup.ts). */
  backups: BackupState;
}

export type UserVerb = 'start' | 'stop' | 'pause' | 'resume' | 'restart' | 'toggle' | 'hibernate' | 'prewarm';

export type PolicyEvent =
  /** The WM focused a workspace: acted on at once, before the full snapshot arrives. */
  | { type: 'focus'; workspace: WorkspaceRef }
  /** What the WM shows now (after a burst of workspace events, and at start-up). */
  | { type: 'workspaces'; focused: WorkspaceRef | null; visible: WorkspaceRef[] }
  /** What the supervisor observed of a VM; without a reason the policy says why. */
  | { type: 'observed'; name: string; state: 'running' | 'paused' | 'stopped' | 'failed' | 'hibernated'; reason?: string; image?: memory.ImageInfo }
  /** Memory (issue #10): resident memory of each VM's QEMU (VMs without one are left out). */
  | { type: 'memory'; rssBytes: Record<string, number> }
  /** Memory (issue #10): the WM created a workspace (its hibernated VM may be prewarmed). */
  | { type: 'workspace-init'; workspace: WorkspaceRef }
  /** QEMU answered the command of an operation (its STOP/RESUME event, if any, came first). */
  | { type: 'op-done'; name: string; op: Operation }
  /**
   * An operation could not be carried out; the VM's state is unchanged. `permanent`: trying
   * again cannot succeed until the user changes something (a symlinked runtime dir…).
   */
  | { type: 'op-failed'; name: string; op: Operation; reason: string; timedOut?: boolean; permanent?: boolean }
  | { type: 'user'; verb: UserVerb; name: string }
  | { type: 'config'; vms: VmSpec[]; settings: PolicySettings }
  /** The config file on disk cannot be used (invalid, unreadable, gone): the last good one stays. */
  | { type: 'config-refused'; problems: string[] }
  /** A fact only the I/O side knows, for the log (a window placed, a build line, an adoption). */
  | { type: 'note'; name: string | null; message: string; level?: 'info' | 'warn' }
  /** The WM session ends: power every VM off, then exit. */
  | { type: 'session-end' }
  /** A flake VM booted a generation not yet judged: its health window opens (./health.ts). */
  | { type: 'health-watch'; name: string; window: WindowStart }
  /** The guest agent of a VM in a health window answered `guest-ping`. */
  | { type: 'guest-answered'; name: string; generation: number }
  /** QMP GUEST_PANICKED (the pvpanic device). */
  | { type: 'guest-panicked'; name: string }
  /** An update of a flake VM (daemon/updates/updater.ts): building, built (selected for the next start), failed, up to date. */
  | { type: 'update-progress'; name: string; kind: 'building' | 'built' | 'build-failed' | 'up-to-date'; message: string; auto: boolean; restartNow: boolean }
  /** The wake-up asked for by the last decision has come. */
  | { type: 'tick' }
  /** A hold kept by an earlier daemon (daemon/holds.ts), still valid for the QEMU adopted. */
  | { type: 'hold-restored'; name: string; hold: 'paused' | 'stopped' }
  /** logind: the machine sleeps or wakes, the session locks or unlocks (./host.ts). */
  | HostEvent
  /** Backups (./backup.ts): history read, requests, jobs done or failed. */
  | BackupEvent;

export type Action =
  | { type: 'start'; name: string }
  | { type: 'resume'; name: string }
  | { type: 'pause'; name: string }
  /** ACPI powerdown; `quit` follows if it is not down by the deadline. */
  | { type: 'powerdown'; name: string }
  | { type: 'quit'; name: string }
  /** Memory (issue #10): save the (paused) VM's RAM to its image, then end its QEMU. */
  | { type: 'hibernate'; name: string }
  /** Memory (issue #10): start QEMU from the image; it lands paused. */
  | { type: 'restore'; name: string }
  /** Memory (issue #10): before a pause, inflate the balloon to the guest's working set (balloonBeforePause). */
  | { type: 'shrink'; name: string }
  /** Tell the world (D-Bus signal, log, bar). */
  | { type: 'changed'; name: string; state: ReportedState; reason: string }
  | { type: 'focus-changed'; workspace: string; vm: string }
  | { type: 'config-changed'; accepted: boolean; problems: string[] }
  | { type: 'notify'; summary: string; body: string; urgency: 'low' | 'normal' | 'critical' }
  | { type: 'log'; name: string | null; level: 'info' | 'warn'; message: string }
  /** A VM removed from the config is down: drop everything about it. */
  | { type: 'forget'; name: string }
  /** The user's hold changed: kept on disk (daemon/holds.ts), so a restarted daemon honours it. */
  | { type: 'hold-changed'; name: string; hold: 'paused' | 'stopped' | null }
  /** Every VM that ran is paused (or logind's delay ran out): let the machine sleep. */
  | { type: 'release-sleep-lock' }
  /** The VM runs again after the machine slept (or the session was locked): set its guest clock. */
  | { type: 'sync-clock'; name: string }
  /** A generation's health judged: the store records it (and selects `rollbackTo`). */
  | { type: 'judged'; name: string; generation: number; outcome: 'healthy' | 'failed'; reason: string; rollbackTo: number | null }
  /** A flake VM's update, told (the UpdateEvent signal). */
  | { type: 'update-event'; name: string; kind: string; message: string }
  /** Backups (./backup.ts): run, cancel, restore; BackupChanged told. */
  | BackupAction
  | { type: 'exit' };

/** The operations: what the loop carries out at once, before anything is announced. */
export const OPERATIONS: ReadonlySet<Action['type']> = new Set(['judged', 'start', 'resume', 'pause', 'powerdown', 'quit', 'forget', 'hibernate', 'restore', 'shrink', ...BACKUP_OPERATIONS]);

/** What a user request will do, or why it cannot be done. */
export type Answer = { ok: true; message: string } | { ok: false; kind: 'InvalidArgument' | 'NoSuchVm'; message: string };

export interface Decision {
  state: PolicyState;
  actions: Action[];
  /** When to send the next `tick` (epoch ms), or null when nothing is pending. */
  wakeAt: number | null;
  /** For `user` events: the reply the requester gets. */
  answer: Answer | null;
}

/** One decision's working set: passed along, never kept between calls. */
interface Turn {
  state: PolicyState;
  now: number;
  actions: Action[];
  /** Every transition within the decision, so that none is lost (stopped → starting in one step). */
  transitions: { vm: VmRecord; state: ReportedState; reason: string }[];
  answer: Answer | null;
}

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
  };
  for (const spec of vms) state.vms[spec.name] = newRecord(spec, now);
  return state;
}

function newRecord(spec: VmSpec, now: number): VmRecord {
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
    memory: memory.NEW_MEMORY_RECORD,
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

/**
 * A copy the decision may change freely. Cheaper than structuredClone on the
 * switch path: records are flat; their arrays and objects (`failures`, `spec`)
 * are replaced, never changed in place, so they are shared.
 */
function copyState(state: PolicyState): PolicyState {
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

export function decide(previous: PolicyState, event: PolicyEvent, now: number): Decision {
  if (changesNothing(previous, event, now)) return { state: previous, actions: [], wakeAt: nextWake(previous, now), answer: null };
  const turn: Turn = { state: copyState(previous), now, actions: [], transitions: [], answer: null };
  const { state, actions } = turn;
  apply(turn, event);
  const backupAnswer = isBackupEvent(event) ? applyBackupEvent(turn, event) : null;
  memory.refreshMemory({ settings: state.settings, vms: state.vms, focused: state.focused, focusedBefore: vmOnWorkspace(previous, previous.focused), snapshot: event.type === 'workspaces', now });
  for (const name in state.vms) reconcile(turn, state.vms[name]!);
  const host = afterReconcile(state.host, state.vms, state.settings, now, (message, level) => log(turn, null, message, level));
  state.host = host.host;
  actions.push(...host.actions);
  reconcileBackups(turn);
  if (event.type === 'user') turn.answer = answerFor(turn, event);
  if (backupAnswer) turn.answer = backupAnswer;
  const reported = new Map<string, { state: ReportedState; reason: string }>();
  for (const { vm, state: to, reason } of turn.transitions) {
    const name = vm.spec.name;
    const before = previous.vms[name];
    const last = reported.get(name) ?? (before ? { state: reportedState(before), reason: before.reason } : undefined);
    if (last && last.state === to && last.reason === reason) continue;
    actions.push({ type: 'changed', name, state: to, reason });
    reported.set(name, { state: to, reason });
  }
  for (const name in state.vms) {
    const vm = state.vms[name]!;
    const before = previous.vms[name];
    const unchanged = !before || reported.has(name);
    if (!unchanged && reportedState(before) === 'unresponsive' && reportedState(vm) !== 'unresponsive') {
      // QEMU answers again and nothing else changed: tell its real state.
      actions.push({ type: 'changed', name, state: vm.state, reason: vm.reason });
    }
    if (!before && !reported.has(name)) actions.push({ type: 'changed', name, state: vm.state, reason: vm.reason });
    if (vm.removed && vm.op === null && memory.atRest(vm.state)) {
      delete state.vms[name];
      actions.push({ type: 'forget', name });
    }
  }
  if (event.type !== 'hold-restored') tellHoldChanges(turn, previous);
  announceFocus(turn);
  if (state.sessionEnding && Object.values(state.vms).every((vm) => memory.atRest(vm.state) && vm.op === null)) {
    actions.push({ type: 'exit' });
  }
  return { state, actions, wakeAt: nextWake(state, now), answer: turn.answer };
}

/**
 * QEMU's answer to a command whose event has already been decided (`cont`'s
 * reply after its RESUME, `stop`'s after its STOP) changes nothing: it needs no
 * copy of the state and no pass over every VM — half the decisions of a switch.
 * Only when no deadline has passed, so that nothing a full decision would have
 * done at `now` is left for later.
 */
function changesNothing(state: PolicyState, event: PolicyEvent, now: number): boolean {
  if (event.type !== 'op-done') return false;
  const vm = state.vms[event.name];
  if (!vm || vm.op === event.op || vm.awaitingReply || vm.unresponsiveSince !== null) return false;
  const next = earliestDeadline(state);
  return next === null || next > now;
}

function isDown(state: VmState): boolean {
  return state === 'stopped' || state === 'failed';
}

function setState(turn: Turn, vm: VmRecord, state: VmState, reason: string): void {
  if (vm.state !== state) vm.since = turn.now;
  vm.state = state;
  vm.reason = reason;
  turn.transitions.push({ vm, state: reportedState(vm), reason });
}

function log(turn: Turn, name: string | null, message: string, level: 'info' | 'warn' = 'info'): void {
  turn.actions.push({ type: 'log', name, level, message });
}

/** QEMU answered: whatever it was doing, it is responsive again. */
function answered(turn: Turn, vm: VmRecord): void {
  vm.awaitingReply = false;
  if (vm.unresponsiveSince === null) return;
  vm.unresponsiveSince = null;
  log(turn, vm.spec.name, 'QEMU answers again');
  // Its state is told at the end of the decision (it may change again within it).
}

function apply(turn: Turn, event: PolicyEvent): void {
  const { state, now } = turn;
  switch (event.type) {
    case 'focus':
      state.focused = event.workspace;
      if (!state.visible.some((w) => w.name === event.workspace.name)) state.visible.push(event.workspace);
      updateVisibility(state, now);
      return;
    case 'workspaces':
      state.focused = event.focused;
      state.visible = event.visible;
      updateVisibility(state, now);
      return;
    case 'observed':
      return observe(turn, event);
    case 'op-done': {
      const vm = state.vms[event.name];
      if (!vm) return;
      answered(turn, vm);
      if (vm.op !== event.op) return;
      if (event.op === 'shrink') {
        clearOp(vm);
        vm.memory = memory.afterShrink(vm.memory);
        return;
      }
      // A command that changes nothing sends no event (`stop` on a VM already paused):
      // its answer alone says the operation landed.
      if (event.op === 'pause') observe(turn, { type: 'observed', name: event.name, state: 'paused' });
      if (event.op === 'resume') observe(turn, { type: 'observed', name: event.name, state: 'running' });
      return;
    }
    case 'op-failed': {
      const vm = state.vms[event.name];
      if (!vm || vm.op !== event.op) return;
      vm.op = null;
      vm.opSince = null;
      vm.awaitingReply = false;
      if (event.op === 'start') return fail(turn, vm, `could not start: ${event.reason}`, event.permanent === true);
      if (memory.isMemoryOp(event.op)) return memoryOpFailed(turn, vm, event.op, event.reason);
      log(turn, vm.spec.name, `${event.op} failed: ${event.reason}`, 'warn');
      // Not again at once: a QEMU that refuses would otherwise be asked in a tight loop.
      vm.retryAt = now + RETRY_AFTER_FAILED_OP_MS;
      if (event.timedOut) {
        vm.unresponsiveSince ??= now;
        turn.transitions.push({ vm, state: 'unresponsive', reason: `QEMU did not answer "${event.op}" within ${seconds(state.settings.qmpTimeoutMs)}; asking again` });
        vm.reason = turn.transitions.at(-1)!.reason;
      } else vm.reason = `${event.op} failed: ${event.reason}`;
      return;
    }
    case 'user':
      return userRequest(turn, event.verb, event.name);
    case 'config':
      if (state.configProblems.length > 0 || !sameSpecs(state, event.vms) || JSON.stringify(state.settings) !== JSON.stringify(event.settings)) {
        turn.actions.push({ type: 'config-changed', accepted: true, problems: [] });
      }
      state.configProblems = [];
      return reconfigure(turn, event.vms, event.settings);
    case 'config-refused':
      // The same problems again (an editor saving twice) are told once.
      if (event.problems.join('\n') === state.configProblems.join('\n')) return;
      state.configProblems = event.problems;
      for (const problem of event.problems) log(turn, null, `config refused: ${problem}`, 'warn');
      turn.actions.push({ type: 'config-changed', accepted: false, problems: event.problems });
      turn.actions.push({ type: 'notify', summary: 'hiboss: config refused', body: event.problems[0] ?? '', urgency: 'normal' });
      return;
    case 'note':
      log(turn, event.name, event.message, event.level);
      return;
    case 'session-end':
      state.sessionEnding = true;
      log(turn, null, 'the WM session ended: powering VMs off');
      return;
    case 'health-watch':
    case 'guest-answered':
    case 'guest-panicked':
    case 'update-progress':
      return healthEvent(turn, event);
    case 'tick':
      return;
    case 'memory':
      memory.sampled(state.vms, event.rssBytes);
      return;
    case 'workspace-init':
      memory.prewarmOnInit(state.settings, state.vms, event.workspace);
      return;
    case 'sleep':
    case 'wake':
    case 'lock':
    case 'unlock': {
      const host = applyHostEvent(state.host, event, Object.values(state.vms), state.settings, now, (message, level) => log(turn, null, message, level));
      state.host = host.host;
      turn.actions.push(...host.actions);
      return;
    }
    case 'hold-restored': {
      const vm = state.vms[event.name];
      if (!vm) return;
      vm.hold = event.hold;
      log(turn, vm.spec.name, `still ${event.hold} by the user (kept across the daemon's restart)`);
      if (event.hold === 'paused' && vm.state === 'paused') vm.reason = 'paused by the user';
      if (event.hold === 'stopped' && vm.state === 'stopped') vm.reason = 'stopped by the user';
      return;
    }
  }
}

/** Every hold that changed in this decision, for the disk (a forgotten VM's hold goes too). */
function tellHoldChanges(turn: Turn, previous: PolicyState): void {
  for (const name in previous.vms) {
    const hold = turn.state.vms[name]?.hold ?? null;
    if (hold !== previous.vms[name]!.hold) turn.actions.push({ type: 'hold-changed', name, hold });
  }
  for (const name in turn.state.vms) {
    const vm = turn.state.vms[name]!;
    if (!previous.vms[name] && vm.hold !== null) turn.actions.push({ type: 'hold-changed', name, hold: vm.hold });
  }
}

function sameSpecs(state: PolicyState, specs: VmSpec[]): boolean {
  const current = Object.values(state.vms).filter((vm) => !vm.removed);
  return current.length === specs.length && specs.every((spec) => JSON.stringify(state.vms[spec.name]?.spec) === JSON.stringify(spec));
}

function updateVisibility(state: PolicyState, now: number): void {
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

function announceFocus(turn: Turn): void {
  const { state } = turn;
  if (!state.focused) return;
  const current = { workspace: state.focused.name, vm: focusedVm(state) ?? '' };
  const last = state.announcedFocus;
  if (last && last.workspace === current.workspace && last.vm === current.vm) return;
  state.announcedFocus = current;
  turn.actions.push({ type: 'focus-changed', ...current });
}

/** Why a VM runs or is paused, when the observation itself does not say. */
function pauseReason(state: PolicyState, vm: VmRecord): string {
  if (vm.hold === 'paused') return 'paused by the user';
  if (vm.op === 'pause' && hostPausesVms(state.host, state.settings)) return state.host.asleep ? 'the machine sleeps' : 'the session is locked';
  if (vm.op === 'pause' && vm.hiddenSince !== null) return 'workspace hidden';
  return 'paused';
}

function runReason(state: PolicyState, vm: VmRecord): string {
  if (vm.runRequested) return 'resumed by the user';
  if (vm.spec.workspace !== null && state.focused && workspaceMatches(vm.spec.workspace, state.focused)) {
    return `workspace ${state.focused.name} focused`;
  }
  return 'running';
}

function observe(turn: Turn, event: Extract<PolicyEvent, { type: 'observed' }>): void {
  const { state, now } = turn;
  const vm = state.vms[event.name];
  if (!vm) return;
  answered(turn, vm);
  if (healthObserved(turn, vm, event)) return;
  // A save pauses the VM first: its STOP is part of the save, not a state of its own.
  if (vm.op === 'hibernate' && (event.state === 'running' || event.state === 'paused')) return;
  vm.memory = memory.afterObserved(vm, vm.op, event, now);
  switch (event.state) {
    case 'hibernated':
      clearOp(vm);
      setState(turn, vm, 'hibernated', event.reason ?? memory.hibernatedReason(vm));
      return;
    case 'running': {
      // Powering a paused VM down resumes it first: it is still on its way down.
      if (vm.op === 'stop') return;
      const reason = event.reason ?? runReason(state, vm);
      if (vm.op === 'start' && vm.opSince !== null) vm.lastColdBootMs = now - vm.opSince;
      if (vm.op === 'resume' && vm.opSince !== null) vm.lastResumeMs = now - vm.opSince;
      if (vm.op === 'start' && vm.lastColdBootMs !== null && vm.lastColdBootMs > state.settings.slowStartMs) {
        turn.actions.push({ type: 'notify', summary: `hiboss: ${vm.spec.name} took ${seconds(vm.lastColdBootMs)} to start`, body: 'a slow cold start (a flake build?)', urgency: 'low' });
      }
      if (vm.op === 'start' || vm.op === 'resume' || vm.op === 'restore') clearOp(vm);
      vm.runRequested = false;
      vm.restartAt = null;
      setState(turn, vm, 'running', reason);
      return;
    }
    case 'paused': {
      if (vm.op === 'stop') return;
      const reason = event.reason ?? pauseReason(state, vm);
      // A start that lands paused (restored from a snapshot) still needs a resume.
      if (vm.op === 'pause' || vm.op === 'start' || vm.op === 'restore') clearOp(vm);
      setState(turn, vm, 'paused', reason);
      return;
    }
    case 'stopped':
      // Shut down from inside (the guest powered off): the user's doing, so it stays
      // down like a hand stop until started again, rather than rebooting on focus.
      if (vm.op !== 'stop' && !state.sessionEnding && !vm.removed && !vm.restartRequested && !vm.runRequested) vm.hold = 'stopped';
      clearOp(vm);
      vm.quitAt = null;
      setState(turn, vm, 'stopped', event.reason ?? 'stopped');
      return;
    case 'failed':
      clearOp(vm);
      vm.quitAt = null;
      if (vm.state === 'stopping' || state.sessionEnding || vm.removed) {
        // It was being shut down anyway: that is a stop, not a failure to restart from.
        setState(turn, vm, 'stopped', event.reason ?? 'stopped');
        return;
      }
      return fail(turn, vm, event.reason ?? 'QEMU failed');
  }
}

function clearOp(vm: VmRecord): void {
  vm.op = null;
  vm.opSince = null;
  vm.awaitingReply = false;
}

function fail(turn: Turn, vm: VmRecord, reason: string, permanent = false): void {
  const { state, now } = turn;
  const { maxRestarts, restartWindowMs, restartDelayMs } = state.settings;
  vm.failures = [...vm.failures.filter((t) => now - t < restartWindowMs), now];
  vm.restarts += 1;
  vm.runRequested = false;
  if (permanent) {
    // No retry of what cannot succeed: it waits for the user (hiboss start NAME once fixed).
    vm.restartAt = null;
    setState(turn, vm, 'failed', `${reason} (not restarting: it cannot succeed until that is fixed; then hiboss start ${vm.spec.name})`);
  } else if (vm.spec.restart === 'on-failure' && vm.failures.length <= maxRestarts) {
    const delay = restartDelayMs * 2 ** (vm.failures.length - 1);
    vm.restartAt = now + delay;
    const hidden = vm.spec.workspace !== null && vm.hiddenSince !== null;
    const when = hidden ? `when workspace ${vm.spec.workspace} is shown` : `in ${Math.round(delay / 1000)} s`;
    setState(turn, vm, 'failed', `${reason} (restart ${vm.failures.length}/${maxRestarts} ${when})`);
  } else {
    vm.restartAt = null;
    const why = vm.spec.restart === 'never' ? 'restart is off' : `${vm.failures.length} failures within ${Math.round(restartWindowMs / 1000)} s, not restarting`;
    setState(turn, vm, 'failed', `${reason} (${why})`);
  }
  turn.actions.push({ type: 'notify', summary: `hiboss: VM ${vm.spec.name} failed`, body: vm.reason, urgency: 'critical' });
}

/** Requests of the user; the last one wins. A pause needs a VM that runs or is on its way up. */
function userRequest(turn: Turn, verb: UserVerb, name: string): void {
  const { now } = turn;
  const vm = turn.state.vms[name];
  if (!vm) return;
  log(turn, name, `user: ${verb}`);
  if (verb !== 'hibernate' && verb !== 'prewarm' && verb !== 'toggle') vm.memory = memory.releaseHibernate(vm.memory);
  switch (verb) {
    case 'hibernate':
      // A hold, as a pause by hand is: focus does not bring it back; resume/start/toggle do.
      if (!memory.canHibernateByHand(vm)) return;
      vm.hold = 'paused';
      vm.runRequested = false;
      vm.memory = memory.requestHibernate(vm);
      return;
    case 'prewarm':
      vm.memory = memory.requestPrewarm(vm);
      return;
    case 'toggle':
      if (vm.state === 'running' || vm.state === 'starting' || vm.op === 'resume' || vm.runRequested) return userRequest(turn, 'pause', name);
      return userRequest(turn, vm.state === 'paused' ? 'resume' : 'start', name);
    case 'start':
    case 'resume':
      vm.hold = null;
      vm.runRequested = true;
      vm.failures = verb === 'start' ? [] : vm.failures;
      // Started by hand while its workspace is hidden: the usual grace period applies.
      if (vm.hiddenSince !== null) vm.hiddenSince = now;
      return;
    case 'pause':
      if (!canPause(vm)) return;
      vm.hold = 'paused';
      // A start asked while it goes down still happens: it has to run before it can be paused.
      if (vm.state !== 'stopping' && !isDown(vm.state)) vm.runRequested = false;
      return;
    case 'stop':
      vm.hold = 'stopped';
      vm.runRequested = false;
      vm.restartRequested = false;
      vm.restartAt = null;
      return;
    case 'restart':
      vm.hold = null;
      vm.failures = [];
      if (vm.hiddenSince !== null) vm.hiddenSince = now;
      if (isDown(vm.state)) vm.runRequested = true;
      else vm.restartRequested = true;
      return;
  }
}

function canPause(vm: VmRecord): boolean {
  if (vm.state === 'stopping' || vm.hold === 'stopped') return vm.runRequested || vm.restartRequested;
  return !isDown(vm.state) || vm.runRequested || vm.op === 'start';
}

function seconds(ms: number): string {
  return ms < 10_000 ? `${(Math.round(ms / 100) / 10).toString()} s` : `${Math.round(ms / 1000)} s`;
}

/** The reply to a request: what will happen now, or what it waits for. */
function answerFor(turn: Turn, event: Extract<PolicyEvent, { type: 'user' }>): Answer {
  const vm = turn.state.vms[event.name];
  if (!vm) return { ok: false, kind: 'NoSuchVm', message: `no VM named "${event.name}"` };
  const memoryAnswer = memory.memoryAnswer(vm, event.verb);
  if (memoryAnswer) return memoryAnswer;
  const name = vm.spec.name;
  const verb = event.verb === 'toggle' ? (vm.hold === 'paused' ? 'pause' : 'run') : event.verb;
  if (verb === 'pause' && vm.hold !== 'paused') {
    return { ok: false, kind: 'InvalidArgument', message: `${name} is ${vm.state}: nothing to pause (start it first)` };
  }
  if (vm.unresponsiveSince !== null) {
    return { ok: true, message: `${name}: ${event.verb} queued: QEMU has not answered for ${seconds(turn.now - vm.unresponsiveSince)}` };
  }
  if (vm.state === 'stopping' && (vm.runRequested || vm.restartRequested)) {
    return { ok: true, message: `${name}: ${event.verb} queued: it starts again once its shutdown completes` };
  }
  if (vm.op !== null && vm.state !== 'stopping' && vm.state !== 'starting') {
    return { ok: true, message: `${name}: ${event.verb} (${vm.op} in flight)` };
  }
  const what = vm.state === 'stopping' ? `stopping: ACPI powerdown, quit after ${seconds(turn.state.settings.powerdownTimeoutMs)}` : vm.state;
  return { ok: true, message: `${name}: ${event.verb} (${what})` };
}

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

type Want = 'run' | 'pause' | 'stop' | 'keep';

function want(state: PolicyState, vm: VmRecord, now: number): Want {
  if (state.sessionEnding || vm.removed || vm.hold === 'stopped') return 'stop';
  if (vm.restartRequested) return 'stop'; // then run, once it is down
  if (restoreHolds(state.backups, vm.spec.name)) return 'stop'; // its disk is being restored
  if (hostPausesVms(state.host, state.settings)) return 'pause'; // asleep, or locked with pauseOnLock
  if (vm.hold === 'paused') return isDown(vm.state) && vm.runRequested ? 'run' : 'pause';
  if (vm.runRequested) return 'run';
  const workspace = vm.spec.workspace;
  if (vm.state === 'failed') {
    const restartDue = vm.restartAt !== null && now >= vm.restartAt;
    if (!restartDue) return 'keep';
    // A hidden VM is brought back when someone looks at it: booting it only to pause it
    // would cost a boot for nothing (its reason says so).
    if (workspace === null) return 'run';
  }
  if (workspace === null) return 'keep';
  if (state.focused && workspaceMatches(workspace, state.focused)) return 'run';
  if (vm.hiddenSince === null) return 'keep'; // visible on another output
  if (vm.health !== null) return 'keep'; // judging an update: a paused guest cannot answer
  return now - vm.hiddenSince >= state.settings.pauseAfterMs ? 'pause' : 'keep';
}

function ask(turn: Turn, vm: VmRecord, op: Operation, action: Action): void {
  vm.op = op;
  vm.opSince = turn.now;
  vm.awaitingReply = op !== 'start' && !memory.isMemoryOp(op);
  turn.actions.push(action);
}

function reconcile(turn: Turn, vm: VmRecord): void {
  const { state, now } = turn;
  const name = vm.spec.name;
  if (vm.health !== null && deadlinePassed(vm.health, now)) healthFailed(turn, vm, judgeFailed(name, vm.health, now, { kind: 'deadline' }));
  if (vm.awaitingReply && vm.unresponsiveSince === null && vm.opSince !== null && now - vm.opSince >= state.settings.unresponsiveAfterMs) {
    vm.unresponsiveSince = vm.opSince;
    log(turn, name, `QEMU has not answered "${vm.op}" for ${seconds(now - vm.opSince)}`, 'warn');
    turn.transitions.push({ vm, state: 'unresponsive', reason: `QEMU has not answered "${vm.op}" since ${new Date(vm.opSince).toISOString()}` });
  }
  if (vm.state === 'stopping' && vm.quitAt !== null && now >= vm.quitAt) {
    vm.quitAt = null;
    log(turn, name, 'did not power down in time: quit');
    turn.actions.push({ type: 'quit', name });
    return;
  }
  if (vm.op !== null) return;
  if (vm.retryAt !== null) {
    if (now < vm.retryAt) return;
    vm.retryAt = null;
  }
  // Memory (issue #10): a restore or start waiting for memory is decided afresh, from what the VM was.
  const waited = vm.memory.waiting;
  if (waited) [vm.state, vm.reason, vm.since] = [waited.from, waited.fromReason, waited.fromSince];
  if (vm.restartRequested && isDown(vm.state)) {
    vm.restartRequested = false;
    vm.runRequested = true;
  }
  reconcileWish(turn, vm);
  if (waited && vm.memory.waiting === waited) endWait(turn, vm, waited);
}

function reconcileWish(turn: Turn, vm: VmRecord): void {
  const { state, now } = turn;
  const name = vm.spec.name;
  switch (memory.memoryWant(state.settings, vm, want(state, vm, now), now)) {
    case 'run':
      if ((isDown(vm.state) || vm.state === 'hibernated') && diskHeldForStart(turn, name)) return; // it starts once the backup lets go of the disk
      if (isDown(vm.state)) {
        const overBudget = admitted(turn, vm, 'starting');
        if (overBudget === null) return; // it waits for memory
        vm.restartAt = null;
        ask(turn, vm, 'start', { type: 'start', name });
        setState(turn, vm, 'starting', startReason(state, vm) + overBudget);
      } else if (vm.state === 'paused') {
        ask(turn, vm, 'resume', { type: 'resume', name });
      } else if (vm.state === 'hibernated') {
        restore(turn, vm, 'run');
      } else if (vm.state === 'running' && vm.memory.shrunk) {
        ask(turn, vm, 'resume', { type: 'resume', name }); // shrunk, then wanted again before the pause: the balloon deflates
      } else if (vm.state === 'running') {
        vm.runRequested = false; // already running: the request is met, focus rules again
      }
      return;
    case 'pause':
      if (vm.state === 'running') pauseOrShrink(turn, vm);
      return;
    case 'stop':
      if (vm.state === 'running' || vm.state === 'paused') {
        ask(turn, vm, 'stop', { type: 'powerdown', name });
        vm.quitAt = now + state.settings.powerdownTimeoutMs;
        const why = state.sessionEnding ? 'session ended' : vm.removed ? 'removed from the config' : vm.restartRequested ? 'restarting' : restoreHolds(state.backups, name) ? 'stopping for a restore from backup' : 'stopped by the user';
        setState(turn, vm, 'stopping', why);
        log(turn, name, 'ACPI powerdown');
      } else if (vm.state === 'hibernated' && !state.sessionEnding && !vm.removed && !diskHeldForStart(turn, name)) {
        restore(turn, vm, 'stop'); // to power it down cleanly; at the session's end it stays on disk
      }
      return;
    case 'hibernate':
      // Saved from paused only: a running VM is paused first.
      if (vm.state === 'running') pauseOrShrink(turn, vm);
      else if (vm.state === 'paused') {
        vm.memory = memory.saving(state.settings, vm);
        ask(turn, vm, 'hibernate', { type: 'hibernate', name });
        setState(turn, vm, 'saving', vm.memory.saveWhy ?? 'saving to disk');
      }
      return;
    case 'prewarm':
      if (vm.state === 'hibernated' && !diskHeldForStart(turn, name)) restore(turn, vm, 'prewarm');
      return;
    case 'keep':
      return;
  }
}

/** Memory (issue #10): a hidden VM is shrunk to its working set first when the policy says so. */
function pauseOrShrink(turn: Turn, vm: VmRecord): void {
  const name = vm.spec.name;
  if (memory.shouldShrink(turn.state.settings, vm)) ask(turn, vm, 'shrink', { type: 'shrink', name });
  else ask(turn, vm, 'pause', { type: 'pause', name });
}

function restore(turn: Turn, vm: VmRecord, why: 'run' | 'prewarm' | 'stop'): void {
  const overBudget = admitted(turn, vm, 'restoring');
  if (overBudget === null) return; // it waits for memory
  ask(turn, vm, 'restore', { type: 'restore', name: vm.spec.name });
  setState(turn, vm, 'restoring', memory.restoreReason(vm, why, turn.state.focused) + overBudget);
}

/**
 * Memory (issue #10): may this restore or start go on now (./memory.ts admit)?
 * null: it waits for memory, shown as `shown` with what it waits for; else what
 * its reason adds ('' when it fits the budget).
 */
function admitted(turn: Turn, vm: VmRecord, shown: 'restoring' | 'starting'): string | null {
  const name = vm.spec.name;
  const what = shown === 'restoring' ? 'restore' : 'start';
  const waiting = vm.memory.waiting;
  const admission = memory.admit(turn.state.settings, turn.state.vms, vm);
  if (admission.go) {
    if (waiting) log(turn, name, `waited ${seconds(turn.now - waiting.since)} for memory: its ${what} goes on`);
    if (admission.overBudget === null) return '';
    log(turn, name, `${what}: ${admission.overBudget}`, 'warn');
    return `; ${admission.overBudget}`;
  }
  const reason = memory.waitReason(admission.saves, admission.unseen);
  if (!waiting) log(turn, name, `its ${what} waits until their QEMUs are gone: ${reason}`);
  vm.memory = memory.waitFor(vm, admission.saves, turn.now);
  setState(turn, vm, shown, reason);
  vm.since = vm.memory.waiting!.since;
  return null;
}

/** Memory (issue #10): a wait for memory this decision did not renew: it went on, or it is called off (back to what it was). */
function endWait(turn: Turn, vm: VmRecord, waited: memory.MemoryWait): void {
  vm.memory = { ...vm.memory, waiting: null };
  if (vm.op !== null) return; // it went on
  log(turn, vm.spec.name, `no longer waiting for memory after ${seconds(turn.now - waited.since)}: not wanted now`);
  turn.transitions.push({ vm, state: reportedState(vm), reason: vm.reason });
}

/** Memory (issue #10): a save or restore failed; the VM's state says what it is now, and the user is told. */
function memoryOpFailed(turn: Turn, vm: VmRecord, op: memory.MemoryOp, reason: string): void {
  const failure = memory.memoryOpFailed(vm, op, reason);
  vm.memory = failure.memory;
  log(turn, vm.spec.name, `${op} failed: ${reason}`, 'warn');
  if (failure.state !== vm.state || failure.reason !== vm.reason) setState(turn, vm, failure.state, failure.reason);
  if (failure.notify) turn.actions.push({ type: 'notify', ...failure.notify });
}

function startReason(state: PolicyState, vm: VmRecord): string {
  if (vm.rollbackReason !== null) return vm.rollbackReason;
  const coldBoot = memory.coldBootReason(vm);
  if (coldBoot) return coldBoot;
  if (vm.runRequested) return 'started by the user';
  if (vm.failures.length > 0) return `restarting after a failure (${vm.failures.length}/${state.settings.maxRestarts})`;
  return `workspace ${state.focused?.name ?? vm.spec.workspace} focused`;
}

/** The earliest future deadline: everything due by `now` was just acted upon. */
function nextWake(state: PolicyState, now: number): number | null {
  return deadlines(state, now);
}

/** The earliest deadline of all, passed or not (null: none). */
function earliestDeadline(state: PolicyState): number | null {
  return deadlines(state, -Infinity);
}

/** The earliest of the state's deadlines after `after`. */
function deadlines(state: PolicyState, after: number): number | null {
  let wake: number | null = null;
  const consider = (t: number | null) => {
    if (t !== null && t > after && (wake === null || t < wake)) wake = t;
  };
  consider(state.host.sleepLockDeadline);
  consider(backupWake(state.backups, state.settings, after));
  for (const name in state.vms) {
    const vm = state.vms[name]!;
    if (vm.health !== null && vm.health.pausedAt === null) consider(vm.health.deadline);
    if (vm.awaitingReply && vm.unresponsiveSince === null && vm.opSince !== null) consider(vm.opSince + state.settings.unresponsiveAfterMs);
    if (vm.op !== null && vm.state !== 'stopping') continue; // waiting for the supervisor, not the clock
    consider(memory.hibernateWakeAt(state.settings, vm));
    if (vm.state === 'running' && vm.hiddenSince !== null && vm.hold === null) {
      consider(vm.hiddenSince + state.settings.pauseAfterMs);
    }
    if (vm.state === 'failed') consider(vm.restartAt);
    if (vm.state === 'stopping') consider(vm.quitAt);
    consider(vm.retryAt);
  }
  return wake;
}

// ---- health after an update (./health.ts decides; issue #11) -------------------------------

type HealthEvent = Extract<PolicyEvent, { type: 'health-watch' | 'guest-answered' | 'guest-panicked' | 'update-progress' }>;

function healthEvent(turn: Turn, event: HealthEvent): void {
  const vm = turn.state.vms[event.name];
  if (!vm) return;
  const name = vm.spec.name;
  switch (event.type) {
    case 'health-watch': {
      const window = openWindow(event.window, turn.now, event.window.restored);
      if (!event.window.running) return healthFailed(turn, vm, judgeFailed(name, window, turn.now, { kind: 'away' }));
      vm.health = window;
      log(turn, name, `generation ${window.generation} booted: healthy once its guest agent answers (by ${new Date(window.deadline).toISOString()})`);
      return;
    }
    case 'guest-answered': {
      if (vm.health === null || vm.health.generation !== event.generation) return;
      const judgement = judgeAnswered(name, vm.health, turn.now);
      vm.health = null;
      tellJudgement(turn, vm, judgement);
      return;
    }
    case 'guest-panicked':
      if (vm.health === null) return log(turn, name, 'the guest panicked', 'warn');
      return healthFailed(turn, vm, judgeFailed(name, vm.health, turn.now, { kind: 'panic' }));
    case 'update-progress': {
      turn.actions.push({ type: 'update-event', name, kind: event.kind, message: event.message });
      log(turn, name, withoutName(name, event.message), event.kind === 'build-failed' ? 'warn' : 'info');
      if (event.kind === 'build-failed') {
        turn.actions.push({ type: 'notify', summary: `hiboss: ${name}: update failed to build`, body: event.message, urgency: 'normal' });
      }
      if (event.kind === 'built' && event.auto) {
        turn.actions.push({ type: 'notify', summary: `hiboss: ${name}: update ready`, body: event.message, urgency: 'low' });
      }
      const up = vm.state === 'running' || vm.state === 'paused' || vm.state === 'starting';
      if (event.kind === 'built' && event.restartNow && up) vm.restartRequested = true; // graceful: the member's disk stays
      return;
    }
  }
}

function tellJudgement(turn: Turn, vm: VmRecord, judgement: Judgement): void {
  const name = vm.spec.name;
  const { generation, outcome, why, rollbackTo, message } = judgement;
  turn.actions.push({ type: 'judged', name, generation, outcome, reason: why, rollbackTo });
  const kind = outcome === 'healthy' ? 'healthy' : rollbackTo !== null ? 'rolled-back' : 'failed';
  turn.actions.push({ type: 'update-event', name, kind, message });
  log(turn, name, withoutName(name, message), outcome === 'healthy' ? 'info' : 'warn');
}

/**
 * A failed generation is recorded; with a healthy one before it, its QEMU goes
 * (if still there) and the VM boots that one by itself. Without one it is left
 * as it is: a guest without an agent still serves its member.
 */
function healthFailed(turn: Turn, vm: VmRecord, judgement: Judgement): void {
  vm.health = null;
  tellJudgement(turn, vm, judgement);
  turn.actions.push({ type: 'notify', summary: `hiboss: ${vm.spec.name}: update failed`, body: judgement.message, urgency: 'critical' });
  if (judgement.rollbackTo === null) return;
  vm.rollbackReason = `rolling back to generation ${judgement.rollbackTo}: ${judgement.why}`;
  if (isDown(vm.state)) {
    vm.runRequested = true;
    return;
  }
  clearOp(vm);
  ask(turn, vm, 'stop', { type: 'quit', name: vm.spec.name });
  vm.awaitingReply = false; // quit ends QEMU: its exit is the answer
  vm.quitAt = null;
  vm.restartRequested = true;
  setState(turn, vm, 'stopping', vm.rollbackReason);
}

/** The VM's log lines carry its name already. */
function withoutName(name: string, message: string): string {
  return message.startsWith(`${name}: `) ? message.slice(name.length + 2) : message;
}

/** Observations during a health window; true when the window's judgement took the observation over. */
function healthObserved(turn: Turn, vm: VmRecord, event: Extract<PolicyEvent, { type: 'observed' }>): boolean {
  if (event.state === 'running') vm.rollbackReason = null;
  if (vm.health === null) return false;
  switch (event.state) {
    case 'paused':
      vm.health = windowPaused(vm.health, turn.now);
      return false;
    case 'running':
      vm.health = windowResumed(vm.health, turn.now);
      return false;
    case 'stopped':
    case 'failed': {
      // Stopped by the member or the session: no judgement; the next boot opens a new window.
      if (vm.op === 'stop' || turn.state.sessionEnding || vm.removed) {
        vm.health = null;
        return false;
      }
      // Powered off or died within its window: a failed generation, not the member's shutdown.
      const judgement = judgeFailed(vm.spec.name, vm.health, turn.now, { kind: 'exit', reason: event.reason ?? 'QEMU ended' });
      if (judgement.rollbackTo === null) {
        healthFailed(turn, vm, judgement);
        return false; // the usual handling of an exit follows
      }
      clearOp(vm);
      vm.quitAt = null;
      setState(turn, vm, 'stopped', `${judgement.why}; rolling back to generation ${judgement.rollbackTo}`);
      healthFailed(turn, vm, judgement);
      return true;
    }
    default:
      return false;
  }
}
