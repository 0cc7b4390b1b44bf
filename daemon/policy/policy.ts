/**
 * The daemon's decisions, as a pure function: (state, event, now) → (state,
 * actions, next wake-up). No sockets, no timers, no clock: the supervisor feeds
 * it what happened and carries out what it returns; tests drive it directly.
 *
 * How it decides: each event updates what is known (focus, visibility, the VMs'
 * observed states, the user's requests); then every VM is reconciled — what it
 * should be doing now is compared with what it is doing, and at most one
 * operation per VM is in flight. That is what keeps rapid switching calm: the
 * last focus wins, a VM is never started twice, and a pause that is no longer
 * wanted is undone as soon as it lands.
 *
 * A VM paused or stopped by hand is *held*: focusing its workspace does not undo
 * the user's decision (the bar shows it as held); resume/start/toggle release it.
 */
import type { VmState } from '../../api/schema.js';

export interface VmSpec {
  name: string;
  workspace: string | null;
  restart: 'on-failure' | 'never';
}

export interface PolicySettings {
  pauseAfterMs: number;
  powerdownTimeoutMs: number;
  maxRestarts: number;
  restartWindowMs: number;
  restartDelayMs: number;
}

export interface WorkspaceRef {
  name: string;
  num: number | null;
}

type Operation = 'start' | 'pause' | 'resume' | 'stop';

export interface VmRecord {
  spec: VmSpec;
  state: VmState;
  reason: string;
  /** The operation asked of the supervisor and not yet seen to land. */
  op: Operation | null;
  hold: 'paused' | 'stopped' | null;
  /** The user asked for it to run (start/resume/toggle) and it is not running yet. */
  runRequested: boolean;
  restartRequested: boolean;
  /** When its workspace stopped being visible; null while visible or without workspace. */
  hiddenSince: number | null;
  failures: number[];
  restartAt: number | null;
  quitAt: number | null;
  /** After a failed pause/resume/stop, no new operation before this time. */
  retryAt: number | null;
  removed: boolean;
}

const RETRY_AFTER_FAILED_OP_MS = 1000;

export interface PolicyState {
  settings: PolicySettings;
  vms: Record<string, VmRecord>;
  focused: WorkspaceRef | null;
  visible: WorkspaceRef[];
  sessionEnding: boolean;
}

export type UserVerb = 'start' | 'stop' | 'pause' | 'resume' | 'restart' | 'toggle';

export type PolicyEvent =
  /** The WM focused a workspace: acted on at once, before the full snapshot arrives. */
  | { type: 'focus'; workspace: WorkspaceRef }
  /** What the WM shows now (after every workspace event, and at start-up). */
  | { type: 'workspaces'; focused: WorkspaceRef | null; visible: WorkspaceRef[] }
  /** What the supervisor observed of a VM. */
  | { type: 'observed'; name: string; state: 'running' | 'paused' | 'stopped' | 'failed'; reason: string }
  /** An operation could not be carried out; the VM's state is unchanged. */
  | { type: 'op-failed'; name: string; op: Operation; reason: string }
  | { type: 'user'; verb: UserVerb; name: string }
  | { type: 'config'; vms: VmSpec[]; settings: PolicySettings }
  /** The WM session ends: power every VM off, then exit. */
  | { type: 'session-end' }
  /** The wake-up asked for by the last decision has come. */
  | { type: 'tick' };

export type Action =
  | { type: 'start'; name: string }
  | { type: 'resume'; name: string }
  | { type: 'pause'; name: string }
  /** ACPI powerdown; `quit` follows if it is not down by the deadline. */
  | { type: 'powerdown'; name: string }
  | { type: 'quit'; name: string }
  /** Tell the world (D-Bus signal, log, bar). */
  | { type: 'changed'; name: string; state: VmState; reason: string }
  | { type: 'notify'; summary: string; body: string; urgency: 'low' | 'normal' | 'critical' }
  /** A VM removed from the config is down: drop everything about it. */
  | { type: 'forget'; name: string }
  | { type: 'exit' };

export interface Decision {
  state: PolicyState;
  actions: Action[];
  /** When to send the next `tick` (epoch ms), or null when nothing is pending. */
  wakeAt: number | null;
}

export function initialState(settings: PolicySettings, vms: VmSpec[], now: number): PolicyState {
  const state: PolicyState = { settings, vms: {}, focused: null, visible: [], sessionEnding: false };
  for (const spec of vms) state.vms[spec.name] = newRecord(spec, now);
  return state;
}

function newRecord(spec: VmSpec, now: number): VmRecord {
  return {
    spec,
    state: 'stopped',
    reason: 'not started',
    op: null,
    hold: null,
    runRequested: false,
    restartRequested: false,
    hiddenSince: spec.workspace === null ? null : now,
    failures: [],
    restartAt: null,
    quitAt: null,
    retryAt: null,
    removed: false,
  };
}

/** A config workspace "2" matches "2" and any "2: label"; otherwise names match exactly. */
export function workspaceMatches(configured: string, workspace: WorkspaceRef): boolean {
  if (configured === workspace.name) return true;
  return /^\d+$/.test(configured) && workspace.num !== null && workspace.num === Number(configured);
}

export function vmOnWorkspace(state: PolicyState, workspace: WorkspaceRef | null): string | null {
  if (!workspace) return null;
  for (const [name, vm] of Object.entries(state.vms)) {
    if (!vm.removed && vm.spec.workspace !== null && workspaceMatches(vm.spec.workspace, workspace)) return name;
  }
  return null;
}

export function decide(previous: PolicyState, event: PolicyEvent, now: number): Decision {
  const state = structuredClone(previous);
  const actions: Action[] = [];
  transitions = [];
  apply(state, event, now, actions);
  for (const vm of Object.values(state.vms)) reconcile(state, vm, now, actions);
  const reported = new Map<string, { state: VmState; reason: string }>();
  for (const { vm, state: to, reason } of transitions) {
    const name = vm.spec.name;
    const last = reported.get(name) ?? previous.vms[name];
    if (last && last.state === to && last.reason === reason) continue;
    actions.push({ type: 'changed', name, state: to, reason });
    reported.set(name, { state: to, reason });
  }
  transitions = [];
  for (const [name, vm] of Object.entries(state.vms)) {
    if (!previous.vms[name] && !reported.has(name)) actions.push({ type: 'changed', name, state: vm.state, reason: vm.reason });
    if (vm.removed && vm.op === null && (vm.state === 'stopped' || vm.state === 'failed')) {
      delete state.vms[name];
      actions.push({ type: 'forget', name });
    }
  }
  if (state.sessionEnding && Object.values(state.vms).every((vm) => isDown(vm.state) && vm.op === null)) {
    if (!actions.some((a) => a.type === 'exit')) actions.push({ type: 'exit' });
  }
  return { state, actions, wakeAt: nextWake(state, now) };
}

function isDown(state: VmState): boolean {
  return state === 'stopped' || state === 'failed';
}

/** Every transition within one decision, so that none is lost (stopped → starting in one step). */
let transitions: { vm: VmRecord; state: VmState; reason: string }[] = [];

function setState(vm: VmRecord, state: VmState, reason: string): void {
  vm.state = state;
  vm.reason = reason;
  transitions.push({ vm, state, reason });
}

function apply(state: PolicyState, event: PolicyEvent, now: number, actions: Action[]): void {
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
      return observe(state, event, now, actions);
    case 'op-failed': {
      const vm = state.vms[event.name];
      if (!vm || vm.op !== event.op) return;
      vm.op = null;
      if (event.op === 'start') return fail(state, vm, `could not start: ${event.reason}`, now, actions);
      vm.reason = `${event.op} failed: ${event.reason}`;
      // Not again at once: a QEMU that refuses would otherwise be asked in a tight loop.
      vm.retryAt = now + RETRY_AFTER_FAILED_OP_MS;
      return;
    }
    case 'user':
      return userRequest(state, event.verb, event.name, now);
    case 'config':
      return reconfigure(state, event.vms, event.settings, now);
    case 'session-end':
      state.sessionEnding = true;
      return;
    case 'tick':
      return;
  }
}

function updateVisibility(state: PolicyState, now: number): void {
  for (const vm of Object.values(state.vms)) {
    const workspace = vm.spec.workspace;
    if (workspace === null) continue;
    const visible = state.visible.some((w) => workspaceMatches(workspace, w));
    if (visible) vm.hiddenSince = null;
    else vm.hiddenSince ??= now;
  }
}

function observe(
  state: PolicyState,
  event: Extract<PolicyEvent, { type: 'observed' }>,
  now: number,
  actions: Action[],
): void {
  const vm = state.vms[event.name];
  if (!vm) return;
  switch (event.state) {
    case 'running':
      // Powering a paused VM down resumes it first: it is still on its way down.
      if (vm.op === 'stop') return;
      if (vm.op === 'start' || vm.op === 'resume') vm.op = null;
      vm.runRequested = false;
      vm.restartAt = null;
      setState(vm, 'running', event.reason);
      return;
    case 'paused':
      if (vm.op === 'stop') return;
      if (vm.op === 'pause') vm.op = null;
      // A start that lands paused (restored from a snapshot) still needs a resume.
      if (vm.op === 'start') vm.op = null;
      setState(vm, 'paused', event.reason);
      return;
    case 'stopped':
      // Shut down from inside (the guest powered off): the user's doing, so it stays
      // down like a hand stop until started again, rather than rebooting on focus.
      if (vm.op !== 'stop' && !state.sessionEnding && !vm.removed && !vm.restartRequested) vm.hold = 'stopped';
      vm.op = null;
      vm.quitAt = null;
      setState(vm, 'stopped', event.reason);
      return;
    case 'failed':
      vm.op = null;
      vm.quitAt = null;
      if (vm.state === 'stopping' || state.sessionEnding || vm.removed) {
        // It was being shut down anyway: that is a stop, not a failure to restart from.
        setState(vm, 'stopped', event.reason);
        return;
      }
      return fail(state, vm, event.reason, now, actions);
  }
}

function fail(state: PolicyState, vm: VmRecord, reason: string, now: number, actions: Action[]): void {
  const { maxRestarts, restartWindowMs, restartDelayMs } = state.settings;
  vm.failures = [...vm.failures.filter((t) => now - t < restartWindowMs), now];
  vm.runRequested = false;
  if (vm.spec.restart === 'on-failure' && vm.failures.length <= maxRestarts) {
    const delay = restartDelayMs * 2 ** (vm.failures.length - 1);
    vm.restartAt = now + delay;
    setState(vm, 'failed', `${reason} (restart ${vm.failures.length}/${maxRestarts} in ${Math.round(delay / 1000)} s)`);
  } else {
    vm.restartAt = null;
    const why = vm.spec.restart === 'never' ? 'restart is off' : `${vm.failures.length} failures within ${Math.round(restartWindowMs / 1000)} s, not restarting`;
    setState(vm, 'failed', `${reason} (${why})`);
  }
  actions.push({ type: 'notify', summary: `hiboss: VM ${vm.spec.name} failed`, body: vm.reason, urgency: 'critical' });
}

function userRequest(state: PolicyState, verb: UserVerb, name: string, now: number): void {
  const vm = state.vms[name];
  if (!vm) return;
  switch (verb) {
    case 'toggle':
      if (vm.state === 'running' || vm.state === 'starting' || vm.op === 'resume') return userRequest(state, 'pause', name, now);
      return userRequest(state, vm.state === 'paused' ? 'resume' : 'start', name, now);
    case 'start':
    case 'resume':
      vm.hold = null;
      vm.runRequested = true;
      vm.failures = verb === 'start' ? [] : vm.failures;
      // Started by hand while its workspace is hidden: the usual grace period applies.
      if (vm.hiddenSince !== null) vm.hiddenSince = now;
      return;
    case 'pause':
      vm.hold = 'paused';
      vm.runRequested = false;
      return;
    case 'stop':
      vm.hold = 'stopped';
      vm.runRequested = false;
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

function reconfigure(state: PolicyState, specs: VmSpec[], settings: PolicySettings, now: number): void {
  state.settings = settings;
  const wanted = new Map(specs.map((spec) => [spec.name, spec]));
  for (const [name, vm] of Object.entries(state.vms)) {
    const spec = wanted.get(name);
    if (!spec) {
      vm.removed = true;
      continue;
    }
    vm.removed = false;
    vm.spec = spec;
  }
  for (const spec of specs) state.vms[spec.name] ??= newRecord(spec, now);
  // Bindings may have changed: recompute who is hidden.
  for (const vm of Object.values(state.vms)) if (vm.spec.workspace === null) vm.hiddenSince = null;
  updateVisibility(state, now);
}

type Want = 'run' | 'pause' | 'stop' | 'keep';

function want(state: PolicyState, vm: VmRecord, now: number): Want {
  if (state.sessionEnding || vm.removed || vm.hold === 'stopped') return 'stop';
  if (vm.restartRequested) return 'stop'; // then run, once it is down
  if (vm.hold === 'paused') return 'pause';
  if (vm.runRequested) return 'run';
  const workspace = vm.spec.workspace;
  if (vm.state === 'failed') {
    const restartDue = vm.restartAt !== null && now >= vm.restartAt;
    if (!restartDue) return 'keep';
    if (workspace === null) return 'run';
  }
  if (workspace === null) return 'keep';
  if (state.focused && workspaceMatches(workspace, state.focused)) return 'run';
  if (vm.hiddenSince === null) return 'keep'; // visible on another output
  return now - vm.hiddenSince >= state.settings.pauseAfterMs ? 'pause' : 'keep';
}

function reconcile(state: PolicyState, vm: VmRecord, now: number, actions: Action[]): void {
  const name = vm.spec.name;
  if (vm.state === 'stopping' && vm.quitAt !== null && now >= vm.quitAt) {
    vm.quitAt = null;
    actions.push({ type: 'quit', name });
    return;
  }
  if (vm.op !== null) return;
  if (vm.retryAt !== null) {
    if (now < vm.retryAt) return;
    vm.retryAt = null;
  }
  if (vm.restartRequested && isDown(vm.state)) {
    vm.restartRequested = false;
    vm.runRequested = true;
  }
  switch (want(state, vm, now)) {
    case 'run':
      if (isDown(vm.state)) {
        vm.op = 'start';
        vm.restartAt = null;
        setState(vm, 'starting', startReason(state, vm));
        actions.push({ type: 'start', name });
      } else if (vm.state === 'paused') {
        vm.op = 'resume';
        actions.push({ type: 'resume', name });
      } else if (vm.state === 'running') {
        vm.runRequested = false; // already running: the request is met, focus rules again
      }
      return;
    case 'pause':
      if (vm.state === 'running') {
        vm.op = 'pause';
        actions.push({ type: 'pause', name });
      }
      return;
    case 'stop':
      if (vm.state === 'running' || vm.state === 'paused') {
        vm.op = 'stop';
        vm.quitAt = now + state.settings.powerdownTimeoutMs;
        setState(vm, 'stopping', state.sessionEnding ? 'session ended' : vm.removed ? 'removed from the config' : vm.restartRequested ? 'restarting' : 'stopped by the user');
        actions.push({ type: 'powerdown', name });
      }
      return;
    case 'keep':
      return;
  }
}

function startReason(state: PolicyState, vm: VmRecord): string {
  if (vm.runRequested) return 'started by the user';
  if (vm.failures.length > 0) return `restarting after a failure (${vm.failures.length}/${state.settings.maxRestarts})`;
  return `workspace ${state.focused?.name ?? vm.spec.workspace} focused`;
}

/** The earliest future deadline: everything due by `now` was just acted upon. */
function nextWake(state: PolicyState, now: number): number | null {
  let wake: number | null = null;
  const consider = (t: number | null) => {
    if (t !== null && t > now && (wake === null || t < wake)) wake = t;
  };
  for (const vm of Object.values(state.vms)) {
    if (vm.op !== null && vm.state !== 'stopping') continue; // waiting for the supervisor, not the clock
    if (vm.state === 'running' && vm.hiddenSince !== null && vm.hold === null) {
      consider(vm.hiddenSince + state.settings.pauseAfterMs);
    }
    if (vm.state === 'failed') consider(vm.restartAt);
    if (vm.state === 'stopping') consider(vm.quitAt);
    consider(vm.retryAt);
  }
  return wake;
}
