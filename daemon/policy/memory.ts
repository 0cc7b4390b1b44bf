/**
 * Memory decisions, pure like policy.ts (which calls these at small hook points):
 * when a hidden VM is saved to disk (hibernated) and its QEMU ends, when it is
 * brought back (restored), which hidden VMs go when the memory budget is
 * exceeded, and which hibernated VMs are restored early (prewarmed).
 *
 * States: `saving` (the `hibernate` operation: QEMU streams its RAM to the
 * image, then quits), `hibernated` (no QEMU; the image in the state dir),
 * `restoring` (the `restore` operation: QEMU started with `-incoming defer`
 * reads the image; it lands paused, and the usual rules resume it when wanted).
 *
 * A VM is saved only from `paused` (a running one is paused first), and only
 * while hidden: never the focused one, never one visible on an output, unless
 * the user asks (`hibernate` verb: a hold, as pause is). A save that failed is
 * not tried again automatically until its workspace has been shown again.
 */
import type { PolicySettings, VmRecord, VmState } from './policy.js';
import { compareNames, compareWorkspaceNames, workspaceMatches, type WorkspaceRef } from '../../config/workspaces.js';

const MiB = 1024 * 1024;

/** What the memory decisions remember of one VM (replaced, never mutated: decisions copy records shallowly). */
export interface MemoryRecord {
  /** Resident memory of its QEMU at the last sample (bytes); null without a QEMU or a sample. */
  rssBytes: number | null;
  /** Resident memory when it was saved: roughly what a restore brings back (the budget counts it). */
  rssBeforeSave: number | null;
  /** The most its QEMU was seen to hold (kept across saves): what it may grow back to once it runs again. */
  peakRssBytes: number | null;
  /** When it was last the focused workspace's VM (epoch ms; now while it is): the budget's order. */
  lastFocusedAt: number | null;
  /** When it was last restored early (prewarm): hibernated again only after hibernateAfterMs from then. */
  prewarmedAt: number | null;
  /** The user asked for it to be saved (the hold is `paused`). */
  hibernateRequested: boolean;
  /** Restore it, but do not run it (prewarm). */
  prewarmRequested: boolean;
  /** Chosen by the memory budget: saved as soon as it is paused. */
  budgetPicked: boolean;
  /** Why the save in flight was asked (the `hibernated` reason says it). */
  saveWhy: string | null;
  /** The last save failed: no automatic save until its workspace is shown again. */
  saveFailed: boolean;
  /** The image of a hibernated VM. */
  image: ImageInfo | null;
  /** Why the last save or restore failed (status shows it until the next success). */
  problem: string | null;
  /** A restore failed: the cold boot that follows says why. */
  coldBootBecause: string | null;
  lastSaveMs: number | null;
  lastRestoreMs: number | null;
  /** Its balloon was inflated to its working set before a pause (balloonBeforePause): a resume deflates it. */
  shrunk: boolean;
  /** Its restore (or cold start) waits for saves to free memory (the budget, memoryBudgetStrict); null otherwise. */
  waiting: MemoryWait | null;
  /** Focus just left it and the WM has not said yet whether its workspace is out of sight: the budget may yet take it. */
  mayBeHidden: boolean;
}

/**
 * A restore or cold start held back by the budget. The VM shows `restoring` (or
 * `starting`) meanwhile; `from` is what it was, what it goes back to when the
 * wait is called off (focus moved on, a later request).
 */
export interface MemoryWait {
  from: VmState;
  fromReason: string;
  fromSince: number;
  /** When the wait began (epoch ms). */
  since: number;
  /** The VMs whose saves it waits for: one that fails lets it go on. */
  saves: string[];
}

export interface ImageInfo {
  bytes: number;
  /** Epoch ms the save completed. */
  savedAt: number;
}

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

/** The memory operations; `awaitingReply` does not apply (a save takes as long as the RAM is large). */
export const MEMORY_OPS = ['hibernate', 'restore', 'shrink'] as const;
export type MemoryOp = (typeof MEMORY_OPS)[number];

export function isMemoryOp(op: string | null): op is MemoryOp {
  return op === 'hibernate' || op === 'restore' || op === 'shrink';
}

/** States in which a VM holds no QEMU and needs nothing more (the session may end, a removed VM be forgotten). */
export function atRest(state: VmState): boolean {
  return state === 'stopped' || state === 'failed' || state === 'hibernated';
}

function allowed(vm: VmRecord): boolean {
  return vm.spec.hibernate !== false;
}

function hidden(vm: VmRecord): boolean {
  return vm.spec.workspace !== null && vm.hiddenSince !== null;
}

function focusedHere(vm: VmRecord, focused: WorkspaceRef | null): boolean {
  return vm.spec.workspace !== null && focused !== null && workspaceMatches(vm.spec.workspace, focused);
}

/** Since when the hibernate timer counts: hidden, or prewarmed (whichever came last). */
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
  if (!hidden(vm) || vm.memory.saveFailed) return base;
  if (vm.memory.budgetPicked) return 'hibernate';
  const from = hiddenFrom(vm);
  if (settings.hibernateAfterMs > 0 && from !== null && now - from >= settings.hibernateAfterMs) return 'hibernate';
  return base;
}

/** When the hibernate timer of a VM comes due (for the policy's wake-up), or null. */
export function hibernateWakeAt(settings: PolicySettings, vm: VmRecord): number | null {
  if (settings.hibernateAfterMs <= 0 || !allowed(vm) || !hidden(vm) || vm.memory.saveFailed) return null;
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
  state: 'running' | 'paused' | 'stopped' | 'failed' | 'hibernated';
  image?: ImageInfo | undefined;
}

/** The memory record after an observation, given the operation that was in flight. */
export function afterObserved(vm: VmRecord, op: string | null, observed: Observed, now: number): MemoryRecord {
  const memory = vm.memory;
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
  }
}

/** Why a VM is hibernated: why it was saved, and how big its image is. */
export function hibernatedReason(vm: VmRecord): string {
  const image = vm.memory.image ? ` (${mib(vm.memory.image.bytes)})` : '';
  return vm.memory.saveWhy ? `${vm.memory.saveWhy}: saved to disk${image}` : `saved to disk${image}`;
}

export interface MemoryFailure {
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
export function memoryOpFailed(vm: VmRecord, op: MemoryOp, reason: string): MemoryFailure {
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

/** Prewarm: restore a hibernated (or saving) VM now, without running it. */
export function requestPrewarm(vm: VmRecord): MemoryRecord {
  const state = effectiveState(vm);
  if (state !== 'hibernated' && state !== 'saving') return vm.memory;
  return { ...vm.memory, prewarmRequested: true };
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

// ---- every decision: focus order, visibility, the budget, neighbours ----------------------

export interface RefreshInput {
  settings: PolicySettings;
  vms: Record<string, VmRecord>;
  focused: WorkspaceRef | null;
  /** The focused VM before this decision (neighbours are prewarmed when it changes). */
  focusedBefore: string | null;
  /** The event is the WM's snapshot: what is visible is known (a focus event alone does not say what it hid). */
  snapshot: boolean;
  now: number;
}

/** Resident memory a VM holds or is about to hold (a restore brings its image back). */
export function heldBytes(vm: VmRecord, focused: WorkspaceRef | null = null): number {
  const { memory } = vm;
  // Waiting for memory: it counts as long as it is still wanted back (its need drives the budget's picks).
  if (memory.waiting) return comingBack(vm, focused) ? needs(vm) : 0;
  switch (vm.state) {
    case 'hibernated':
      return comingBack(vm, focused) ? needs(vm) : 0;
    case 'paused':
    case 'stopping':
    case 'saving':
      return resident(vm);
    case 'running':
    case 'starting':
    case 'restoring':
      return mayGrowTo(vm);
    case 'stopped':
    case 'failed':
      // About to boot (focused, or asked to run): it counts before it starts, as a restore does.
      return vm.hold === null && comingBack(vm, focused) ? needs(vm) : 0;
    default:
      return 0;
  }
}

/** A hibernated VM this decision restores: focused (and not held), asked to run, or prewarmed. */
function comingBack(vm: VmRecord, focused: WorkspaceRef | null): boolean {
  return vm.memory.prewarmRequested || vm.runRequested || (vm.hold === null && focusedHere(vm, focused));
}

/** A QEMU's resident memory as last measured (or, before the first sample, its best guess). */
function resident(vm: VmRecord): number {
  return vm.memory.rssBytes ?? vm.memory.rssBeforeSave ?? estimate(vm);
}

/**
 * A VM whose guest runs (or is about to: starting, restoring): what it may hold at any
 * moment. A running guest takes memory back faster than a save can free any, so it
 * counts what it holds now, or its need if that is more; a paused one cannot grow.
 */
function mayGrowTo(vm: VmRecord): number {
  return Math.max(vm.memory.rssBytes ?? 0, needs(vm));
}

function estimate(vm: VmRecord): number {
  return (vm.spec.memoryMiB ?? 0) * MiB;
}

/**
 * What a restore (or cold start) of a VM will hold: what it held when saved, the most it
 * was ever seen to hold, and at least its configured size — a restored guest grows back as
 * it runs (QEMU maps its RAM in huge pages, and adds its own): counting less let two VMs in
 * at the budget's edge that then grew past it.
 */
function needs(vm: VmRecord): number {
  return Math.max(vm.memory.rssBeforeSave ?? 0, vm.memory.peakRssBytes ?? 0, estimate(vm));
}

// ---- the budget as a limit: a restore waits for the saves that make room ------------------

/** Resident memory held now: by a QEMU, or one on its way (a restore or start in flight); none by a waiter. */
function heldNow(vm: VmRecord): number {
  if (vm.memory.waiting) return 0;
  switch (vm.state) {
    case 'paused':
    case 'stopping':
    case 'saving':
      return resident(vm);
    case 'running':
      return mayGrowTo(vm);
    case 'starting':
    case 'restoring':
      return vm.op === null ? 0 : mayGrowTo(vm);
    default:
      return 0;
  }
}

/** Its QEMU is being saved, or will be (picked by the budget, hibernated by hand): its memory is on its way back. */
function releasing(vm: VmRecord): boolean {
  if (vm.state === 'saving') return true;
  return (vm.state === 'running' || vm.state === 'paused') && allowed(vm) && (vm.memory.budgetPicked || vm.memory.hibernateRequested);
}

/** Focus just left it (the WM's snapshot will say whether it is hidden), and the budget could take it then. */
function mayBeTaken(vm: VmRecord): boolean {
  return vm.memory.mayBeHidden && (vm.state === 'running' || vm.state === 'paused') && allowed(vm) && vm.hold === null && !vm.memory.saveFailed && !vm.removed;
}

export type Admission =
  /** Go on; `overBudget` says why it goes over the budget (for the log), or null when it fits. */
  | { go: true; overBudget: string | null }
  /** Wait until these saves have ended their QEMUs: then it fits. */
  | { go: false; saves: string[]; unseen: string[] };

/**
 * May a VM be restored (or cold-started) now? With a budget, what the other VMs
 * hold now plus what it needs must fit. When it does not, and saves in flight
 * (or picked, about to start) would make it fit once their QEMUs are gone, it
 * waits for them (memoryBudgetStrict) — the budget is a limit, not an average.
 * When nothing can make it fit (the others are visible, focused, held or opted
 * out; it alone needs more than the budget), or a save it waited for failed, it
 * goes on over the budget and says why: it never waits for what cannot come.
 */
export function admit(settings: PolicySettings, vms: Record<string, VmRecord>, vm: VmRecord): Admission {
  if (settings.memoryBudgetMiB === null) return { go: true, overBudget: null };
  const budget = settings.memoryBudgetMiB * MiB;
  const need = needs(vm);
  let held = 0;
  let freed = 0;
  let unsure = 0;
  const saves: string[] = [];
  const unseen: string[] = [];
  for (const other of Object.values(vms)) {
    if (other === vm) continue;
    const bytes = heldNow(other);
    held += bytes;
    if (bytes > 0 && releasing(other)) {
      freed += bytes;
      saves.push(other.spec.name);
    } else if (bytes > 0 && mayBeTaken(other)) {
      unsure += bytes;
      unseen.push(other.spec.name);
    }
  }
  if (held + need <= budget) return { go: true, overBudget: null };
  const over = `over the memory budget (${settings.memoryBudgetMiB} MiB): ${mib(held + need)} with it`;
  const failed = vm.memory.waiting?.saves.find((name) => vms[name]?.memory.saveFailed);
  if (failed !== undefined) return { go: true, overBudget: `${over}; the save of ${failed} it waited for failed` };
  const fits = held - freed + need <= budget;
  // Saves would make room, or (before the WM's snapshot) the VM focus just left may turn out hidden.
  if ((saves.length > 0 && fits) || (unseen.length > 0 && held - freed - unsure + need <= budget)) {
    if (fits) unseen.length = 0;
    if (settings.memoryBudgetStrict) return { go: false, saves, unseen };
    const waitsFor = [...saves, ...unseen];
    return { go: true, overBudget: `${over} until ${waitsFor.join(', ')} ${waitsFor.length === 1 ? 'is' : 'are'} saved (memoryBudgetStrict is off)` };
  }
  if (need > budget) return { go: true, overBudget: `${over}; it alone needs ${mib(need)}` };
  return { go: true, overBudget: `${over}; nothing more can be freed (the other VMs are visible, held, saving or have "hibernate": false)` };
}

/** The reason a VM waiting for memory shows. */
export function waitReason(saves: string[], unseen: string[] = []): string {
  return `waiting for memory: saving ${[...saves, ...unseen.map((name) => `${name} if its workspace is hidden`)].join(', ')}`;
}

/** Starts (or renews) a wait: the record it keeps; `shown` is the state it is shown in meanwhile. */
export function waitFor(vm: VmRecord, saves: string[], now: number): MemoryRecord {
  const before = vm.memory.waiting;
  return { ...vm.memory, waiting: { from: vm.state, fromReason: vm.reason, fromSince: vm.since, since: before?.since ?? now, saves } };
}

/** What a VM is apart from a wait for memory (a waiter is shown `restoring`/`starting` but is still what it was). */
export function effectiveState(vm: VmRecord): VmState {
  return vm.memory.waiting?.from ?? vm.state;
}

/**
 * Run once per decision, before the VMs are reconciled: remembers who is
 * focused (the budget's order), forgets a failed save once the VM was shown,
 * picks the VMs the budget hibernates, and prewarms the focused VM's
 * neighbours when asked to. Mutates the (copied) records' `memory` by
 * replacing it.
 */
export function refreshMemory({ settings, vms, focused, focusedBefore, snapshot, now }: RefreshInput): void {
  let focusedName: string | null = null;
  // for…in, not Object.values: this runs in every decision, the switch's first among them.
  for (const name in vms) {
    const vm = vms[name]!;
    if (focusedHere(vm, focused) && !vm.removed) {
      focusedName = vm.spec.name;
      vm.memory = { ...vm.memory, lastFocusedAt: now };
    }
    if (!hidden(vm) && (vm.memory.saveFailed || vm.memory.budgetPicked)) vm.memory = { ...vm.memory, saveFailed: false, budgetPicked: false };
  }
  // The VM focus just left still counts as visible until the WM's snapshot says whether its
  // workspace went out of sight (one output) or stays on another: until then it may be freed.
  for (const name in vms) {
    const vm = vms[name]!;
    const unsure = !snapshot && (vm.memory.mayBeHidden || (vm.spec.name === focusedBefore && focusedBefore !== focusedName)) && !hidden(vm) && !focusedHere(vm, focused);
    if (unsure !== vm.memory.mayBeHidden) vm.memory = { ...vm.memory, mayBeHidden: unsure };
  }
  const budget = settings.memoryBudgetMiB === null ? null : settings.memoryBudgetMiB * MiB;
  if (settings.prewarmNeighbours && focusedName !== null && focusedName !== focusedBefore) {
    prewarmNeighbours(Object.values(vms), focusedName, budget, focused);
  }
  if (budget !== null) pickForBudget(Object.values(vms), budget, focused);
}

/** Bytes held once the saves in flight (or picked) are done and the restores asked have landed. */
function projected(vms: VmRecord[], focused: WorkspaceRef | null): number {
  return vms.filter((vm) => vm.state !== 'saving' && !vm.memory.budgetPicked).reduce((sum, vm) => sum + heldBytes(vm, focused), 0);
}

/** Least recently focused first; a prewarm counts as a look. */
function recency(vm: VmRecord): number {
  return Math.max(vm.memory.lastFocusedAt ?? -Infinity, vm.memory.prewarmedAt ?? -Infinity);
}

function pickForBudget(vms: VmRecord[], budget: number, focused: WorkspaceRef | null): void {
  let held = projected(vms, focused);
  if (held <= budget) return;
  const candidates = vms
    .filter((vm) => (vm.state === 'running' || vm.state === 'paused') && !vm.removed && allowed(vm) && hidden(vm) && !vm.memory.saveFailed && !vm.memory.budgetPicked && vm.hold !== 'stopped')
    .sort((a, b) => recency(a) - recency(b) || compareNames(a.spec.name, b.spec.name));
  for (const vm of candidates) {
    if (held <= budget) return;
    held -= heldBytes(vm);
    vm.memory = { ...vm.memory, budgetPicked: true };
  }
}

function prewarmNeighbours(vms: VmRecord[], focusedName: string, budget: number | null, focused: WorkspaceRef | null): void {
  const bound = vms.filter((vm) => vm.spec.workspace !== null && !vm.removed).sort((a, b) => compareWorkspaceNames(a.spec.workspace!, b.spec.workspace!));
  const index = bound.findIndex((vm) => vm.spec.name === focusedName);
  if (index === -1 || bound.length < 2) return;
  const neighbours = new Set([bound[(index + 1) % bound.length]!, bound[(index - 1 + bound.length) % bound.length]!]);
  for (const vm of neighbours) {
    if (vm.spec.name === focusedName || vm.state !== 'hibernated' || vm.memory.prewarmRequested || vm.hold !== null) continue;
    const after = projected(vms, focused) + needs(vm);
    if (budget !== null && after > budget) continue; // no budget to spare: it waits for its focus
    vm.memory = { ...vm.memory, prewarmRequested: true };
  }
}

/** A workspace was created (the WM's `init`): its hibernated VM is restored early, if the policy says so. */
export function prewarmOnInit(settings: PolicySettings, vms: Record<string, VmRecord>, workspace: WorkspaceRef): void {
  if (!settings.prewarmOnInit) return;
  for (const vm of Object.values(vms)) {
    // Held by the user (hibernated by hand): only the user brings it back.
    if (vm.removed || vm.hold !== null || vm.spec.workspace === null || !workspaceMatches(vm.spec.workspace, workspace)) continue;
    vm.memory = requestPrewarm(vm);
  }
}

/** The resident memory sampled by the daemon (only VMs with a QEMU are in it). */
export function sampled(vms: Record<string, VmRecord>, rssBytes: Record<string, number>): void {
  for (const [name, vm] of Object.entries(vms)) {
    const rss = Object.hasOwn(rssBytes, name) ? rssBytes[name]! : null;
    // A VM restoring or starting has no QEMU in the supervisor's map yet: keep the estimate.
    if (rss === null && (vm.state === 'restoring' || vm.state === 'starting')) continue;
    const peak = rss !== null && rss > (vm.memory.peakRssBytes ?? 0) ? rss : vm.memory.peakRssBytes;
    if (vm.memory.rssBytes !== rss || vm.memory.peakRssBytes !== peak) vm.memory = { ...vm.memory, rssBytes: rss, peakRssBytes: peak };
  }
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
