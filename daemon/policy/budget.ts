/**
 * The memory budget, decided afresh in every decision: who was focused last
 * (the budget's order), which hidden VMs it takes (saved to disk) when what the
 * VMs hold exceeds it, which hibernated neighbours are prewarmed, and whether a
 * restore or cold start may go on now or waits for saves to make room.
 *
 * A VM with `"hibernate": false` or `"whenHidden": "run"` is never taken.
 */
import { compareNames, compareWorkspaceNames, workspaceMatches } from '../../config/workspaces.js';
import { focusedHere, hidden, mayHibernate as allowed, runsHidden } from './record.js';
import { unhandled, type MemoryRecord, type PolicySettings, type VmRecord, type VmState, type WorkspaceRef } from './types.js';

const MiB = 1024 * 1024;

function mib(bytes: number): string {
  return `${Math.round(bytes / MiB)} MiB`;
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
      return unhandled(vm.state);
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
    case 'hibernated':
    case 'stopped':
    case 'failed':
      return 0;
    default:
      return unhandled(vm.state);
  }
}

/** Its QEMU is being saved, or will be (picked by the budget, hibernated by hand): its memory is on its way back. */
function releasing(vm: VmRecord): boolean {
  if (vm.state === 'saving') return true;
  return (vm.state === 'running' || vm.state === 'paused') && allowed(vm) && (vm.memory.budgetPicked || vm.memory.hibernateRequested);
}

/** Focus just left it (the WM's snapshot will say whether it is hidden), and the budget could take it then. */
function mayBeTaken(vm: VmRecord): boolean {
  return vm.memory.mayBeHidden && (vm.state === 'running' || vm.state === 'paused') && allowed(vm) && !runsHidden(vm) && !vm.runRequested && vm.hold === null && !vm.memory.saveFailed && !vm.removed;
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
    .filter((vm) => (vm.state === 'running' || vm.state === 'paused') && !vm.removed && allowed(vm) && !runsHidden(vm) && !vm.runRequested && hidden(vm) && !vm.memory.saveFailed && !vm.memory.budgetPicked && vm.hold !== 'stopped')
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

/** Prewarm: restore a hibernated (or saving) VM now, without running it. */
export function requestPrewarm(vm: VmRecord): MemoryRecord {
  const state = effectiveState(vm);
  if (state !== 'hibernated' && state !== 'saving') return vm.memory;
  return { ...vm.memory, prewarmRequested: true };
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

