/**
 * The daemon's parts put together: the policy loop in the middle; the VM
 * supervisor, the WM adapter and the config watch feeding it events and
 * carrying out its operations; the announcer telling the world what it decided.
 * The D-Bus interface (dbus-service.ts) calls the request methods below.
 */
import type { DaemonStatus } from '../api/schema.js';
import { ConfigError, ConfigMissingError, readConfig } from '../config/file.js';
import { vmPaths, type RuntimeRoots } from '../config/paths.js';
import { asideImages } from './vm/hibernate.js';
import { Config } from '../config/schema.js';
import type { WmClient } from '../wm-ipc/client.js';
import type { Signals } from './announce.js';
import { Dispatcher } from './dispatch.js';
import { ConfigWatch } from './config-watch.js';
import { SwitchMarks } from './diagnostics.js';
import type { Launcher } from './launch/launcher.js';
import type { Logger } from './log.js';
import { PolicyLoop } from './loop.js';
import { initialState, vmOnWorkspace } from './policy/policy.js';
import { buildStatus, CpuBaselines } from './status.js';
import { VmSupervisor } from './vm/supervisor.js';
import { WmAdapter } from './wm-adapter.js';
import { residentByVm } from './vm/memory.js';
import { HoldKeeper } from './holds.js';
import { LogindWatch } from './host/logind.js';
import { correctGuestClock } from './host/guest-clock.js';
import { WmColors } from './wm-colors.js';
import { Updater } from './updates/updater.js';
import { BackupRunner } from './backup/runner.js';
import { backupStatusPart } from './policy/backup.js';
import { errorMessage } from '../shared/error-message.js';
import { Desktop } from './desktop.js';
import { VmRequests } from './vm-requests.js';
import { UserVerbs } from './user-verbs.js';
import { launchSettingsChanged, specsOf } from './vm-specs.js';
import type { MicVerb } from './policy/microphone.js';
import type { ClipDirection } from '../api/clipboard.js';

/** How often the resident memory of the VMs is told to the policy while a memory budget is set. */
const MEMORY_SAMPLE_MS = 1000;

export interface DaemonOptions {
  configPath: string;
  roots: RuntimeRoots;
  logger: Logger;
  signals: () => Signals | undefined;
  notify: (summary: string, body: string, urgency: 'low' | 'normal' | 'critical') => void;
  launchers?: { qemu?: Launcher; flake?: Launcher };
  now?: () => number;
}


export interface Diagnostics {
  eventToWriteMs: number[];
  writeCallMs: number[];
  memory: NodeJS.MemoryUsage;
}

export class Daemon {
  #config!: Config;
  #loop!: PolicyLoop;
  #vms!: VmSupervisor;
  #memorySampler: NodeJS.Timeout | undefined;
  #updates!: Updater;
  #backups!: BackupRunner;
  #flakeBuilder: import('./launch/flake.js').FlakeLauncher | undefined;
  #holds!: HoldKeeper;
  #logind: LogindWatch | undefined;
  /** Sound and clipboard (desktop.ts). */
  #desktop!: Desktop;
  /** The user's verbs (user-verbs.ts). */
  #verbs!: UserVerbs;
  /** Updates, backups, identity and log of one VM (vm-requests.ts): the D-Bus interface calls it. */
  requests!: VmRequests;
  #colors: WmColors | undefined;
  #wm: WmAdapter | undefined;
  #watch: ConfigWatch | undefined;
  #stopping = false;
  #exitResolve: (() => void) | undefined;
  readonly #marks = new SwitchMarks();
  readonly #cpu = new CpuBaselines();
  readonly #dispatch: Dispatcher;
  readonly #now: () => number;

  constructor(private readonly options: DaemonOptions) {
    // Fractional ms: a resume takes about one.
    this.#now = options.now ?? (() => performance.timeOrigin + performance.now());
    this.#dispatch = new Dispatcher({
      logger: options.logger,
      signals: options.signals,
      notify: options.notify,
      desktop: () => this.#desktop,
      vms: () => this.#vms,
      updates: () => this.#updates,
      backups: () => this.#backups,
      holds: () => this.#holds,
      logind: () => this.#logind,
      cpu: this.#cpu,
      syncClock: (name) => void this.#correctClock(name),
      focusChanged: (vm) => void this.#colors?.showFocused(this.#colorOf(vm)),
      exit: () => this.shutdown(),
      now: this.#now,
    });
  }

  /** The config file this daemon reads (its --config): clients that edit it ask for it over D-Bus. */
  get configPath(): string {
    return this.options.configPath;
  }

  /** Loads the config and adopts running VMs: after this, status() tells the truth. */
  async init(): Promise<void> {
    let problems: string[] = [];
    try {
      this.#config = readConfig(this.options.configPath);
    } catch (error) {
      problems = error instanceof ConfigError ? error.problems : [errorMessage(error)];
      this.#config = Config.parse({});
    }
    this.#loop = new PolicyLoop(initialState(this.#config.policy, specsOf(this.#config), this.#now()), (actions) => this.#dispatch.perform(actions), this.#now);
    if (problems.length) {
      this.#loop.post({ type: 'config-refused', problems });
      this.#loop.post({ type: 'note', name: null, level: 'warn', message: 'starting with no VMs until the config is fixed' });
    }
    this.#vms = new VmSupervisor({
      roots: this.options.roots,
      post: (event) => this.#loop.post(event),
      config: () => this.#config,
      launchers: this.options.launchers,
      onRunWritten: (callStartedAt) => this.#marks.commandWritten(callStartedAt),
      onLaunched: (name, vm, command) => this.#updates.onLaunched(name, vm, command),
    });
    this.#updates = new Updater({
      roots: this.options.roots,
      config: () => this.#config,
      post: (event) => this.#loop.post(event),
      flakeLauncher: async () => {
        const given = this.options.launchers?.flake;
        const { FlakeLauncher } = await import('./launch/flake.js');
        return given instanceof FlakeLauncher ? given : (this.#flakeBuilder ??= new FlakeLauncher());
      },
      now: () => Date.now(),
    });
    this.#holds = new HoldKeeper({
      roots: this.options.roots,
      post: (event) => this.#loop.post(event),
      pidOf: (name) => this.#vms.pids().get(name) ?? null,
      hibernated: (name) => this.#loop.state.vms[name]?.state === 'hibernated',
      now: this.#now,
    });
    this.#backups = new BackupRunner({
      roots: this.options.roots,
      config: () => this.#config,
      post: (event) => this.#loop.post(event),
      process: (name) => this.#vms.process(name),
      now: () => Date.now(),
    });
    // Before adoption: the announcements of adopted VMs reach the desktop part.
    this.#desktop = new Desktop({
      roots: this.options.roots,
      logger: this.options.logger,
      notify: this.options.notify,
      loop: () => this.#loop,
      config: () => this.#config,
      pids: () => this.#vms.pids(),
      wm: () => this.#wm?.kind,
      stopping: () => this.#stopping,
    });
    this.#verbs = new UserVerbs({ loop: () => this.#loop, desktop: () => this.#desktop, wm: () => this.#wm });
    this.requests = new VmRequests({
      roots: this.options.roots,
      loop: () => this.#loop,
      config: () => this.#config,
      vms: () => this.#vms,
      updates: () => this.#updates,
      backups: () => this.#backups,
      act: (verb, name) => this.act(verb, name),
    });
    await this.#vms.adoptAll();
    // Backups: what a daemon that died mid-backup left is settled before any new one.
    await this.#backups.recover();
    this.#backups.load();
    // Memory: with a budget, the policy hears what every QEMU holds, each second.
    this.#memorySampler = setInterval(() => {
      if (this.#config.policy.memoryBudgetMiB !== null) this.#loop.post({ type: 'memory', rssBytes: residentByVm(this.#vms.pids()) });
    }, MEMORY_SAMPLE_MS).unref();
    this.#updates.afterAdoption((name) => this.#vms.process(name));
    this.#updates.schedule();
    // Before the WM is attached: no focus can undo a hold that is about to be restored.
    this.#holds.restore(Object.keys(this.#config.vms));
    this.#watch = new ConfigWatch(this.options.configPath, () => void this.reload(), (message) => this.options.logger.warn(message));
    this.#watch.start();
    // Sleep and lock: followed in the background, never holding up the start.
    this.#logind = new LogindWatch({
      post: (event) => this.#loop.post(event),
      note: (message, level) => this.#loop.post({ type: 'note', name: null, message, level }),
    });
    void this.#logind.start();
    this.#desktop.followSoundServer();
  }

  /** Follows the WM until the session ends or shutdown(); resolves when the daemon should exit. */
  async run(wm: WmClient): Promise<void> {
    if (this.#stopping) return wm.close();
    const exited = new Promise<void>((resolve) => {
      this.#exitResolve = resolve;
    });
    this.#wm = new WmAdapter({
      wm,
      post: (event) => this.#loop.post(event),
      act: (verb, name) => this.act(verb, name),
      windows: () => {
        const pids = this.#vms.pids();
        return Object.values(this.#loop.state.vms).map((vm) => ({ name: vm.spec.name, pid: pids.get(vm.spec.name) ?? null, workspace: vm.spec.workspace, color: this.#colors?.markup ? this.#colorOf(vm.spec.name) : null }));
      },
      marks: this.#marks,
      stopping: () => this.#stopping,
    });
    this.options.logger.info(await this.#wm.attach());
    // Network colours: sway's focused frame follows the focused workspace's VM.
    this.#colors = new WmColors(wm, this.#wm.kind, (message) => this.options.logger.warn(message));
    await this.#colors.init();
    // A window placed while the WM's config was being read got a plain label.
    if (this.#colors.markup) this.#recolor();
    else if (Object.values(this.#config.vms).some((vm) => vm.color)) {
      this.options.logger.info(`VM windows get plain labels: ${this.#wm.kind} renders markup in titles only with a Pango font (add "font pango:monospace 10" to its config for labels in the networks' colours)`);
    }
    void this.#colors.showFocused(this.#colorOf(vmOnWorkspace(this.#loop.state, this.#loop.state.focused)));
    return exited;
  }

  /** The daemon stops (SIGTERM): VMs keep running as they are, for the next daemon to adopt. */
  shutdown(): void {
    this.#stopping = true;
    clearInterval(this.#memorySampler);
    this.#loop.stop();
    this.#watch?.close();
    this.#vms.detachAll();
    this.#updates?.close();
    this.#backups?.shutdown();
    this.#logind?.close();
    this.#desktop?.close();
    const wm = this.#wm?.wm;
    // The user's own focused colours back first (a round trip), then the connection goes.
    void (this.#colors?.restore() ?? Promise.resolve()).finally(() => wm?.close());
    this.#exitResolve?.();
  }

  // ---- the policy's actions -----------------------------------------------------------

  /** A VM's colour (#rrggbb), or null for none (or no VM). */
  #colorOf(name: string | null | undefined): string | null {
    return (name && this.#config.vms[name]?.color) || null;
  }

  /** Colours changed in the config: windows relabelled, the focused frame redone. */
  #recolor(): void {
    const state = this.#loop.state;
    const pids = this.#vms.pids();
    const vms = Object.values(state.vms).map((vm) => ({ name: vm.spec.name, pid: pids.get(vm.spec.name) ?? null, workspace: vm.spec.workspace, color: this.#colorOf(vm.spec.name) }));
    void this.#colors?.relabel(vms);
    void this.#colors?.showFocused(this.#colorOf(vmOnWorkspace(state, state.focused)));
  }

  async #correctClock(name: string): Promise<void> {
    const outcome = await correctGuestClock(vmPaths(this.options.roots, name), this.#now);
    this.#loop.post({ type: 'note', name, message: outcome.message, level: outcome.ok ? 'info' : 'warn' });
  }

  // ---- requests (D-Bus, key bindings) --------------------------------------------------

  /** A user verb on a VM, or on the focused workspace's VM when `name` is empty (user-verbs.ts). Returns what will happen. */
  act(verbText: string, name: string): Promise<string> {
    return this.#verbs.act(verbText, name);
  }

  /**
   * Re-reads the config file; returns its problems (empty when applied). Only a
   * file that exists and is valid changes what runs: a file that vanished keeps
   * the last good config in force.
   */
  reload(): string[] {
    let config: Config;
    try {
      config = readConfig(this.options.configPath, { missing: 'error' });
    } catch (error) {
      const problems =
        error instanceof ConfigMissingError
          ? [`${this.options.configPath}: the file is gone; the last good config (${Object.keys(this.#config.vms).length} VMs) stays in force until it is back`]
          : error instanceof ConfigError
            ? error.problems
            : [errorMessage(error)];
      this.#loop.post({ type: 'config-refused', problems });
      return problems;
    }
    const before = this.#config;
    this.#config = config;
    for (const [name, vm] of Object.entries(config.vms)) {
      const old = before.vms[name];
      if (old && launchSettingsChanged(old, vm)) {
        this.#loop.post({ type: 'note', name, message: 'launch settings changed; they apply at its next start' });
      }
    }
    this.#loop.post({ type: 'config', vms: specsOf(config), settings: config.policy });
    // Memory: a VM added back to the config may have been left hibernated: it is not booted afresh.
    this.#vms.findHibernated(Object.keys(config.vms).filter((name) => !before.vms[name]));
    if (Object.keys(config.vms).some((name) => before.vms[name]?.color !== config.vms[name]?.color)) this.#recolor();
    this.#updates.schedule();
    this.#backups.load();
    return [];
  }

  // ---- sound and clipboard (desktop.ts) ---------------------------------------------

  microphone(verb: MicVerb, name: string | null): Promise<string> {
    return this.#desktop.microphone(verb, name);
  }

  clipboard(direction: ClipDirection, name: string | null): Promise<string> {
    return this.#desktop.clipboard(direction, name);
  }

  // ---- what clients read ----------------------------------------------------------------

  status(): DaemonStatus {
    const status = buildStatus({
      policy: this.#loop.state,
      config: this.#config,
      processes: (name) => this.#vms.process(name),
      cpu: this.#cpu,
      wm: this.#wm?.kind ?? 'none',
      now: this.#now(),
    });
    for (const vm of status.vms) if (vm.kind === 'flake') Object.assign(vm, this.#updates.summary(vm.name));
    // No sound server, no audio devices: nobody to hear, nothing to show.
    if (!this.#desktop.hasSound) delete status.microphone;
    const { backups, settings } = this.#loop.state;
    for (const vm of status.vms) vm.backup = this.#backups.status(vm.name, backupStatusPart(backups.vms[vm.name], settings, Date.now()));
    for (const vm of status.vms) vm.asideImages = asideImages(vmPaths(this.options.roots, vm.name));
    return status;
  }

  hasVm(name: string): boolean {
    return Object.hasOwn(this.#loop.state.vms, name);
  }

  diagnostics(): Diagnostics {
    return { eventToWriteMs: this.#marks.intervals(), writeCallMs: this.#marks.writeCalls(), memory: process.memoryUsage() };
  }
}
