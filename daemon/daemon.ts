/**
 * The daemon's parts put together: the policy loop in the middle; the VM
 * supervisor, the WM adapter and the config watch feeding it events and
 * carrying out its operations; the announcer telling the world what it decided.
 * The D-Bus interface (dbus-service.ts) calls the request methods below.
 */
import { Verb, VERBS, type DaemonStatus, type GenerationsReport, type VmState } from '../api/schema.js';
import { ConfigError, ConfigMissingError, readConfig } from '../config/file.js';
import { vmPaths, type RuntimeRoots } from '../config/paths.js';
import { asideImages } from './vm/hibernate.js';
import { JoinRequestError, type GuestIdentity } from '../networks/join-request.js';
import { IdentityUnavailableError, readIdentity } from './vm/identity.js';
import { Config } from '../config/schema.js';
import { compareWorkspaceNames } from '../config/workspaces.js';
import { readTail } from './vm/vm-process.js';
import type { WmClient } from '../wm-ipc/client.js';
import { announce, type Signals } from './announce.js';
import { ConfigWatch } from './config-watch.js';
import { SwitchMarks } from './diagnostics.js';
import type { Launcher } from './launch/launcher.js';
import type { Logger } from './log.js';
import { PolicyLoop } from './loop.js';
import { initialState, vmOnWorkspace, type Action, type TellAction, type VmSpec } from './policy/policy.js';
import { unhandled } from './policy/types.js';
import { buildStatus, CpuBaselines } from './status.js';
import { VmSupervisor } from './vm/supervisor.js';
import { WmAdapter } from './wm-adapter.js';
import { memorySpec } from './policy/memory.js';
import { residentByVm } from './vm/memory.js';
import { HoldKeeper } from './holds.js';
import { LogindWatch } from './host/logind.js';
import { correctGuestClock } from './host/guest-clock.js';
import { WmColors } from './wm-colors.js';
import { workspaceCommand } from './windows.js';
import { UpdateRefusedError, Updater } from './updates/updater.js';
import { BackupRunner } from './backup/runner.js';
import { backupStatusPart } from './policy/backup.js';
import type { BackupList } from '../api/backup-schema.js';
import { errorMessage } from '../shared/error-message.js';
import { RequestError } from './errors.js';
import type { MicGuard } from './sound/mic-guard.js';
import { soundServerSocket } from './launch/audio.js';
import fs from 'node:fs';
import type { MicVerb } from './policy/microphone.js';
import type { ClipDirection } from '../api/clipboard.js';
import { agentSocketOf } from './host/guest-clock.js';

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

export { RequestError } from './errors.js';

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
  /** Sound: mutes every VM's capture but the microphone holder's; started once a sound server is there. */
  #mic: MicGuard | undefined;
  /** The guard's module is being loaded (on first need: it brings execa, ~7 MiB a session without sound never pays). */
  #micLoading = false;
  #colors: WmColors | undefined;
  #wm: WmAdapter | undefined;
  #watch: ConfigWatch | undefined;
  #announcements: (TellAction | Extract<Action, { type: 'exit' }>)[] = [];
  #flushScheduled = false;
  #stopping = false;
  #exitResolve: (() => void) | undefined;
  readonly #marks = new SwitchMarks();
  readonly #cpu = new CpuBaselines();
  readonly #now: () => number;

  constructor(private readonly options: DaemonOptions) {
    // Fractional ms: a resume takes about one.
    this.#now = options.now ?? (() => performance.timeOrigin + performance.now());
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
    this.#loop = new PolicyLoop(initialState(this.#config.policy, specsOf(this.#config), this.#now()), (actions) => this.#perform(actions), this.#now);
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
    this.#followSoundServer();
  }

  /** The policy moved the microphone: the sound server follows (when there is one), and the log says so. */
  #hearing(holder: string | null, pinned: boolean): void {
    if (!this.#mic) return;
    this.#mic.hold(holder);
    this.options.logger.info(holder === null ? 'the microphone is muted for every VM' : `the microphone is with ${holder}${pinned ? ' (pinned)' : ''}`);
  }

  /** The microphone guard, once the member's sound server is there (checked again at each VM start). */
  #followSoundServer(): void {
    if (this.#mic || this.#micLoading || this.#stopping) return;
    const socket = soundServerSocket(process.env);
    if (socket === null || !fs.existsSync(socket)) return;
    this.#micLoading = true;
    void import('./sound/mic-guard.js').then(({ MicGuard }) => {
      this.#micLoading = false;
      if (this.#mic || this.#stopping) return;
      this.#startMicGuard(new MicGuard({ env: process.env, pids: () => this.#vms.pids(), log: (message, level) => (level === 'warn' ? this.options.logger.warn(message) : this.options.logger.info(message)) }), socket);
    });
  }

  #startMicGuard(mic: MicGuard, socket: string): void {
    this.#mic = mic;
    mic.start();
    mic.hold(this.#loop.state.mic.holder);
    this.options.logger.info(`sound server at ${socket}: VMs get an audio device; the microphone follows the focused workspace`);
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
    this.#mic?.close();
    const wm = this.#wm?.wm;
    // The user's own focused colours back first (a round trip), then the connection goes.
    void (this.#colors?.restore() ?? Promise.resolve()).finally(() => wm?.close());
    this.#exitResolve?.();
  }

  // ---- the policy's actions -----------------------------------------------------------

  /** Operations now, in the event's tick; what is told to the world after, in one batch. */
  #perform(actions: Action[]): void {
    for (const action of actions) {
      switch (action.type) {
        case 'microphone':
          this.#hearing(action.holder, action.pinned);
          // No sound server, no microphone to tell of (status() shows none either): no D-Bus signal per switch.
          if (this.#mic) this.#announcements.push(action);
          break;
        case 'forget':
          this.#cpu.forget(action.name);
          this.options.logger.forget(action.name);
          this.#vms.carryOut(action);
          break;
        case 'start':
        case 'resume':
        case 'pause':
        case 'powerdown':
        case 'quit':
        case 'hibernate':
        case 'restore':
        case 'shrink':
          this.#vms.carryOut(action);
          break;
        case 'judged':
          this.#updates.carryOut(action);
          break;
        case 'backup-run':
        case 'backup-cancel':
        case 'backup-restore':
          this.#backups.carryOut(action);
          break;
        case 'hold-changed':
          this.#holds.keep(action.name, action.hold);
          break;
        case 'release-sleep-lock':
          this.#logind?.releaseSleepLock();
          break;
        case 'sync-clock':
          void this.#correctClock(action.name);
          break;
        case 'update-event':
          this.#updates.remember(action);
          this.#announcements.push(action);
          break;
        case 'changed':
        case 'focus-changed':
        case 'config-changed':
        case 'notify':
        case 'log':
        case 'backup-changed':
        case 'exit':
          this.#announcements.push(action);
          break;
        default:
          unhandled(action);
      }
    }
    if (this.#announcements.length && !this.#flushScheduled) {
      this.#flushScheduled = true;
      setImmediate(() => this.#flush());
    }
  }

  #flush(): void {
    this.#flushScheduled = false;
    const batch = this.#announcements;
    this.#announcements = [];
    for (const action of batch) {
      if (action.type === 'exit') {
        this.options.logger.info('session ended and every VM is down: exiting');
        this.shutdown();
        continue;
      }
      if (action.type === 'focus-changed') void this.#colors?.showFocused(this.#colorOf(action.vm));
      announce(action, {
        logger: this.options.logger,
        signals: this.options.signals,
        notify: this.options.notify,
        onStateChanged: (name, state: VmState) => {
          if (state === 'starting' || state === 'running' || state === 'paused') this.#followSoundServer();
          // A QEMU that just came up: its capture stream is muted unless it holds the microphone.
          if (state === 'running' || state === 'paused') this.#mic?.enforce();
          if (state === 'running') this.#cpu.reset(name, this.#vms.process(name)?.pid, this.#now());
        },
      });
    }
  }

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

  /** A user verb on a VM, or on the focused workspace's VM when `name` is empty. Returns what will happen. */
  async act(verbText: string, name: string): Promise<string> {
    const parsed = Verb.safeParse(verbText);
    if (!parsed.success) throw new RequestError('InvalidArgument', `unknown verb "${verbText}" (one of ${VERBS.join(', ')})`);
    const verb = parsed.data;
    if (verb === 'next' || verb === 'prev') return this.#cycle(verb === 'next' ? 1 : -1);
    if (verb === 'clipto' || verb === 'clipfrom') return this.clipboard(verb === 'clipto' ? 'to' : 'from', name || null);
    if (verb === 'micpin' || verb === 'micunpin') return this.microphone(verb === 'micpin' ? 'pin' : 'unpin', name || null);
    const state = this.#loop.state;
    const target = name || vmOnWorkspace(state, state.focused);
    if (!target) throw new RequestError('InvalidArgument', 'the focused workspace has no VM');
    const vm = state.vms[target];
    if (!vm) throw new RequestError('NoSuchVm', `no VM named "${target}"`);
    if (verb === 'focus') {
      if (!vm.spec.workspace) throw new RequestError('InvalidArgument', `${target} is not bound to a workspace`);
      await this.#wmCommand(workspaceCommand(vm.spec.workspace));
      return `focused workspace ${vm.spec.workspace}`;
    }
    const { answer } = await this.#loop.ask({ type: 'user', verb, name: target });
    if (!answer) return `${target}: ${verb}`;
    if (!answer.ok) throw new RequestError(answer.kind, answer.message);
    return answer.message;
  }

  async #cycle(step: 1 | -1): Promise<string> {
    const state = this.#loop.state;
    const bound = Object.values(state.vms)
      .filter((vm) => vm.spec.workspace !== null && !vm.removed)
      .sort((a, b) => compareWorkspaceNames(a.spec.workspace!, b.spec.workspace!));
    if (bound.length === 0) throw new RequestError('InvalidArgument', 'no VM is bound to a workspace');
    const current = vmOnWorkspace(state, state.focused);
    const index = bound.findIndex((vm) => vm.spec.name === current);
    const next = bound[(index === -1 ? (step === 1 ? 0 : bound.length - 1) : index + step + bound.length) % bound.length]!;
    await this.#wmCommand(workspaceCommand(next.spec.workspace!));
    return `focused workspace ${next.spec.workspace}`;
  }

  async #wmCommand(command: string): Promise<void> {
    if (!this.#wm) throw new RequestError('Failed', 'not connected to the WM');
    try {
      await this.#wm.command(command);
    } catch (error) {
      throw new RequestError('Failed', errorMessage(error));
    }
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
      if (old && JSON.stringify(launchPart(old)) !== JSON.stringify(launchPart(vm))) {
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

  // ---- flake VMs' generations and updates (daemon/updates/) --------------------

  generations(name: string): GenerationsReport {
    return this.#updating(() => this.#updates.generations(name));
  }

  /** Starts an update; replies at once (progress: VmLog; outcome: UpdateEvent). */
  update(name: string, now: boolean): string {
    return this.#updating(() => this.#updates.update(name, { now, auto: false }));
  }

  /** Selects a generation (0: the healthy one before the selected) for the next start; `now`: restart into it. */
  async rollback(name: string, generation: number, now: boolean): Promise<string> {
    const selected = this.#updating(() => this.#updates.rollback(name, generation));
    const vm = this.#loop.state.vms[name];
    const up = vm !== undefined && (vm.state === 'running' || vm.state === 'paused' || vm.state === 'starting');
    if (!now || !up) return `${selected}; it boots at ${name}'s next start`;
    await this.act('restart', name);
    return `${selected}; restarting into it`;
  }

  #updating<T>(run: () => T): T {
    try {
      return run();
    } catch (error) {
      if (error instanceof UpdateRefusedError) throw new RequestError(error.kind, error.message);
      throw error;
    }
  }

  // ---- backups (daemon/backup/) --------------------

  /** A backup now; replies with what will happen (the outcome: BackupChanged). */
  async backupNow(name: string): Promise<string> {
    const { answer } = await this.#loop.ask({ type: 'backup-request', name });
    if (answer && !answer.ok) throw new RequestError(answer.kind, answer.message);
    return answer?.message ?? `${name}: backup`;
  }

  async backupList(name: string): Promise<BackupList> {
    if (!this.hasVm(name)) throw new RequestError('NoSuchVm', `no VM named "${name}"`);
    if (!this.#config.vms[name]?.backup) throw new RequestError('InvalidArgument', `${name} has no backup setting`);
    try {
      return await this.#backups.list(name);
    } catch (error) {
      throw new RequestError('Failed', errorMessage(error));
    }
  }

  /** Restores point `id` (null: the latest): the VM is stopped, restored, started again. */
  async restoreBackup(name: string, id: string | null): Promise<string> {
    const { answer } = await this.#loop.ask({ type: 'restore-request', name, id });
    if (answer && !answer.ok) throw new RequestError(answer.kind, answer.message);
    return answer?.message ?? `${name}: restore`;
  }

  // ---- members ------------------------------------------------------------------

  /** The VM's published identity (daemon/vm/identity.ts), for a join request. */
  async identity(name: string): Promise<GuestIdentity> {
    if (!this.hasVm(name)) throw new RequestError('NoSuchVm', `no VM named "${name}"`);
    try {
      return await readIdentity(name, this.#vms.process(name));
    } catch (error) {
      if (error instanceof IdentityUnavailableError || error instanceof JoinRequestError) throw new RequestError('Failed', error.message);
      throw error;
    }
  }

  // ---- sound ------------------------------------------------------------------

  /** `hiboss mic pin [VM]` / `unpin`: replies with what now hears the member. */
  async microphone(verb: MicVerb, name: string | null): Promise<string> {
    const { answer } = await this.#loop.ask({ type: 'mic', verb, name });
    if (answer && !answer.ok) throw new RequestError(answer.kind, answer.message);
    return answer?.message ?? `microphone ${verb}`;
  }

  /**
   * Clipboard by hand: the host's text into the VM's clipboard (`to`) or back
   * (`from`), through the guest agent; told in a notification naming the
   * network, refusals too (a key binding has no terminal to answer in).
   */
  async clipboard(direction: ClipDirection, name: string | null): Promise<string> {
    const state = this.#loop.state;
    const target = name ?? vmOnWorkspace(state, state.focused);
    // Loaded on first use: the host side runs wl-copy/xclip through execa (~7 MiB the daemon need not hold).
    const { transferClipboard } = await import('./clipboard/transfer.js');
    const outcome = await transferClipboard({
      direction,
      target,
      state: target === null ? undefined : state.vms[target]?.state,
      clipboard: target === null ? undefined : this.#config.vms[target]?.clipboard,
      wm: this.#wm?.kind,
      agentSocket: target === null ? null : agentSocketOf(vmPaths(this.options.roots, target)),
      env: process.env,
    });
    if (outcome.ok) {
      this.options.notify(outcome.summary, outcome.body, 'low');
      this.options.logger.info(`${outcome.summary}: ${outcome.body}`);
      return outcome.body;
    }
    this.options.notify(outcome.summary, outcome.message, 'normal');
    this.options.logger.warn(`${outcome.summary}: ${outcome.message}`);
    throw new RequestError(outcome.kind, outcome.message);
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
    if (!this.#mic) delete status.microphone;
    const { backups, settings } = this.#loop.state;
    for (const vm of status.vms) vm.backup = this.#backups.status(vm.name, backupStatusPart(backups.vms[vm.name], settings, Date.now()));
    for (const vm of status.vms) vm.asideImages = asideImages(vmPaths(this.options.roots, vm.name));
    return status;
  }

  vmLog(name: string, lines: number): string[] {
    if (!this.hasVm(name)) throw new RequestError('NoSuchVm', `no VM named "${name}"`);
    if (lines <= 0) return [];
    const text = readTail(vmPaths(this.options.roots, name).logFile, Math.min(lines, 5000) * 200);
    return text.split('\n').filter((l) => l !== '').slice(-lines);
  }

  hasVm(name: string): boolean {
    return Object.hasOwn(this.#loop.state.vms, name);
  }

  diagnostics(): Diagnostics {
    return { eventToWriteMs: this.#marks.intervals(), writeCallMs: this.#marks.writeCalls(), memory: process.memoryUsage() };
  }
}

function specsOf(config: Config): VmSpec[] {
  return Object.entries(config.vms).map(([name, vm]) => ({
    name,
    workspace: vm.workspace ?? null,
    restart: vm.restart,
    whenHidden: vm.whenHidden ?? 'pause',
    ...memorySpec(vm),
    ...(vm.backup ? { backup: { everyHours: vm.backup.everyHours, target: vm.backup.target } } : {}),
    ...(vm.audio === false ? { audio: false } : {}),
  }));
}

function launchPart(vm: Config['vms'][string]): unknown {
  return { qemu: vm.qemu, flake: vm.flake };
}

