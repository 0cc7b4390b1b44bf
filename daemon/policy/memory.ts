/**
 * Memory decisions: when a hidden VM is saved to disk (hibernated) and its QEMU
 * ends, when it is brought back (restored), and what the user's memory verbs do.
 * Which VMs the budget takes, and whether a restore may go on now, is
 * ./budget.ts.
 *
 * States: `saving` (the `hibernate` operation: QEMU streams its RAM to the
 * image, then quits), `hibernated` (no QEMU; the image in the state dir),
 * `restoring` (the `restore` operation: QEMU started with `-incoming defer`
 * reads the image; it lands paused, and the usual rules resume it when wanted).
 *
 * A VM is saved only from `paused` (a running one is paused first), and only
 * while hidden: never the focused one, never one visible on an output, never
 * one that runs while hidden (`"whenHidden": "run"`), unless the user asks
 * (`hibernate` verb: a hold, as pause is). A save that failed is not tried
 * again automatically until its workspace has been shown again.
 */
import { admit, effectiveState, waitFor, waitReason } from './budget.js';
export { requestPrewarm } from './budget.js';
import { focusedHere, hidden, mayHibernate as allowed, reportedState, runsHidden } from './record.js';
import { ask, log, seconds, setState } from './turn.js';
import { SAVE_INTERRUPTED, unhandled, type ImageInfo, type MemoryOp, type MemoryRecord, type MemoryWait, type ObservedState, type Operation, type PolicySettings, type Turn, type VmRecord, type VmState, type WorkspaceRef } from './types.js';

export type { ImageInfo, MemoryOp, MemoryRecord, MemoryWait } from './types.js';

const MiB = 1024 * 1024;

function hiddenFrom(vm: VmRecord): number | null {
  if (vm.hiddenSince === null) return null;
  return Math.max(vm.hiddenSince, vm.memory.prewarmedAt ?? -Infinity);
}

export type BaseWant = 'run' | 'pause' | 'stop' | 'keep';
export type MemoryWant = BaseWant | 'hibernate' | 'prewarm';

/**
 * What the memory rules make of the policy's wish for a VM: a VM that would be
 * paused (or left alone) is saved once hidden for `hibernateAfterMs`, when the
 * budget picked it, or when the user asked; a hibernated one stays so unless
 * it is to run (restored, then resumed) or prewarmed (restored, left paused).
 */
export function memoryWant(settings: PolicySettings, vm: VmRecord, base: BaseWant, now: number): MemoryWant {
  if (base === 'run' || base === 'stop') return base;
  if (vm.state === 'hibernated') return vm.memory.prewarmRequested ? 'prewarm' : 'keep';
  if (!allowed(vm)) return base;
  if (vm.memory.hibernateRequested) return 'hibernate';
  if (!hidden(vm) || vm.memory.saveFailed || runsHidden(vm)) return base;
  if (vm.memory.budgetPicked) return 'hibernate';
  const from = hiddenFrom(vm);
  if (settings.hibernateAfterMs > 0 && from !== null && now - from >= settings.hibernateAfterMs) return 'hibernate';
  return base;
}

/** When the hibernate timer of a VM comes due (for the policy's wake-up), or null. */
export function hibernateWakeAt(settings: PolicySettings, vm: VmRecord): number | null {
  if (settings.hibernateAfterMs <= 0 || !allowed(vm) || !hidden(vm) || vm.memory.saveFailed || runsHidden(vm)) return null;
  if (vm.state !== 'running' && vm.state !== 'paused') return null;
  const from = hiddenFrom(vm);
  return from === null ? null : from + settings.hibernateAfterMs;
}

/** Why a save is asked, for the `saving` and `hibernated` reasons. */
export function saveReason(settings: PolicySettings, vm: VmRecord): string {
  if (vm.memory.hibernateRequested) return 'hibernated by the user';
  if (vm.memory.budgetPicked) return `over the memory budget (${settings.memoryBudgetMiB} MiB)`;
  return `workspace hidden for ${minutes(settings.hibernateAfterMs)}`;
}

function minutes(ms: number): string {
  return ms >= 60_000 ? `${Math.round(ms / 6000) / 10} min` : `${Math.round(ms / 100) / 10} s`;
}

function mib(bytes: number): string {
  return `${Math.round(bytes / MiB)} MiB`;
}

/** The `saving` operation is asked: remember why. */
export function saving(settings: PolicySettings, vm: VmRecord): MemoryRecord {
  return { ...vm.memory, saveWhy: saveReason(settings, vm) };
}

/** The reason a VM restoring shows. */
export function restoreReason(vm: VmRecord, why: 'run' | 'prewarm' | 'stop', focused: WorkspaceRef | null): string {
  const saved = vm.memory.image ? ` (${mib(vm.memory.image.bytes)})` : '';
  if (why === 'prewarm') return `prewarming: restoring from its image${saved}`;
  if (why === 'stop') return `restoring from its image${saved} to power it down`;
  if (vm.runRequested) return `resumed by the user: restoring from its image${saved}`;
  if (focused && focusedHere(vm, focused)) return `workspace ${focused.name} focused: restoring from its image${saved}`;
  return `restoring from its image${saved}`;
}

// ---- landing -----------------------------------------------------------------------------

export interface Observed {
  state: ObservedState;
  /** Adopted after a save the last daemon did not finish. */
  saveInterrupted?: boolean | undefined;
  image?: ImageInfo | undefined;
}

/** The memory record after an observation, given the operation that was in flight. */
export function afterObserved(vm: VmRecord, op: Operation | null, observed: Observed, now: number): MemoryRecord {
  const memory = observed.saveInterrupted ? { ...vm.memory, problem: SAVE_INTERRUPTED } : vm.memory;
  switch (observed.state) {
    case 'hibernated':
      return {
        ...memory,
        rssBeforeSave: memory.rssBytes ?? memory.rssBeforeSave,
        rssBytes: null,
        hibernateRequested: false,
        prewarmRequested: false,
        budgetPicked: false,
        saveFailed: false,
        image: observed.image ?? memory.image,
        problem: op === 'hibernate' ? null : memory.problem,
        shrunk: false,
        lastSaveMs: op === 'hibernate' && vm.opSince !== null ? now - vm.opSince : memory.lastSaveMs,
      };
    case 'running':
    case 'paused':
      if (op === 'start') return memory.coldBootBecause === null ? memory : { ...memory, coldBootBecause: null };
      // A resume deflates the balloon again (the supervisor's `resume` does it after `cont`).
      if (op === 'resume' && observed.state === 'running' && memory.shrunk) return { ...memory, shrunk: false };
      if (op !== 'restore') return memory;
      return {
        ...memory,
        saveWhy: null,
        image: null,
        problem: null,
        prewarmedAt: memory.prewarmRequested ? now : memory.prewarmedAt,
        prewarmRequested: false,
        lastRestoreMs: vm.opSince !== null ? now - vm.opSince : memory.lastRestoreMs,
      };
    case 'stopped':
    case 'failed':
      // QEMU is gone: nothing is held, nothing is being saved.
      return { ...memory, rssBytes: null, hibernateRequested: false, budgetPicked: false, saveWhy: null, prewarmRequested: false, shrunk: false, image: op === 'restore' ? null : memory.image };
    default:
      return unhandled(observed.state);
  }
}

/** Why a VM is hibernated: why it was saved, and how big its image is. */
export function hibernatedReason(vm: VmRecord): string {
  const image = vm.memory.image ? ` (${mib(vm.memory.image.bytes)})` : '';
  return vm.memory.saveWhy ? `${vm.memory.saveWhy}: saved to disk${image}` : `saved to disk${image}`;
}

interface MemoryFailure {
  memory: MemoryRecord;
  state: VmState;
  reason: string;
  notify: { summary: string; body: string; urgency: 'normal' | 'critical' } | null;
}

/**
 * A save or restore that failed. A failed save leaves the VM paused in RAM (the
 * supervisor removed the partial image); a failed restore leaves it stopped (the
 * image kept aside), and what wants it running cold-boots it — never silently.
 */
function failure(vm: VmRecord, op: MemoryOp, reason: string): MemoryFailure {
  const name = vm.spec.name;
  // A balloon that could not be inflated only costs memory: the pause goes on as usual.
  if (op === 'shrink') return { memory: { ...vm.memory, shrunk: true }, state: vm.state, reason: vm.reason, notify: null };
  if (op === 'hibernate') {
    return {
      memory: { ...vm.memory, saveFailed: true, hibernateRequested: false, budgetPicked: false, saveWhy: null, problem: `could not save to disk: ${reason}` },
      state: 'paused',
      reason: `could not save to disk: ${reason}; stays paused in RAM`,
      notify: { summary: `hiboss: ${name} could not be saved to disk`, body: `${reason}; it stays paused in RAM`, urgency: 'normal' },
    };
  }
  return {
    memory: { ...vm.memory, image: null, prewarmRequested: false, problem: `could not restore: ${reason}`, coldBootBecause: reason },
    state: 'stopped',
    reason: `could not restore: ${reason}`,
    notify: { summary: `hiboss: ${name} could not be restored`, body: `${reason}; it boots afresh`, urgency: 'critical' },
  };
}

/**
 * Before a hidden VM is paused (balloonBeforePause): shrink it to its working
 * set first — not for a pause by hand (the user wants it now), not twice.
 */
export function shouldShrink(settings: PolicySettings, vm: VmRecord): boolean {
  return settings.balloonBeforePause && vm.spec.balloon !== false && !vm.memory.shrunk && hidden(vm) && vm.hold === null;
}

/** The shrink landed (or was given up): the pause follows. */
export function afterShrink(memory: MemoryRecord): MemoryRecord {
  return { ...memory, shrunk: true };
}

/** The reason of the cold boot that follows a failed restore, or null. */
export function coldBootReason(vm: VmRecord): string | null {
  return vm.memory.coldBootBecause === null ? null : `cold boot: the restore failed (${vm.memory.coldBootBecause})`;
}

// ---- requests ----------------------------------------------------------------------------

/** `hibernate` by hand: the VM must have a QEMU (or be on its way to one) to be saved. */
export function canHibernateByHand(vm: VmRecord): boolean {
  if (!allowed(vm)) return false;
  return vm.state === 'running' || vm.state === 'paused' || vm.state === 'starting' || vm.state === 'saving' || vm.state === 'hibernated' || vm.state === 'restoring';
}

export function requestHibernate(vm: VmRecord): MemoryRecord {
  return { ...vm.memory, hibernateRequested: effectiveState(vm) !== 'hibernated', prewarmRequested: false, saveFailed: false };
}

/** A request that clears what the memory rules were asked (run, stop and restart release a hand hibernate). */
export function releaseHibernate(memory: MemoryRecord): MemoryRecord {
  return memory.hibernateRequested ? { ...memory, hibernateRequested: false } : memory;
}

/** The answer to the memory verbs, or null for the policy's usual answer. */
export function memoryAnswer(vm: VmRecord, verb: string): { ok: true; message: string } | { ok: false; kind: 'InvalidArgument'; message: string } | null {
  const name = vm.spec.name;
  if (verb === 'hibernate') {
    if (!allowed(vm)) return { ok: false, kind: 'InvalidArgument', message: `${name} has "hibernate": false in its config` };
    if (!canHibernateByHand(vm)) return { ok: false, kind: 'InvalidArgument', message: `${name} is ${vm.state}: nothing to hibernate (start it first)` };
    if (effectiveState(vm) === 'hibernated') return { ok: true, message: `${name}: hibernate (already hibernated)` };
    return { ok: true, message: `${name}: hibernate (${vm.op !== null ? `${vm.op} in flight, then ` : ''}saving to disk)` };
  }
  if (verb === 'prewarm') {
    if (vm.state === 'restoring') return { ok: true, message: `${name}: prewarm (restoring)` };
    if (vm.memory.prewarmRequested) return { ok: true, message: `${name}: prewarm (restoring from its image)` };
    return { ok: true, message: `${name}: prewarm (${vm.state}: nothing to restore)` };
  }
  return null;
}

// ---- what the status says ----------------------------------------------------------------

/** The memory fields of a VM's status (api/schema.ts VmStatus). */
export function memoryStatus(vm: VmRecord): { image: ImageInfo | null; memoryProblem: string | null; lastSaveMs: number | null; lastRestoreMs: number | null; hibernates: boolean } {
  return {
    image: vm.state === 'hibernated' || vm.state === 'restoring' ? vm.memory.image : null,
    memoryProblem: vm.memory.problem,
    lastSaveMs: vm.memory.lastSaveMs,
    lastRestoreMs: vm.memory.lastRestoreMs,
    hibernates: allowed(vm),
  };
}

/** The memory part of a VM's spec, from its config: opted out, and its size (config, else `-m`) until measured. */
export function memorySpec(vm: { hibernate?: boolean | undefined; balloon?: boolean | undefined; memoryMiB?: number | undefined; qemu?: string[] | undefined }): { hibernate: boolean; balloon: boolean; memoryMiB: number | null } {
  return { hibernate: vm.hibernate !== false, balloon: vm.balloon !== false, memoryMiB: vm.memoryMiB ?? memoryFromArgv(vm.qemu) };
}

/** QEMU's `-m 512`, `-m 2G`, `-m size=1024` in MiB; null when absent or unreadable. */
export function memoryFromArgv(argv: string[] | undefined): number | null {
  if (!argv) return null;
  const index = argv.indexOf('-m');
  const value = index === -1 ? undefined : argv[index + 1];
  const mib = value ? parseInt(value.replace(/^size=/, ''), 10) : NaN;
  return Number.isNaN(mib) ? null : /g$/i.test(value!) ? mib * 1024 : mib;
}

// ---- within a decision --------------------------------------------------------------------

/** A hidden VM is shrunk to its working set first when the policy says so. */
export function pauseOrShrink(turn: Turn, vm: VmRecord): void {
  const name = vm.spec.name;
  if (shouldShrink(turn.state.settings, vm)) ask(turn, vm, 'shrink', { type: 'shrink', name });
  else ask(turn, vm, 'pause', { type: 'pause', name });
}

/** The paused VM is saved to its image. */
export function save(turn: Turn, vm: VmRecord): void {
  vm.memory = saving(turn.state.settings, vm);
  ask(turn, vm, 'hibernate', { type: 'hibernate', name: vm.spec.name });
  setState(turn, vm, 'saving', vm.memory.saveWhy ?? 'saving to disk');
}

export function restore(turn: Turn, vm: VmRecord, why: 'run' | 'prewarm' | 'stop'): void {
  const overBudget = admitted(turn, vm, 'restoring');
  if (overBudget === null) return; // it waits for memory
  ask(turn, vm, 'restore', { type: 'restore', name: vm.spec.name });
  setState(turn, vm, 'restoring', restoreReason(vm, why, turn.state.focused) + overBudget);
}

/**
 * May this restore or start go on now (./budget.ts admit)? null: it waits for
 * memory, shown as `shown` with what it waits for; else what its reason adds
 * ('' when it fits the budget).
 */
export function admitted(turn: Turn, vm: VmRecord, shown: 'restoring' | 'starting'): string | null {
  const name = vm.spec.name;
  const what = shown === 'restoring' ? 'restore' : 'start';
  const waiting = vm.memory.waiting;
  const admission = admit(turn.state.settings, turn.state.vms, vm);
  if (admission.go) {
    if (waiting) log(turn, name, `waited ${seconds(turn.now - waiting.since)} for memory: its ${what} goes on`);
    if (admission.overBudget === null) return '';
    log(turn, name, `${what}: ${admission.overBudget}`, 'warn');
    return `; ${admission.overBudget}`;
  }
  const reason = waitReason(admission.saves, admission.unseen);
  if (!waiting) log(turn, name, `its ${what} waits until their QEMUs are gone: ${reason}`);
  vm.memory = waitFor(vm, admission.saves, turn.now);
  setState(turn, vm, shown, reason);
  vm.since = vm.memory.waiting!.since;
  return null;
}

/** A wait for memory this decision did not renew: it went on, or it is called off (back to what it was). */
export function endWait(turn: Turn, vm: VmRecord, waited: MemoryWait): void {
  vm.memory = { ...vm.memory, waiting: null };
  if (vm.op !== null) return; // it went on
  log(turn, vm.spec.name, `no longer waiting for memory after ${seconds(turn.now - waited.since)}: not wanted now`);
  turn.transitions.push({ vm, state: reportedState(vm), reason: vm.reason });
}

/** A save or restore failed; the VM's state says what it is now, and the user is told. */
export function memoryOpFailed(turn: Turn, vm: VmRecord, op: MemoryOp, reason: string): void {
  const failed = failure(vm, op, reason);
  vm.memory = failed.memory;
  log(turn, vm.spec.name, `${op} failed: ${reason}`, 'warn');
  if (failed.state !== vm.state || failed.reason !== vm.reason) setState(turn, vm, failed.state, failed.reason);
  if (failed.notify) turn.actions.push({ type: 'notify', ...failed.notify });
}
