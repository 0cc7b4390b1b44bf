/**
 * A VM's life: what it should be doing now (want), what it is asked to do to get
 * there (reconcile: at most one operation in flight), what it became
 * (observe: the supervisor's observations, answers and failures), and why (its
 * reason). The other concerns are consulted where they bear on it: holds
 * (./holds.ts), the host's sleep and lock, backups holding its disk, memory's
 * saves and restores, a health window being judged.
 */
import { workspaceMatches } from '../../config/workspaces.js';
import { diskHeldForStart, restoreHolds } from './backup.js';
import { healthDeadline, healthObserved, healthWake } from './health.js';
import { hostPausesVms } from './host.js';
import * as memory from './memory.js';
import { hidden, reportedReason, runsHidden, runsWhileHidden } from './record.js';
import { answered, ask, clearOp, log, seconds, setState } from './turn.js';
import { isDown, isMemoryOp, unhandled, type Operation, type PolicyEvent, type PolicySettings, type PolicyState, type Turn, type VmRecord } from './types.js';

const RETRY_AFTER_FAILED_OP_MS = 1000;

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
    // would cost a boot for nothing (its reason says so) — unless it runs while hidden.
    if (workspace === null || runsHidden(vm)) return 'run';
  }
  if (workspace === null) return 'keep';
  if (state.focused && workspaceMatches(workspace, state.focused)) return 'run';
  if (vm.hiddenSince === null) return 'keep'; // visible on another output
  if (runsHidden(vm)) return 'keep'; // "whenHidden": "run"
  if (vm.health !== null) return 'keep'; // judging an update: a paused guest cannot answer
  return now - vm.hiddenSince >= state.settings.pauseAfterMs ? 'pause' : 'keep';
}

/** What the VM should be doing now, compared with what it does: at most one operation asked. */
export function reconcile(turn: Turn, vm: VmRecord): void {
  const { state, now } = turn;
  const name = vm.spec.name;
  healthDeadline(turn, vm);
  if (vm.awaitingReply && vm.unresponsiveSince === null && vm.opSince !== null && now - vm.opSince >= state.settings.unresponsiveAfterMs) {
    vm.unresponsiveSince = vm.opSince;
    log(turn, name, `QEMU has not answered "${vm.op}" for ${seconds(now - vm.opSince)}`, 'warn');
    turn.transitions.push({ vm, state: 'unresponsive', reason: reportedReason(vm) });
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
  // A restore or start waiting for memory is decided afresh, from what the VM was.
  const waited = vm.memory.waiting;
  if (waited) [vm.state, vm.reason, vm.since] = [waited.from, waited.fromReason, waited.fromSince];
  if (vm.restartRequested && isDown(vm.state)) {
    vm.restartRequested = false;
    vm.runRequested = true;
  }
  reconcileWish(turn, vm);
  if (waited && vm.memory.waiting === waited) memory.endWait(turn, vm, waited);
}

function reconcileWish(turn: Turn, vm: VmRecord): void {
  const { state, now } = turn;
  const name = vm.spec.name;
  const wish = memory.memoryWant(state.settings, vm, want(state, vm, now), now);
  switch (wish) {
    case 'run':
      if ((isDown(vm.state) || vm.state === 'hibernated') && diskHeldForStart(turn, name)) return; // it starts once the backup lets go of the disk
      if (isDown(vm.state)) {
        const overBudget = memory.admitted(turn, vm, 'starting');
        if (overBudget === null) return; // it waits for memory
        vm.restartAt = null;
        ask(turn, vm, 'start', { type: 'start', name });
        setState(turn, vm, 'starting', startReason(state, vm) + overBudget);
      } else if (vm.state === 'paused') {
        ask(turn, vm, 'resume', { type: 'resume', name });
      } else if (vm.state === 'hibernated') {
        memory.restore(turn, vm, 'run');
      } else if (vm.state === 'running' && vm.memory.shrunk) {
        ask(turn, vm, 'resume', { type: 'resume', name }); // shrunk, then wanted again before the pause: the balloon deflates
      } else if (vm.state === 'running' && !hidden(vm)) {
        vm.runRequested = false; // running where it is seen: the request is met, focus rules again
      }
      return;
    case 'pause':
      if (vm.state === 'running') memory.pauseOrShrink(turn, vm);
      return;
    case 'stop':
      if (vm.state === 'running' || vm.state === 'paused') {
        ask(turn, vm, 'stop', { type: 'powerdown', name });
        vm.quitAt = now + state.settings.powerdownTimeoutMs;
        const why = state.sessionEnding ? 'session ended' : vm.removed ? 'removed from the config' : vm.restartRequested ? 'restarting' : restoreHolds(state.backups, name) ? 'stopping for a restore from backup' : 'stopped by the user';
        setState(turn, vm, 'stopping', why);
        log(turn, name, 'ACPI powerdown');
      } else if (vm.state === 'hibernated' && !state.sessionEnding && !vm.removed && !diskHeldForStart(turn, name)) {
        memory.restore(turn, vm, 'stop'); // to power it down cleanly; at the session's end it stays on disk
      }
      return;
    case 'hibernate':
      // Saved from paused only: a running VM is paused first.
      if (vm.state === 'running') memory.pauseOrShrink(turn, vm);
      else if (vm.state === 'paused') memory.save(turn, vm);
      return;
    case 'prewarm':
      if (vm.state === 'hibernated' && !diskHeldForStart(turn, name)) memory.restore(turn, vm, 'prewarm');
      return;
    case 'keep':
      return;
    default:
      return unhandled(wish);
  }
}

/** Why a VM runs or is paused, when the observation itself does not say. */
function pauseReason(state: PolicyState, vm: VmRecord): string {
  if (vm.hold === 'paused') return 'paused by the user';
  if (vm.op === 'pause' && hostPausesVms(state.host, state.settings)) return state.host.asleep ? 'the machine sleeps' : 'the session is locked';
  if (vm.op === 'pause' && vm.hiddenSince !== null) return 'workspace hidden';
  return 'paused';
}

function runReason(state: PolicyState, vm: VmRecord): string {
  if (vm.runRequested && hidden(vm)) return `resumed by the user: ${runsWhileHidden(vm)}`;
  if (vm.runRequested) return 'resumed by the user';
  if (vm.spec.workspace !== null && state.focused && workspaceMatches(vm.spec.workspace, state.focused)) {
    return `workspace ${state.focused.name} focused`;
  }
  return 'running';
}

function startReason(state: PolicyState, vm: VmRecord): string {
  if (vm.rollbackReason !== null) return vm.rollbackReason;
  const coldBoot = memory.coldBootReason(vm);
  if (coldBoot) return coldBoot;
  if (vm.runRequested) return 'started by the user';
  if (vm.failures.length > 0) return `restarting after a failure (${vm.failures.length}/${state.settings.maxRestarts})`;
  return `workspace ${state.focused?.name ?? vm.spec.workspace} focused`;
}

/** The supervisor's observation of a VM. */
export function observe(turn: Turn, event: Extract<PolicyEvent, { type: 'observed' }>): void {
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
      // Asked by hand while its workspace is hidden: it runs on until the workspace is shown.
      if (!hidden(vm)) vm.runRequested = false;
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
    default:
      return unhandled(event.state);
  }
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
    const when = hidden(vm) && !runsHidden(vm) ? `when workspace ${vm.spec.workspace} is shown` : `in ${Math.round(delay / 1000)} s`;
    setState(turn, vm, 'failed', `${reason} (restart ${vm.failures.length}/${maxRestarts} ${when})`);
  } else {
    vm.restartAt = null;
    const why = vm.spec.restart === 'never' ? 'restart is off' : `${vm.failures.length} failures within ${Math.round(restartWindowMs / 1000)} s, not restarting`;
    setState(turn, vm, 'failed', `${reason} (${why})`);
  }
  turn.actions.push({ type: 'notify', summary: `hiboss: VM ${vm.spec.name} failed`, body: vm.reason, urgency: 'critical' });
}

/** QEMU answered an operation's command. */
export function opDone(turn: Turn, event: Extract<PolicyEvent, { type: 'op-done' }>): void {
  const vm = turn.state.vms[event.name];
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
}

/** An operation could not be carried out; the VM is what it was. */
export function opFailed(turn: Turn, event: Extract<PolicyEvent, { type: 'op-failed' }>): void {
  const { state, now } = turn;
  const vm = state.vms[event.name];
  if (!vm || vm.op !== event.op) return;
  clearOp(vm);
  if (event.op === 'start') return fail(turn, vm, `could not start: ${event.reason}`, event.permanent === true);
  if (isMemoryOp(event.op)) return memory.memoryOpFailed(turn, vm, event.op, event.reason);
  log(turn, vm.spec.name, `${event.op} failed: ${event.reason}`, 'warn');
  // Not again at once: a QEMU that refuses would otherwise be asked in a tight loop.
  vm.retryAt = now + RETRY_AFTER_FAILED_OP_MS;
  if (event.timedOut) {
    vm.unresponsiveSince ??= now;
    turn.transitions.push({ vm, state: 'unresponsive', reason: `QEMU did not answer "${event.op}" within ${seconds(state.settings.qmpTimeoutMs)}; asking again` });
    vm.reason = turn.transitions.at(-1)!.reason;
  } else vm.reason = `${event.op} failed: ${event.reason}`;
}

/** The VM's own deadlines (a pause due, a restart, a quit, a retry, QEMU's silence), each passed to `consider`. */
export function vmDeadlines(settings: PolicySettings, vm: VmRecord, consider: (t: number | null) => void): void {
  consider(healthWake(vm));
  if (vm.awaitingReply && vm.unresponsiveSince === null && vm.opSince !== null) consider(vm.opSince + settings.unresponsiveAfterMs);
  if (vm.op !== null && vm.state !== 'stopping') return; // waiting for the supervisor, not the clock
  consider(memory.hibernateWakeAt(settings, vm));
  if (vm.state === 'running' && vm.hiddenSince !== null && vm.hold === null && !vm.runRequested && !runsHidden(vm)) {
    consider(vm.hiddenSince + settings.pauseAfterMs);
  }
  if (vm.state === 'failed') consider(vm.restartAt);
  if (vm.state === 'stopping') consider(vm.quitAt);
  consider(vm.retryAt);
}
