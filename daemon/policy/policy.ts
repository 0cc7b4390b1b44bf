/**
 * The daemon's decisions, as a pure function: (state, event, now) → (state,
 * actions, next wake-up, answer). No sockets, no timers, no clock, no module
 * state: the loop (daemon/loop.ts) feeds it what happened, one event at a time,
 * and carries out what it returns; tests drive it directly.
 *
 * A decision, in order:
 *  1. the event goes to the concern it is about (`apply`);
 *  2. memory refreshes its view (focus order, the budget's picks, prewarms);
 *  3. every VM is reconciled (./lifecycle.ts): what it should be doing now is
 *     compared with what it is doing, and at most one operation per VM is in
 *     flight — the last focus wins, a VM is never started twice, and a pause
 *     no longer wanted is undone as soon as it lands;
 *  4. the host (sleep lock, clocks) and backups act on the VMs' new states;
 *  5. what changed is told (`changed`, holds, focus) and the next wake-up found.
 *
 * The concerns, one module each over its own part of the record (./types.ts):
 * lifecycle, holds (the user's requests), workspaces (visibility, config),
 * memory and budget, backups, host, health. A new concern is a module with a
 * hook in the step where it acts.
 */
import { applyBackupEvent, backupWake, reconcileBackups } from './backup.js';
import { refreshMemory, sampled, prewarmOnInit } from './budget.js';
import { healthEvent } from './health.js';
import { answerFor, holdRestored, tellHoldChanges, userRequest } from './holds.js';
import { afterReconcile, applyHostEvent } from './host.js';
import { observe, opDone, opFailed, reconcile, vmDeadlines } from './lifecycle.js';
import { copyState, reportedState, vmOnWorkspace } from './record.js';
import { microphoneTurn } from './microphone.js';
import { log } from './turn.js';
import { atRest, unhandled, type Answer, type Decision, type PolicyEvent, type PolicyState, type ReportedState, type Turn } from './types.js';
import { announceFocus, configAccepted, configRefused, updateVisibility } from './workspaces.js';

export { workspaceMatches } from '../../config/workspaces.js';
export { initialState, reportedReason, reportedState, vmOnWorkspace } from './record.js';
export type { Action, AnnounceAction, Answer, Decision, Operation, PolicyEvent, PolicySettings, PolicyState, TellAction, UserVerb, VmOperationAction, VmRecord, VmSpec, VmState, WhenHidden, WorkspaceRef } from './types.js';

export function decide(previous: PolicyState, event: PolicyEvent, now: number): Decision {
  if (changesNothing(previous, event, now)) return { state: previous, actions: [], wakeAt: nextWake(previous, now), answer: null };
  const turn: Turn = { state: copyState(previous), now, actions: [], transitions: [], answer: null };
  const { state } = turn;
  const answer = apply(turn, event);
  refreshMemory({ settings: state.settings, vms: state.vms, focused: state.focused, focusedBefore: vmOnWorkspace(previous, previous.focused), snapshot: event.type === 'workspaces', now });
  for (const name in state.vms) reconcile(turn, state.vms[name]!);
  const host = afterReconcile(state.host, state.vms, state.settings, now, (message, level) => log(turn, null, message, level));
  state.host = host.host;
  turn.actions.push(...host.actions);
  reconcileBackups(turn);
  turn.answer = event.type === 'user' ? answerFor(turn, event) : answer;
  microphone(turn, previous, event);
  tellTransitions(turn, previous);
  forgetRemoved(turn);
  if (event.type !== 'hold-restored') tellHoldChanges(turn, previous);
  announceFocus(turn);
  if (state.sessionEnding && Object.values(state.vms).every((vm) => atRest(vm.state) && vm.op === null)) turn.actions.push({ type: 'exit' });
  return { state, actions: turn.actions, wakeAt: nextWake(state, now), answer: turn.answer };
}

/** The event, handed to the concern it is about; a request of the backups answers at once. */
function apply(turn: Turn, event: PolicyEvent): Answer | null {
  const { state, now } = turn;
  switch (event.type) {
    case 'focus':
      state.focused = event.workspace;
      if (!state.visible.some((w) => w.name === event.workspace.name)) state.visible.push(event.workspace);
      updateVisibility(state, now);
      return null;
    case 'workspaces':
      state.focused = event.focused;
      state.visible = event.visible;
      updateVisibility(state, now);
      return null;
    case 'observed':
      observe(turn, event);
      return null;
    case 'op-done':
      opDone(turn, event);
      return null;
    case 'op-failed':
      opFailed(turn, event);
      return null;
    case 'user':
      userRequest(turn, event.verb, event.name);
      return null;
    case 'config':
      configAccepted(turn, event);
      return null;
    case 'config-refused':
      configRefused(turn, event.problems);
      return null;
    case 'note':
      log(turn, event.name, event.message, event.level);
      return null;
    case 'session-end':
      state.sessionEnding = true;
      log(turn, null, 'the WM session ended: powering VMs off');
      return null;
    case 'health-watch':
    case 'guest-answered':
    case 'guest-panicked':
    case 'update-progress':
      healthEvent(turn, event);
      return null;
    case 'tick':
      return null;
    case 'memory':
      sampled(state.vms, event.rssBytes);
      return null;
    case 'workspace-init':
      prewarmOnInit(state.settings, state.vms, event.workspace);
      return null;
    case 'sleep':
    case 'wake':
    case 'lock':
    case 'unlock': {
      const host = applyHostEvent(state.host, event, Object.values(state.vms), state.settings, now, (message, level) => log(turn, null, message, level));
      state.host = host.host;
      turn.actions.push(...host.actions);
      return null;
    }
    case 'hold-restored':
      holdRestored(turn, event.name, event.hold);
      return null;
    case 'backup-known':
    case 'backup-request':
    case 'restore-request':
    case 'backup-done':
    case 'backup-failed':
    case 'restore-done':
    case 'restore-failed':
      return applyBackupEvent(turn, event);
    case 'mic':
      return null; // ./microphone.ts, at the end of the decision
    default:
      return unhandled(event);
  }
}

/** The microphone follows the focus, a pin, the lock (./microphone.ts): one call per decision. */
function microphone(turn: Turn, previous: PolicyState, event: PolicyEvent): void {
  const { state } = turn;
  // Asked of one or two VMs, not built for all of them at every decision.
  const audio = (name: string): boolean | undefined => {
    const vm = Object.hasOwn(state.vms, name) ? state.vms[name]! : undefined;
    return vm === undefined || vm.removed ? undefined : vm.spec.audio !== false;
  };
  const mic = microphoneTurn(previous.mic, event, { focusedVm: vmOnWorkspace(state, state.focused), locked: state.host.locked, asleep: state.host.asleep, audio });
  state.mic = mic.state;
  turn.actions.push(...mic.actions);
  if (mic.answer) turn.answer = mic.answer;
}

/** Every transition of the decision that the world has not been told yet, in order. */
function tellTransitions(turn: Turn, previous: PolicyState): void {
  const { state, actions } = turn;
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
    if (before && !reported.has(name) && reportedState(before) === 'unresponsive' && reportedState(vm) !== 'unresponsive') {
      // QEMU answers again and nothing else changed: tell its real state.
      actions.push({ type: 'changed', name, state: vm.state, reason: vm.reason });
    }
    if (!before && !reported.has(name)) actions.push({ type: 'changed', name, state: vm.state, reason: vm.reason });
  }
}

/** A VM removed from the config is forgotten once it is down. */
function forgetRemoved(turn: Turn): void {
  for (const name in turn.state.vms) {
    const vm = turn.state.vms[name]!;
    if (!vm.removed || vm.op !== null || !atRest(vm.state)) continue;
    delete turn.state.vms[name];
    turn.actions.push({ type: 'forget', name });
  }
}

/**
 * QEMU's answer to a command whose event has already been decided (`cont`'s
 * reply after its RESUME, `stop`'s after its STOP) changes nothing, nor does a
 * new workspace without prewarmOnInit: they need no copy of the state and no
 * pass over every VM — half the decisions of a switch.
 * Only when no deadline has passed, so that nothing a full decision would have
 * done at `now` is left for later.
 */
function changesNothing(state: PolicyState, event: PolicyEvent, now: number): boolean {
  if (!inert(state, event)) return false;
  const next = deadlines(state, -Infinity);
  return next === null || next > now;
}

/** An event that changes no state: an answer already decided, a new workspace when nothing is prewarmed on it. */
function inert(state: PolicyState, event: PolicyEvent): boolean {
  if (event.type === 'workspace-init') return !state.settings.prewarmOnInit;
  if (event.type !== 'op-done') return false;
  const vm = state.vms[event.name];
  return vm !== undefined && vm.op !== event.op && !vm.awaitingReply && vm.unresponsiveSince === null;
}

/** The earliest future deadline: everything due by `now` was just acted upon. */
function nextWake(state: PolicyState, now: number): number | null {
  return deadlines(state, now);
}

/** The earliest of the state's deadlines after `after` (null: none). */
function deadlines(state: PolicyState, after: number): number | null {
  let wake: number | null = null;
  const consider = (t: number | null) => {
    if (t !== null && t > after && (wake === null || t < wake)) wake = t;
  };
  consider(state.host.sleepLockDeadline);
  consider(backupWake(state.backups, state.settings, after));
  for (const name in state.vms) vmDeadlines(state.settings, state.vms[name]!, consider);
  return wake;
}
