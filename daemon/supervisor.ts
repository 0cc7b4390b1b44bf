/**
 * The I/O around the pure policy: it turns WM events, QMP events, config edits
 * and D-Bus calls into policy events, and carries out the policy's actions on
 * real QEMUs. It decides nothing itself.
 */
import fs from 'node:fs';
import path from 'node:path';
import { Verb, VERBS, type DaemonStatus, type VmState, type VmStatus } from '../api/schema.js';
import { WmClient } from '../wm-ipc/client.js';
import type { Node, Workspace, WorkspaceNode } from '../wm-ipc/protocol.js';
import { ConfigError, readConfig } from '../config/file.js';
import { Config, type VmConfig } from '../config/schema.js';
import { FlakeLauncher } from './launch/flake.js';
import type { Launcher, VmPaths } from './launch/launcher.js';
import { QemuLauncher } from './launch/qemu.js';
import type { Logger } from './log.js';
import {
  decide,
  initialState,
  vmOnWorkspace,
  type Action,
  type PolicyEvent,
  type PolicySettings,
  type PolicyState,
  type VmSpec,
  type WorkspaceRef,
} from './policy/policy.js';
import { ensureVmDirs, existingVmDirs, vmPaths, type RuntimeRoots } from '../config/paths.js';
import { readTail, VmProcess } from './vm/vm-process.js';
import { placeWindowCommands, vmOfWindow, workspaceCommand } from './windows.js';

export interface SupervisorEvents {
  changed(name: string, state: VmState, reason: string): void;
  focus(workspace: string, vm: string): void;
  config(accepted: boolean, problems: string[]): void;
  notify(summary: string, body: string, urgency: 'low' | 'normal' | 'critical'): void;
}

export interface SupervisorOptions {
  configPath: string;
  roots: RuntimeRoots;
  logger: Logger;
  events: SupervisorEvents;
  launchers?: { qemu: Launcher; flake: Launcher };
  now?: () => number;
}

interface Timing {
  startActionAt: number | null;
  lastColdBootMs: number | null;
  lastResumeMs: number | null;
  since: number;
  restarts: number;
  cpu: { at: number; ticks: number } | null;
  cpuPercent: number | null;
}

export class Supervisor {
  #config!: Config;
  #policy!: PolicyState;
  #processes = new Map<string, VmProcess>();
  #timings = new Map<string, Timing>();
  #wm: WmClient | undefined;
  #wmKind: 'sway' | 'i3' | 'none' = 'none';
  #wake: NodeJS.Timeout | undefined;
  #configProblems: string[] = [];
  #watcher: fs.FSWatcher | undefined;
  #exitResolve: (() => void) | undefined;
  #abort = new AbortController();
  #launchAborts = new Map<string, AbortController>();
  readonly #now: () => number;
  readonly #launchers: { qemu: Launcher; flake: Launcher };

  constructor(private readonly options: SupervisorOptions) {
    this.#now = options.now ?? Date.now;
    this.#launchers = options.launchers ?? { qemu: new QemuLauncher(), flake: new FlakeLauncher() };
  }

  get log(): Logger {
    return this.options.logger;
  }

  /** Loads the config and adopts running VMs: after this, status() tells the truth. */
  async init(): Promise<void> {
    this.#config = this.#loadInitialConfig();
    this.#policy = initialState(settingsOf(this.#config), specsOf(this.#config), this.#now());
    for (const name of Object.keys(this.#config.vms)) this.#timings.set(name, newTiming(this.#now()));
    await this.#adoptAll();
    this.#watchConfig();
  }

  /** Follows the WM until the session ends or shutdown(); resolves when the daemon should exit. */
  async run(wm: WmClient): Promise<void> {
    this.#wm = wm;
    await this.#attachWm(wm);
    return new Promise((resolve) => {
      this.#exitResolve = resolve;
    });
  }

  /** The daemon stops (SIGTERM): VMs keep running as they are, for the next daemon to adopt. */
  shutdown(): void {
    this.#abort.abort();
    clearTimeout(this.#wake);
    this.#watcher?.close();
    for (const controller of this.#launchAborts.values()) controller.abort();
    for (const vm of this.#processes.values()) vm.detach();
    this.#wm?.close();
    this.#exitResolve?.();
  }

  // ---- the policy loop ---------------------------------------------------------------

  dispatch(event: PolicyEvent): void {
    const decision = decide(this.#policy, event, this.#now());
    this.#policy = decision.state;
    for (const action of decision.actions) this.#carryOut(action);
    clearTimeout(this.#wake);
    if (decision.wakeAt !== null && !this.#abort.signal.aborted) {
      this.#wake = setTimeout(() => this.dispatch({ type: 'tick' }), Math.max(0, decision.wakeAt - this.#now()));
    }
  }

  #carryOut(action: Action): void {
    switch (action.type) {
      case 'start':
        void this.#start(action.name);
        return;
      case 'resume':
        return this.#operate(action.name, 'resume', (vm) => {
          const t0 = performance.now();
          return vm.resume().then(() => {
            this.#timing(action.name).lastResumeMs = performance.now() - t0;
          });
        });
      case 'pause':
        return this.#operate(action.name, 'pause', (vm) => vm.pause());
      case 'powerdown':
        this.log.vm(action.name, 'ACPI powerdown');
        return this.#operate(action.name, 'stop', (vm) => vm.powerdown());
      case 'quit':
        this.log.vm(action.name, 'did not power down in time: quit');
        return this.#operate(action.name, 'stop', (vm) => vm.quit());
      case 'changed': {
        const timing = this.#timing(action.name);
        timing.since = this.#now();
        if (action.state === 'running' && timing.startActionAt !== null) {
          timing.lastColdBootMs = this.#now() - timing.startActionAt;
          timing.startActionAt = null;
          if (timing.lastColdBootMs > this.#config.policy.slowStartMs) {
            this.options.events.notify(`hiboss: ${action.name} took ${Math.round(timing.lastColdBootMs / 1000)} s to start`, 'a slow cold start (a flake build?)', 'low');
          }
        }
        this.log.vm(action.name, `${action.state}: ${action.reason}`);
        this.options.events.changed(action.name, action.state, action.reason);
        return;
      }
      case 'notify':
        this.options.events.notify(action.summary, action.body, action.urgency);
        return;
      case 'forget':
        this.#processes.get(action.name)?.detach();
        this.#processes.delete(action.name);
        this.#timings.delete(action.name);
        this.log.info(`${action.name}: removed`);
        return;
      case 'exit':
        this.log.info('session ended and every VM is down: exiting');
        this.shutdown();
        return;
    }
  }

  #timing(name: string): Timing {
    let timing = this.#timings.get(name);
    if (!timing) this.#timings.set(name, (timing = newTiming(this.#now())));
    return timing;
  }

  #operate(name: string, op: 'pause' | 'resume' | 'stop', run: (vm: VmProcess) => Promise<unknown>): void {
    const vm = this.#processes.get(name);
    if (!vm) {
      this.dispatch({ type: 'op-failed', name, op, reason: 'no QEMU process' });
      return;
    }
    run(vm).catch((error: Error) => {
      if (vm.ended) return; // its exit is reported on its own
      this.log.warn(`${name}: ${op} failed: ${error.message}`);
      this.dispatch({ type: 'op-failed', name, op, reason: error.message });
    });
  }

  async #start(name: string): Promise<void> {
    const vmConfig = this.#config.vms[name];
    if (!vmConfig) return this.dispatch({ type: 'op-failed', name, op: 'start', reason: 'not in the config' });
    const timing = this.#timing(name);
    timing.startActionAt = this.#now();
    const controller = new AbortController();
    this.#launchAborts.set(name, controller);
    try {
      const paths = vmPaths(this.options.roots, name);
      ensureVmDirs(this.options.roots, paths);
      const launcher = vmConfig.flake !== undefined ? this.#launchers.flake : this.#launchers.qemu;
      const command = await launcher.prepare({
        name,
        vm: vmConfig,
        paths,
        progress: (line) => this.log.vm(name, line),
        signal: controller.signal,
      });
      const vm = await VmProcess.launch(command, paths);
      if (this.#abort.signal.aborted) return vm.detach();
      this.#adopted(name, vm);
      const state = await vm.status();
      this.dispatch({ type: 'observed', name, state, reason: state === 'running' ? 'QEMU is up' : 'QEMU is up, paused' });
    } catch (error) {
      if (this.#abort.signal.aborted) return;
      const reason = (error as Error).message;
      this.dispatch({ type: 'op-failed', name, op: 'start', reason });
    } finally {
      this.#launchAborts.delete(name);
    }
  }

  /** Wires a QEMU's events into the policy. */
  #adopted(name: string, vm: VmProcess): void {
    this.#processes.set(name, vm);
    vm.on('paused', () => this.dispatch({ type: 'observed', name, state: 'paused', reason: this.#pauseReason(name) }));
    vm.on('resumed', () => this.dispatch({ type: 'observed', name, state: 'running', reason: this.#runReason(name) }));
    vm.once('exit', (end) => {
      if (this.#processes.get(name) === vm) this.#processes.delete(name);
      if (end.kind === 'failed') this.#timing(name).restarts++;
      this.dispatch({ type: 'observed', name, state: end.kind, reason: end.reason });
    });
  }

  #pauseReason(name: string): string {
    const vm = this.#policy.vms[name];
    if (vm?.hold === 'paused') return 'paused by the user';
    if (vm?.op === 'pause') return 'workspace hidden';
    return 'paused';
  }

  #runReason(name: string): string {
    const vm = this.#policy.vms[name];
    if (vm?.runRequested) return 'resumed by the user';
    if (vm?.spec.workspace && this.#policy.focused && vmOnWorkspace(this.#policy, this.#policy.focused) === name) {
      return `workspace ${this.#policy.focused.name} focused`;
    }
    return 'running';
  }

  // ---- adoption ------------------------------------------------------------------------

  async #adoptAll(): Promise<void> {
    for (const name of existingVmDirs(this.options.roots)) {
      let paths: VmPaths;
      try {
        paths = vmPaths(this.options.roots, name);
      } catch {
        continue;
      }
      let vm: VmProcess | undefined;
      try {
        vm = await VmProcess.adopt(paths);
      } catch (error) {
        this.log.warn(`${name}: found a QEMU but cannot talk to it: ${(error as Error).message}`);
        continue;
      }
      if (!vm) continue;
      if (!this.#config.vms[name]) {
        // Not ours to manage any more (removed while we were away): leave it be.
        this.log.warn(`${name}: a QEMU (pid ${vm.pid}) runs for a VM that is not in the config; leaving it alone`);
        vm.detach();
        continue;
      }
      this.#adopted(name, vm);
      const state = await vm.status();
      this.log.vm(name, `adopted QEMU pid ${vm.pid} (${state})`);
      // Seen as it really is; the policy goes on from there.
      this.dispatch({ type: 'observed', name, state, reason: `adopted (${state})` });
    }
  }

  // ---- the window manager ---------------------------------------------------------------

  async #attachWm(wm: WmClient): Promise<void> {
    const version = await wm.getVersion();
    this.#wmKind = (version as { variant?: string }).variant === 'sway' || /sway/.test(version.human_readable) ? 'sway' : 'i3';
    this.log.info(`connected to ${this.#wmKind} ${version.human_readable} at ${wm.socketPath}`);
    wm.on('workspace', (event) => {
      if (event.change === 'focus' && event.current) {
        this.dispatch({ type: 'focus', workspace: refOf(event.current) });
        const vm = vmOnWorkspace(this.#policy, refOf(event.current));
        this.options.events.focus(event.current.name, vm ?? '');
      }
      void this.#refreshWorkspaces();
    });
    wm.on('output', () => void this.#refreshWorkspaces());
    wm.on('window', (event) => {
      if (event.change === 'new') void this.#placeWindow(event.container);
    });
    wm.on('binding', (event) => {
      const match = /^nop hiboss ([a-z]+)(?: ([A-Za-z0-9_-]{1,32}))?\s*$/.exec(event.binding.command.trim());
      if (!match) return;
      void this.act(match[1]!, match[2] ?? '').then(
        (done) => this.log.info(`key ${event.binding.symbol ?? ''}: ${done}`),
        (error: Error) => this.log.warn(`key binding "${event.binding.command}": ${error.message}`),
      );
    });
    wm.on('disconnected', (error) => this.log.warn(`lost the WM: ${error.message}; reconnecting`));
    wm.on('reconnected', () => {
      this.log.info('reconnected to the WM');
      void this.#refreshWorkspaces();
    });
    wm.on('protocol-error', (error) => this.log.warn(error.message));
    wm.on('end', ({ reason }) => {
      if (this.#abort.signal.aborted) return;
      this.log.info(`the WM session ended (${reason}): powering VMs off`);
      this.dispatch({ type: 'session-end' });
    });
    // sway 1.7 refuses `output` events; its output changes come as workspace events.
    await wm.subscribe(this.#wmKind === 'i3' ? ['workspace', 'output', 'window', 'binding'] : ['workspace', 'window', 'binding']);
    await this.#refreshWorkspaces();
  }

  async #refreshWorkspaces(): Promise<void> {
    if (!this.#wm || this.#wm.ended) return;
    let workspaces: Workspace[];
    try {
      workspaces = await this.#wm.getWorkspaces();
    } catch (error) {
      this.log.warn(`cannot list workspaces: ${(error as Error).message}`);
      return;
    }
    const focused = workspaces.find((w) => w.focused);
    this.dispatch({
      type: 'workspaces',
      focused: focused ? refOf(focused) : null,
      visible: workspaces.filter((w) => w.visible).map(refOf),
    });
  }

  async #placeWindow(container: Node): Promise<void> {
    const infos = Object.values(this.#policy.vms).map((vm) => ({
      name: vm.spec.name,
      pid: this.#processes.get(vm.spec.name)?.pid ?? null,
      workspace: vm.spec.workspace,
    }));
    const vm = vmOfWindow(container, infos);
    if (!vm || !this.#wm) return;
    try {
      await this.#wm.command(placeWindowCommands(container, vm));
      this.log.vm(vm.name, `window ${container.id} placed on workspace ${vm.workspace ?? '(none)'}`);
    } catch (error) {
      this.log.warn(`${vm.name}: cannot place window: ${(error as Error).message}`);
    }
  }

  // ---- requests from D-Bus and key bindings ------------------------------------------------

  /** A user verb on a VM, or on the focused workspace's VM when `name` is empty. Returns what was done. */
  async act(verbText: string, name: string): Promise<string> {
    const parsed = Verb.safeParse(verbText);
    if (!parsed.success) throw new RequestError('InvalidArgument', `unknown verb "${verbText}" (one of ${VERBS.join(', ')})`);
    const verb = parsed.data;
    if (verb === 'next' || verb === 'prev') return this.#cycle(verb === 'next' ? 1 : -1);
    const target = name || vmOnWorkspace(this.#policy, this.#policy.focused);
    if (!target) throw new RequestError('InvalidArgument', 'the focused workspace has no VM');
    const vm = this.#policy.vms[target];
    if (!vm) throw new RequestError('NoSuchVm', `no VM named "${target}"`);
    if (verb === 'focus') {
      if (!vm.spec.workspace) throw new RequestError('InvalidArgument', `${target} is not bound to a workspace`);
      await this.#wmCommand(workspaceCommand(vm.spec.workspace));
      return `focused workspace ${vm.spec.workspace}`;
    }
    this.log.vm(target, `user: ${verb}`);
    this.dispatch({ type: 'user', verb, name: target });
    const after = this.#policy.vms[target];
    return `${target}: ${verb} (${after?.state ?? 'gone'})`;
  }

  async #cycle(step: 1 | -1): Promise<string> {
    const bound = Object.values(this.#policy.vms)
      .filter((vm) => vm.spec.workspace !== null && !vm.removed)
      .sort((a, b) => compareWorkspaces(a.spec.workspace!, b.spec.workspace!));
    if (bound.length === 0) throw new RequestError('InvalidArgument', 'no VM is bound to a workspace');
    const current = vmOnWorkspace(this.#policy, this.#policy.focused);
    const index = bound.findIndex((vm) => vm.spec.name === current);
    const next = bound[(index === -1 ? (step === 1 ? 0 : bound.length - 1) : index + step + bound.length) % bound.length]!;
    await this.#wmCommand(workspaceCommand(next.spec.workspace!));
    return `focused workspace ${next.spec.workspace}`;
  }

  async #wmCommand(command: string): Promise<void> {
    if (!this.#wm || this.#wm.ended) throw new RequestError('Failed', 'not connected to the WM');
    await this.#wm.command(command);
  }

  /** Re-reads the config file; returns its problems (empty when applied). */
  reload(): string[] {
    let config: Config;
    try {
      config = readConfig(this.options.configPath);
    } catch (error) {
      const problems = error instanceof ConfigError ? error.problems : [(error as Error).message];
      if (problems.join('\n') !== this.#configProblems.join('\n')) {
        this.#configProblems = problems;
        for (const problem of problems) this.log.warn(`config refused: ${problem}`);
        this.options.events.config(false, problems);
        this.options.events.notify('hiboss: config refused', problems[0] ?? '', 'normal');
      }
      return problems;
    }
    const changed = JSON.stringify(config) !== JSON.stringify(this.#config) || this.#configProblems.length > 0;
    this.#configProblems = [];
    if (!changed) return [];
    const before = this.#config;
    this.#config = config;
    for (const [name, vm] of Object.entries(config.vms)) {
      const old = before.vms[name];
      if (!old) this.log.info(`config: added ${name}`);
      else if (JSON.stringify(launchPart(old)) !== JSON.stringify(launchPart(vm))) this.log.info(`config: ${name} changed; applies at its next start`);
    }
    for (const name of Object.keys(before.vms)) if (!config.vms[name]) this.log.info(`config: removed ${name}`);
    this.options.events.config(true, []);
    this.dispatch({ type: 'config', vms: specsOf(config), settings: settingsOf(config) });
    return [];
  }

  #loadInitialConfig(): Config {
    try {
      return readConfig(this.options.configPath);
    } catch (error) {
      this.#configProblems = error instanceof ConfigError ? error.problems : [(error as Error).message];
      for (const problem of this.#configProblems) this.log.warn(`config refused: ${problem}`);
      this.log.warn('starting with no VMs until the config is fixed');
      return Config.parse({});
    }
  }

  /** Watches the config's directory: editors replace the file by rename, which a watch on the file would miss. */
  #watchConfig(): void {
    const dir = path.dirname(this.options.configPath);
    const base = path.basename(this.options.configPath);
    try {
      fs.mkdirSync(dir, { recursive: true });
      let pending: NodeJS.Timeout | undefined;
      this.#watcher = fs.watch(dir, (_event, file) => {
        if (file !== null && file !== base) return;
        // One save is several events (write, rename): read once they settle.
        clearTimeout(pending);
        pending = setTimeout(() => this.reload(), 50);
      });
    } catch (error) {
      this.log.warn(`cannot watch ${dir}: ${(error as Error).message}; use hiboss reload`);
    }
  }

  // ---- status --------------------------------------------------------------------------

  status(): DaemonStatus {
    const now = this.#now();
    const focusedVm = vmOnWorkspace(this.#policy, this.#policy.focused);
    const vms: VmStatus[] = Object.values(this.#policy.vms).map((record) => {
      const name = record.spec.name;
      const vm = this.#processes.get(name);
      const config: VmConfig | undefined = this.#config.vms[name];
      const timing = this.#timing(name);
      const stats = vm ? processStats(vm.pid, timing, now) : null;
      return {
        name,
        state: record.state,
        reason: record.reason,
        workspace: record.spec.workspace,
        pid: vm?.pid ?? null,
        kind: config?.flake !== undefined ? 'flake' : 'qemu',
        flake: config?.flake ?? null,
        heldByUser: record.hold !== null,
        since: timing.since,
        uptimeMs: vm ? now - vm.startedAt : null,
        memoryBudgetMiB: config?.memoryMiB ?? memoryFromArgv(config?.qemu),
        rssBytes: stats?.rssBytes ?? null,
        cpuPercent: stats?.cpuPercent ?? null,
        lastColdBootMs: timing.lastColdBootMs,
        lastResumeMs: timing.lastResumeMs,
        restarts: timing.restarts,
      };
    });
    return {
      vms: vms.sort((a, b) => a.name.localeCompare(b.name)),
      focusedWorkspace: this.#policy.focused?.name ?? null,
      focusedVm,
      wm: this.#wmKind,
      configProblems: this.#configProblems,
    };
  }

  vmLog(name: string, lines: number): string[] {
    if (!this.#policy.vms[name]) throw new RequestError('NoSuchVm', `no VM named "${name}"`);
    const paths = vmPaths(this.options.roots, name);
    const text = readTail(paths.logFile, Math.min(lines, 5000) * 200);
    return text.split('\n').filter((l) => l !== '').slice(-lines);
  }

  hasVm(name: string): boolean {
    return Object.hasOwn(this.#policy.vms, name);
  }
}

/** An error a D-Bus caller gets by name (api/names.ts Errors). */
export class RequestError extends Error {
  constructor(readonly kind: 'NoSuchVm' | 'InvalidArgument' | 'Failed', message: string) {
    super(message);
  }
}

function newTiming(now: number): Timing {
  return { startActionAt: null, lastColdBootMs: null, lastResumeMs: null, since: now, restarts: 0, cpu: null, cpuPercent: null };
}

function refOf(workspace: Workspace | WorkspaceNode): WorkspaceRef {
  return { name: workspace.name, num: typeof workspace.num === 'number' && workspace.num >= 0 ? workspace.num : null };
}

function specsOf(config: Config): VmSpec[] {
  return Object.entries(config.vms).map(([name, vm]) => ({ name, workspace: vm.workspace ?? null, restart: vm.restart }));
}

function settingsOf(config: Config): PolicySettings {
  const { pauseAfterMs, powerdownTimeoutMs, maxRestarts, restartWindowMs, restartDelayMs } = config.policy;
  return { pauseAfterMs, powerdownTimeoutMs, maxRestarts, restartWindowMs, restartDelayMs };
}

function launchPart(vm: VmConfig): unknown {
  return { qemu: vm.qemu, flake: vm.flake };
}

function compareWorkspaces(a: string, b: string): number {
  const na = parseInt(a, 10);
  const nb = parseInt(b, 10);
  if (!Number.isNaN(na) && !Number.isNaN(nb) && na !== nb) return na - nb;
  if (Number.isNaN(na) !== Number.isNaN(nb)) return Number.isNaN(na) ? 1 : -1;
  return a.localeCompare(b);
}

function memoryFromArgv(argv: string[] | undefined): number | null {
  if (!argv) return null;
  const index = argv.indexOf('-m');
  const value = index === -1 ? undefined : argv[index + 1];
  const mib = value ? parseInt(value.replace(/^size=/, ''), 10) : NaN;
  return Number.isNaN(mib) ? null : /g$/i.test(value!) ? mib * 1024 : mib;
}

const CLOCK_TICKS = 100; // USER_HZ on Linux

/** RSS and CPU % (since the previous sample) from /proc; null where it cannot be read. */
function processStats(pid: number, timing: Timing, now: number): { rssBytes: number | null; cpuPercent: number | null } {
  let rssBytes: number | null = null;
  try {
    const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = /VmRSS:\s+(\d+) kB/.exec(status)?.[1];
    rssBytes = kb ? Number(kb) * 1024 : null;
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(fields[11]) + Number(fields[12]); // utime + stime
    if (timing.cpu && now > timing.cpu.at) {
      timing.cpuPercent = Math.round(((ticks - timing.cpu.ticks) / CLOCK_TICKS / ((now - timing.cpu.at) / 1000)) * 1000) / 10;
    }
    timing.cpu = { at: now, ticks };
  } catch {
    /* gone between two reads */
  }
  return { rssBytes, cpuPercent: timing.cpuPercent };
}
