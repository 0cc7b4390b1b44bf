/**
 * Updates of flake VMs, the I/O side: builds new generations
 * (`hiboss update`, automatic updates, updates held for review) and selects
 * generations by hand (`hiboss rollback`); health windows are
 * daemon/updates/health-windows.ts's. Every decision about health and rollback is the policy's
 * (daemon/policy/health.ts); this module reports to it through `post`.
 */
import { shortRevision, type GenerationsReport, type HeldUpdate, type VmStatus } from '../../api/schema.js';
import { parseFlakeVmRef } from '../../networks/flake-ref.js';
import type { UpdateProgressKind } from '../policy/types.js';
import { heldMessage } from '../../api/held-update.js';
import { heldUpdate } from './review.js';
import { vmPaths, type RuntimeRoots } from '../../config/paths.js';
import type { Config, VmConfig } from '../../config/schema.js';
import type { FlakeLauncher } from '../launch/flake.js';
import type { LaunchCommand } from '../launch/launcher.js';
import type { Action, PolicyEvent } from '../policy/policy.js';
import type { VmProcess } from '../vm/vm-process.js';
import { DEFAULT_KEEP_GENERATIONS, findGeneration, gcRootAlive, GenerationStore, lastHealthy } from './generations.js';
import { HealthWindows } from './health-windows.js';
import { errorMessage } from '../../shared/error-message.js';
import { RequestError } from '../errors.js';

/** An update or rollback the daemon refuses: a RequestError, so the D-Bus caller gets its kind. */
export class UpdateRefusedError extends RequestError {}

export interface UpdaterOptions {
  roots: RuntimeRoots;
  config: () => Config;
  post: (event: PolicyEvent) => void;
  /** The flake launcher (loaded when first needed: it brings execa). */
  flakeLauncher: () => Promise<FlakeLauncher>;
  now?: () => number;
}

interface Build {
  since: number;
  auto: boolean;
  controller: AbortController;
}

interface UpdateOptions {
  now: boolean;
  auto: boolean;
  /** The held update the member approved: built as it was reviewed. */
  approved?: HeldUpdate;
}

/** setTimeout's limit; longer waits are taken in steps. */
const MAX_TIMER_MS = 2 ** 31 - 1;

export class Updater {
  readonly #builds = new Map<string, Build>();
  readonly #windows: HealthWindows;
  #autoTimer: NodeJS.Timeout | undefined;
  #closed = false;
  readonly #now: () => number;

  constructor(private readonly options: UpdaterOptions) {
    this.#now = options.now ?? Date.now;
    this.#windows = new HealthWindows({ roots: options.roots, config: options.config, post: options.post, now: this.#now });
  }

  #store(name: string): GenerationStore {
    return new GenerationStore(vmPaths(this.options.roots, name).stateDir);
  }

  #flakeVm(name: string): VmConfig & { flake: string } {
    const vm = this.options.config().vms[name];
    if (!vm) throw new UpdateRefusedError('NoSuchVm', `no VM named "${name}"`);
    if (vm.flake === undefined) throw new UpdateRefusedError('InvalidArgument', `${name} is a QEMU VM, not a flake VM: it has no generations`);
    return vm as VmConfig & { flake: string };
  }

  // ---- what clients read --------------------------------------------------------------

  /** The last update news of each VM (the policy's update-event), for the status and the bar's tooltip. */
  readonly #news = new Map<string, string>();

  remember(action: Action): void {
    if (action.type === 'update-event' && action.kind !== 'building') this.#news.set(action.name, action.message);
  }

  /** What Status() adds for a flake VM: the last update news and the generation its next start boots. */
  summary(name: string): Required<Pick<VmStatus, 'lastUpdate' | 'generation' | 'updateHeld'>> {
    const lastUpdate = this.#news.get(name) ?? null;
    if (this.options.config().vms[name]?.flake === undefined) return { lastUpdate, generation: null, updateHeld: null };
    try {
      const data = this.#store(name).read();
      const selected = findGeneration(data, data.selected);
      return {
        lastUpdate,
        generation: selected ? { number: selected.number, revision: shortRevision(selected.revision), outcome: selected.outcome } : null,
        updateHeld: data.held ? shortRevision(data.held.revision) : null,
      };
    } catch {
      return { lastUpdate, generation: null, updateHeld: null };
    }
  }

  generations(name: string): GenerationsReport {
    this.#flakeVm(name);
    const store = this.#store(name);
    let data;
    try {
      data = store.read();
    } catch (error) {
      throw new UpdateRefusedError('Failed', errorMessage(error));
    }
    const build = this.#builds.get(name);
    return {
      name,
      selected: data.selected,
      generations: [...data.generations]
        .sort((a, b) => b.number - a.number)
        .map((g) => ({ ...g, gcRoot: gcRootAlive(store.gcRoot(g.number)) ? store.gcRoot(g.number) : null })),
      updating: build ? { since: build.since, auto: build.auto } : null,
      held: data.held ?? null,
    };
  }

  // ---- updates -------------------------------------------------------------------------

  /**
   * Starts building the flake's newest revision; returns at once with what
   * happens. Progress goes to the VM's log; the outcome comes as an
   * `update-progress` event. Two updates of one VM at once are refused.
   */
  update(name: string, options: UpdateOptions): string {
    const vm = this.#flakeVm(name);
    const running = this.#builds.get(name);
    if (running) {
      throw new UpdateRefusedError(
        'InvalidArgument',
        `${name}: an update is already running (${running.auto ? 'automatic, ' : ''}started ${Math.round((this.#now() - running.since) / 1000)} s ago)`,
      );
    }
    const build: Build = { since: this.#now(), auto: options.auto, controller: new AbortController() };
    this.#builds.set(name, build);
    const what = options.approved ? `the approved revision ${shortRevision(options.approved.revision)} of` : 'the newest revision of';
    const message = `${name}: updating: building ${what} ${vm.flake}${options.now ? ', then restarting into it' : ' (used at its next start)'}`;
    this.#progress(name, 'building', message, options);
    void this.#build(name, vm, build, options).finally(() => {
      if (this.#builds.get(name) === build) this.#builds.delete(name);
    });
    return message;
  }

  /** Builds the held update the member approved (updates.review); refused when none is held. */
  approve(name: string, now: boolean): string {
    const vm = this.#flakeVm(name);
    let held: HeldUpdate | null | undefined;
    try {
      held = this.#store(name).read().held;
    } catch (error) {
      throw new UpdateRefusedError('Failed', errorMessage(error));
    }
    if (!held) throw new UpdateRefusedError('InvalidArgument', `${name}: no update is held for review`);
    if (held.flake !== vm.flake) throw new UpdateRefusedError('InvalidArgument', `${name}: the held update is of ${held.flake}; the config now names ${vm.flake}`);
    return this.update(name, { now, auto: false, approved: held });
  }

  async #build(name: string, vm: VmConfig & { flake: string }, build: Build, options: UpdateOptions): Promise<void> {
    const store = this.#store(name);
    const post = this.options.post;
    let held: HeldUpdate | null = null;
    try {
      const before = store.read();
      const current = findGeneration(before, before.selected);
      const launcher = await this.options.flakeLauncher();
      const built = await launcher.build({
        name,
        flakeRef: vm.flake,
        store,
        progress: (line) => post({ type: 'note', name, message: line }),
        signal: build.controller.signal,
        refresh: true,
        lowPriority: options.auto,
        ...(options.approved
          ? { approved: { revision: options.approved.revision, url: options.approved.lockedUrl, lastModified: options.approved.lastModified, inputs: options.approved.inputs } }
          : {}),
        // Decided on the locked revision, before anything is built.
        unless: async (locked) => {
          const { revision } = locked;
          const short = shortRevision(revision);
          if (current && current.flake === vm.flake && current.revision === revision && current.outcome !== 'failed') {
            return `already up to date (${short}, generation ${current.number})`;
          }
          const failedBefore = before.generations.find((g) => g.flake === vm.flake && g.revision === revision && g.outcome === 'failed');
          // Not retried by itself until a newer revision exists.
          if (failedBefore && options.auto) return `${short} failed before (${failedBefore.failure ?? 'unhealthy'}); waiting for a newer revision`;
          // updates.review: changed inputs wait for the member (the first build was the join's review).
          if (!vm.updates?.review || options.approved) return null;
          held = await heldUpdate(vm.flake, current, locked, this.#now(), (url) => launcher.estimate(url, parseFlakeVmRef(vm.flake, name).configuration, build.controller.signal));
          if (held === null) return null;
          const kept = held;
          store.update((data) => void (data.held = kept));
          return heldMessage(name, kept);
        },
      });
      if ('skipped' in built) {
        if (held) return this.#progress(name, 'held', built.skipped, options);
        store.update((data) => void (data.held = null)); // nothing newer than what runs: nothing to review
        this.#progress(name, 'up-to-date', `${name}: ${built.skipped}`, options);
        return;
      }
      const generation = built;
      const from = current ? shortRevision(current.revision) : 'nothing';
      const to = shortRevision(generation.revision);
      store.add(generation, vm.updates?.keepGenerations ?? DEFAULT_KEEP_GENERATIONS);
      // Built: a held update of this revision (or an older one) is done with.
      store.update((data) => void (data.held = null));
      const when = options.now ? 'restarting into it' : 'used at its next start';
      this.#progress(name, 'built', `${name}: update built: ${from} → ${to} (generation ${generation.number}; ${when})`, options);
    } catch (error) {
      if (this.#closed) return;
      this.#progress(name, 'build-failed', `${errorMessage(error)}\n(the current generation stays in use)`, options);
    }
  }

  #progress(name: string, kind: UpdateProgressKind, message: string, options: UpdateOptions): void {
    this.options.post({ type: 'update-progress', name, kind, message, auto: options.auto, restartNow: options.now });
  }

  /**
   * Selects a generation for the next start: `generation`, or (0) the newest
   * healthy one before the selected. Returns what was selected.
   */
  rollback(name: string, generation: number): string {
    const vm = this.#flakeVm(name);
    const store = this.#store(name);
    let chosen: number | undefined;
    const data = store.update((data) => {
      const target =
        generation === 0
          ? lastHealthy(data, data.selected ?? undefined, vm.flake)
          : findGeneration(data, generation);
      if (!target) {
        const kept = data.generations.map((g) => g.number).join(', ') || 'none';
        throw new UpdateRefusedError(
          'InvalidArgument',
          generation === 0 ? `${name}: no healthy generation before generation ${data.selected ?? '-'} (kept: ${kept})` : `${name}: no generation ${generation} (kept: ${kept})`,
        );
      }
      if (target.flake !== vm.flake) {
        throw new UpdateRefusedError('InvalidArgument', `${name}: generation ${target.number} was built from ${target.flake}; the config names ${vm.flake}`);
      }
      if (!gcRootAlive(store.gcRoot(target.number))) throw new UpdateRefusedError('Failed', `${name}: generation ${target.number}'s GC root is gone (collected?)`);
      data.selected = target.number;
      chosen = target.number;
    });
    const target = findGeneration(data, chosen!)!;
    const message = `${name}: generation ${target.number} (${shortRevision(target.revision)}, ${target.outcome}) selected`;
    this.options.post({ type: 'note', name, message: `rollback by hand: ${message}` });
    return message;
  }

  // ---- health windows (daemon/updates/health-windows.ts) ---------------------------------

  /** A QEMU was launched: a generation not yet healthy opens a health window. */
  onLaunched(name: string, vm: VmProcess, command: LaunchCommand): void {
    this.#windows.onLaunched(name, vm, command);
  }

  /** After the adoption of the QEMUs an earlier daemon left: open windows are finished or judged. */
  afterAdoption(process: (name: string) => VmProcess | undefined): void {
    this.#windows.afterAdoption(process);
  }

  /** The policy's `judged` action: recorded, and a failed generation's predecessor selected. */
  carryOut(action: Extract<Action, { type: 'judged' }>): void {
    this.#windows.carryOut(action);
  }

  // ---- automatic updates ---------------------------------------------------------------

  /** (Re)plans automatic updates from the config in force; call at start and after each reload. */
  schedule(): void {
    clearTimeout(this.#autoTimer);
    if (this.#closed) return;
    let next: number | null = null;
    const now = this.#now();
    for (const [name, vm] of Object.entries(this.options.config().vms)) {
      if (vm.flake === undefined || !vm.updates?.auto) continue;
      let last: number | null = null;
      try {
        last = this.#store(name).read().lastCheckAt;
      } catch {
        /* an unreadable store: the update says why */
      }
      const due = (last ?? 0) + vm.updates.everyHours * 3_600_000;
      next = next === null ? due : Math.min(next, due);
    }
    if (next === null) return;
    this.#autoTimer = setTimeout(() => this.#autoUpdate(), Math.min(Math.max(0, next - now), MAX_TIMER_MS));
    this.#autoTimer.unref();
  }

  #autoUpdate(): void {
    const now = this.#now();
    for (const [name, vm] of Object.entries(this.options.config().vms)) {
      if (vm.flake === undefined || !vm.updates?.auto || this.#builds.has(name)) continue;
      const store = this.#store(name);
      try {
        if ((store.read().lastCheckAt ?? 0) + vm.updates.everyHours * 3_600_000 > now) continue;
        store.update((data) => void (data.lastCheckAt = now));
        this.update(name, { now: false, auto: true });
      } catch (error) {
        this.options.post({ type: 'note', name, level: 'warn', message: `automatic update: ${errorMessage(error)}` });
      }
    }
    this.schedule();
  }

  close(): void {
    this.#closed = true;
    clearTimeout(this.#autoTimer);
    for (const build of this.#builds.values()) build.controller.abort();
    this.#windows.close();
  }
}
