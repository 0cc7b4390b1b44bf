/**
 * The steps every concern takes within one decision (a Turn): change a VM's
 * state (and remember the transition to tell), ask an operation, log.
 */
import { reportedState } from './record.js';
import { isMemoryOp, type Action, type Operation, type Turn, type VmRecord, type VmState } from './types.js';

export function setState(turn: Turn, vm: VmRecord, state: VmState, reason: string): void {
  if (vm.state !== state) vm.since = turn.now;
  vm.state = state;
  vm.reason = reason;
  turn.transitions.push({ vm, state: reportedState(vm), reason });
}

export function log(turn: Turn, name: string | null, message: string, level: 'info' | 'warn' = 'info'): void {
  turn.actions.push({ type: 'log', name, level, message });
}

/** The operation is asked of the supervisor: at most one per VM is in flight. */
export function ask(turn: Turn, vm: VmRecord, op: Operation, action: Action): void {
  vm.op = op;
  vm.opSince = turn.now;
  vm.awaitingReply = op !== 'start' && !isMemoryOp(op);
  turn.actions.push(action);
}

export function clearOp(vm: VmRecord): void {
  vm.op = null;
  vm.opSince = null;
  vm.awaitingReply = false;
}

/** QEMU answered: whatever it was doing, it is responsive again. */
export function answered(turn: Turn, vm: VmRecord): void {
  vm.awaitingReply = false;
  if (vm.unresponsiveSince === null) return;
  vm.unresponsiveSince = null;
  log(turn, vm.spec.name, 'QEMU answers again');
  // Its state is told at the end of the decision (it may change again within it).
}

export function seconds(ms: number): string {
  return ms < 10_000 ? `${(Math.round(ms / 100) / 10).toString()} s` : `${Math.round(ms / 1000)} s`;
}
