/**
 * Health after an update. A flake VM that boots a generation not yet judged
 * opens a *health window*: the generation is healthy when its guest agent
 * answers `guest-ping` before the deadline; it has failed when the guest panics
 * (pvpanic → GUEST_PANICKED), when QEMU ends (the guest powered off, QEMU died)
 * or when the deadline passes without an answer. A failed generation is rolled
 * back to the previous healthy one, if there is one.
 *
 * The judgements (openWindow…judgeFailed) are values of their inputs; the
 * steps below them (healthEvent, healthFailed, healthObserved) apply them to a
 * VM's record within a decision.
 */
import { shortRevision } from '../../api/schema.js';
import { ask, clearOp, log, setState } from './turn.js';
import { isDown, unhandled, type HealthWindow, type PolicyEvent, type Turn, type VmRecord, type WindowStart } from './types.js';

export type { GenerationRef, HealthWindow, WindowStart } from './types.js';

/** A restarted daemon asks the guest once more before it judges a deadline that passed while it was away. */
export const RECHECK_AFTER_RESTART_MS = 10_000;

export type FailureCause =
  | { kind: 'panic' }
  | { kind: 'exit'; reason: string }
  | { kind: 'deadline' }
  /** The daemon was away when the window ended: QEMU is gone and nobody saw why. */
  | { kind: 'away' };

export interface Judgement {
  outcome: 'healthy' | 'failed';
  generation: number;
  /** Why, in a few words: "kernel panic 12 s after boot". */
  why: string;
  /** The whole story, for the log, the signal and the notification. */
  message: string;
  /** Failed with a healthy generation before it: boot that one instead. */
  rollbackTo: number | null;
}

export function openWindow(start: WindowStart, now: number, restarted: boolean): HealthWindow {
  // Coming back after the deadline: the guest may well have answered meanwhile — ask it again.
  const deadline = restarted ? Math.max(start.deadline, now + RECHECK_AFTER_RESTART_MS) : start.deadline;
  return { generation: start.generation, revision: start.revision, previous: start.previous, bootedAt: start.bootedAt, deadline, pausedAt: null };
}

/** The guest cannot answer while paused: the deadline waits. */
export function windowPaused(window: HealthWindow, now: number): HealthWindow {
  return window.pausedAt === null ? { ...window, pausedAt: now } : window;
}

export function windowResumed(window: HealthWindow, now: number): HealthWindow {
  if (window.pausedAt === null) return window;
  return { ...window, deadline: window.deadline + (now - window.pausedAt), pausedAt: null };
}

export function deadlinePassed(window: HealthWindow, now: number): boolean {
  return window.pausedAt === null && now >= window.deadline;
}

/** The agent of the window's generation answered. */
export function judgeAnswered(name: string, window: HealthWindow, now: number): Judgement {
  const after = `${seconds(now - window.bootedAt)} after boot`;
  const revision = shortRevision(window.revision);
  const message = window.previous
    ? `${name}: updated to ${revision} (generation ${window.generation}) — the guest agent answered ${after}`
    : `${name}: generation ${window.generation} (${revision}) is healthy — the guest agent answered ${after}`;
  return { outcome: 'healthy', generation: window.generation, why: `the guest agent answered ${after}`, message, rollbackTo: null };
}

export function judgeFailed(name: string, window: HealthWindow, now: number, cause: FailureCause): Judgement {
  const why = describeFailure(window, now, cause);
  const revision = shortRevision(window.revision);
  const message = window.previous
    ? `${name}: update to ${revision} failed — ${why}; rolled back to ${shortRevision(window.previous.revision)}`
    : `${name}: generation ${window.generation} (${revision}) failed — ${why}; no earlier healthy generation to go back to`;
  return { outcome: 'failed', generation: window.generation, why, message, rollbackTo: window.previous?.generation ?? null };
}

function describeFailure(window: HealthWindow, now: number, cause: FailureCause): string {
  const after = seconds(now - window.bootedAt);
  switch (cause.kind) {
    case 'panic':
      return `kernel panic ${after} after boot`;
    case 'exit':
      return `${cause.reason} ${after} after boot`;
    case 'deadline':
      return `no answer from the guest agent ${after} after boot`;
    case 'away':
      return 'QEMU ended during the health window while the daemon was away';
    default:
      return unhandled(cause);
  }
}

function seconds(ms: number): string {
  return ms < 10_000 ? `${Math.max(0, Math.round(ms / 100) / 10)} s` : `${Math.round(ms / 1000)} s`;
}

// ---- within a decision --------------------------------------------------------------------

export type HealthEvent = Extract<PolicyEvent, { type: 'health-watch' | 'guest-answered' | 'guest-panicked' | 'update-progress' }>;

export function healthEvent(turn: Turn, event: HealthEvent): void {
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
      if (event.kind === 'held') {
        turn.actions.push({ type: 'notify', summary: `hiboss: ${name}: update held for review`, body: event.message, urgency: 'normal' });
      }
      if (event.kind === 'built' && event.auto) {
        turn.actions.push({ type: 'notify', summary: `hiboss: ${name}: update ready`, body: event.message, urgency: 'low' });
      }
      const up = vm.state === 'running' || vm.state === 'paused' || vm.state === 'starting';
      if (event.kind === 'built' && event.restartNow && up) vm.restartRequested = true; // graceful: the member's disk stays
      return;
    }
    default:
      return unhandled(event);
  }
}

/** Before the VM is reconciled: a window whose deadline passed fails its generation. */
export function healthDeadline(turn: Turn, vm: VmRecord): void {
  if (vm.health !== null && deadlinePassed(vm.health, turn.now)) healthFailed(turn, vm, judgeFailed(vm.spec.name, vm.health, turn.now, { kind: 'deadline' }));
}

/** The window's deadline, while its clock runs (for the decision's wake-up). */
export function healthWake(vm: VmRecord): number | null {
  return vm.health !== null && vm.health.pausedAt === null ? vm.health.deadline : null;
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
export function healthObserved(turn: Turn, vm: VmRecord, event: Extract<PolicyEvent, { type: 'observed' }>): boolean {
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
    case 'hibernated':
      return false;
    default:
      return unhandled(event.state);
  }
}
