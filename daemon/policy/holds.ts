/**
 * The user's requests and the holds they leave. A VM paused or stopped by hand
 * is *held*: focusing its workspace does not undo the user's decision (the bar
 * shows it as held); resume/start/toggle release it. Requests that arrive
 * while an operation is in flight follow one rule: the last request wins, and
 * its answer says what will happen.
 */
import * as memory from './memory.js';
import { hidden, runsWhileHidden } from './record.js';
import { log, seconds } from './turn.js';
import { isDown, SAVE_INTERRUPTED, unhandled, type Answer, type Hold, type PolicyEvent, type PolicyState, type Turn, type UserVerb, type VmRecord } from './types.js';

/** Requests of the user; the last one wins. A pause needs a VM that runs or is on its way up. */
export function userRequest(turn: Turn, verb: UserVerb, name: string): void {
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
      // Started by hand while its workspace is hidden: it runs (runRequested stays) until the workspace is shown.
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
      if (isDown(vm.state)) vm.runRequested = true;
      else vm.restartRequested = true;
      return;
    default:
      return unhandled(verb);
  }
}

function canPause(vm: VmRecord): boolean {
  if (vm.state === 'stopping' || vm.hold === 'stopped') return vm.runRequested || vm.restartRequested;
  return !isDown(vm.state) || vm.runRequested || vm.op === 'start';
}

/** The reply to a request: what will happen now, or what it waits for. */
export function answerFor(turn: Turn, event: Extract<PolicyEvent, { type: 'user' }>): Answer {
  const vm = turn.state.vms[event.name];
  if (!vm) return { ok: false, kind: 'NoSuchVm', message: `no VM named "${event.name}"` };
  const memoryAnswer = memory.memoryAnswer(vm, event.verb);
  if (memoryAnswer) return memoryAnswer;
  const name = vm.spec.name;
  const verb = event.verb === 'toggle' ? (vm.hold === 'paused' ? 'pause' : 'run') : event.verb;
  if (verb === 'pause' && vm.hold !== 'paused') {
    if (vm.hold === 'stopped' && !isDown(vm.state)) {
      return { ok: false, kind: 'InvalidArgument', message: `${name} is ${vm.state} with a stop pending: nothing to pause (start it to cancel the stop)` };
    }
    return { ok: false, kind: 'InvalidArgument', message: `${name} is ${vm.state}: nothing to pause (start it first)` };
  }
  // Run by hand while its workspace is hidden: the answer says it stays running.
  const then = vm.runRequested && hidden(vm) ? `; ${runsWhileHidden(vm)}` : '';
  if (vm.unresponsiveSince !== null) {
    return { ok: true, message: `${name}: ${event.verb} queued: QEMU has not answered for ${seconds(turn.now - vm.unresponsiveSince)}${then}` };
  }
  if (vm.state === 'stopping' && (vm.runRequested || vm.restartRequested)) {
    return { ok: true, message: `${name}: ${event.verb} queued: it starts again once its shutdown completes${then}` };
  }
  if (vm.op !== null && vm.state !== 'stopping' && vm.state !== 'starting') {
    return { ok: true, message: `${name}: ${event.verb} (${vm.op} in flight${then})` };
  }
  const what = vm.state === 'stopping' ? `stopping: ACPI powerdown, quit after ${seconds(turn.state.settings.powerdownTimeoutMs)}` : vm.state;
  return { ok: true, message: `${name}: ${event.verb} (${what}${then})` };
}

/** Every hold that changed in this decision, for the disk (a forgotten VM's hold goes too). */
export function tellHoldChanges(turn: Turn, previous: PolicyState): void {
  for (const name in previous.vms) {
    const hold = turn.state.vms[name]?.hold ?? null;
    if (hold !== previous.vms[name]!.hold) turn.actions.push({ type: 'hold-changed', name, hold });
  }
  for (const name in turn.state.vms) {
    const vm = turn.state.vms[name]!;
    if (!previous.vms[name] && vm.hold !== null) turn.actions.push({ type: 'hold-changed', name, hold: vm.hold });
  }
}

/** A hold kept by an earlier daemon, still valid for the QEMU adopted. */
export function holdRestored(turn: Turn, name: string, hold: Hold): void {
  const vm = turn.state.vms[name];
  if (!vm) return;
  vm.hold = hold;
  log(turn, vm.spec.name, `still ${hold} by the user (kept across the daemon's restart)`);
  // A save the last daemon did not finish is said, not hidden behind the hold.
  if (hold === 'paused' && vm.state === 'paused') vm.reason = vm.memory.problem === SAVE_INTERRUPTED ? `paused by the user; ${SAVE_INTERRUPTED}` : 'paused by the user';
  if (hold === 'stopped' && vm.state === 'stopped') vm.reason = 'stopped by the user';
}
