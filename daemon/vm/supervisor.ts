/**
 * Carries out the policy's operations on real QEMUs and reports back what
 * happened, as policy events: a start that launched, a `stop` that QEMU
 * answered, a process that died. It decides nothing; every outcome goes back
 * through the policy loop (post), never straight to the world.
 */
import type { Config } from '../../config/schema.js';
import { ensureVmDirs, existingVmDirs, RuntimeDirError, vmPaths, type RuntimeRoots, type VmPaths } from '../../config/paths.js';
import { QmpTimeoutError } from '../../qmp/errors.js';
import type { LaunchCommand, Launcher } from '../launch/launcher.js';
import { QemuLauncher } from '../launch/qemu.js';
import { SAVE_INTERRUPTED, unhandled, type Operation as PolicyOperation, type PolicyEvent, type VmOperationAction } from '../policy/types.js';
import { VmProcess, type VmEnd } from './vm-process.js';
import { HibernateError, readLaunchRecord, recordLaunch, removeImage, removeImageInBackground, restoreImage, saveImage, settleAdopted, settleWithoutQemu, type AdoptedOutcome, type RecordedCommand } from './hibernate.js';
import { growBack, residentBytes, shrinkToWorkingSet } from './memory.js';
import { freshRamFile, removeRamFile, usesRamFile } from '../launch/ram-file.js';
import { errorMessage } from '../../shared/error-message.js';

/** The operations carried out over QMP on a running QEMU. */
type Operation = Extract<PolicyOperation, 'pause' | 'resume' | 'stop' | 'shrink'>;

export interface VmSupervisorOptions {
  roots: RuntimeRoots;
  /** Where outcomes go: the policy loop. */
  post: (event: PolicyEvent) => void;
  /** The config in force (launch settings, QMP timeout). */
  config: () => Config;
  /** Test seam: launchers by kind (the flake launcher is loaded only when a flake VM starts). */
  launchers?: { qemu?: Launcher; flake?: Launcher };
  /**
   * Called right after a `cont` or a start command is handed to the kernel (latency marks), with
   * when the `cont` call began (null for a start): the write can return late when the kernel runs
   * the QEMU it woke first, and that time is QEMU's, not the daemon's.
   */
  onRunWritten?: (callStartedAt: number | null) => void;
  /** A QEMU was launched from `command` and is watched (flake VMs: a health window may open). */
  onLaunched?: (name: string, vm: VmProcess, command: LaunchCommand) => void;
}

export class VmSupervisor {
  #processes = new Map<string, VmProcess>();
  #launchAborts = new Map<string, AbortController>();
  #detached = false;
  /** Memory: VMs whose save is in flight: their QEMU's end is the save's to report. */
  readonly #saving = new Set<string>();
  /** Memory: restored images being removed in the background; a new save of the VM waits for it. */
  readonly #imageRemovals = new Map<string, Promise<void>>();
  readonly #qemuLauncher: Launcher;
  #flakeLauncher: Launcher | undefined;
  /** VMs whose balloon we may have inflated, or cannot know (adopted, restored from an image): deflated on their next resume. */
  readonly #balloonMayBeInflated = new Set<string>();

  constructor(private readonly options: VmSupervisorOptions) {
    this.#qemuLauncher = options.launchers?.qemu ?? new QemuLauncher();
    this.#flakeLauncher = options.launchers?.flake;
  }

  process(name: string): VmProcess | undefined {
    return this.#processes.get(name);
  }

  /** Carries out one operation; outcomes come back as events. */
  carryOut(action: VmOperationAction): void {
    switch (action.type) {
      case 'start':
        void this.#start(action.name);
        return;
      case 'resume':
        this.#operate(action.name, 'resume', (vm, timeoutMs) => {
          const callStartedAt = performance.now();
          const reply = vm.resume(timeoutMs);
          this.options.onRunWritten?.(callStartedAt);
          // Memory: a balloon inflated before the pause deflates once the guest runs (off the resume's path).
          // Only where it may be inflated: otherwise two QMP round trips per switch for nothing.
          if (!this.#balloonMayBeInflated.delete(action.name)) return reply;
          void reply
            .then(() => growBack(vm.qmp))
            .then((grown) => grown && this.options.post({ type: 'note', name: action.name, message: 'its balloon deflated: all its memory is the guest\'s again' }))
            .catch(() => undefined);
          return reply;
        });
        return;
      case 'shrink':
        this.#operate(action.name, 'shrink', async (vm) => {
          this.#balloonMayBeInflated.add(action.name);
          const shrunk = await shrinkToWorkingSet(vm.qmp, vm.paths.runDir);
          const what = shrunk.toBytes === null ? 'its balloon stays as it was' : `balloon to ${Math.round(shrunk.toBytes / 1048576)} MiB (from ${Math.round(shrunk.fromBytes! / 1048576)} MiB)`;
          this.options.post({ type: 'note', name: action.name, message: `shrunk before the pause: ${shrunk.cachesDropped ? 'caches dropped, ' : ''}${what}` });
        });
        return;
      case 'pause':
        this.#operate(action.name, 'pause', (vm, timeoutMs) => vm.pause(timeoutMs));
        return;
      case 'powerdown':
        this.#operate(action.name, 'stop', (vm, timeoutMs) => vm.powerdown(timeoutMs));
        return;
      case 'quit':
        this.#processes.get(action.name)?.quit().catch(() => undefined);
        return;
      case 'hibernate':
        void this.#hibernate(action.name);
        return;
      case 'restore':
        void this.#restore(action.name);
        return;
      case 'forget':
        this.#processes.get(action.name)?.detach();
        this.#processes.delete(action.name);
        return;
      default:
        return unhandled(action);
    }
  }

  #operate(name: string, op: Operation, run: (vm: VmProcess, timeoutMs: number) => Promise<unknown>): void {
    const vm = this.#processes.get(name);
    const post = this.options.post;
    if (!vm) {
      post({ type: 'op-failed', name, op, reason: 'no QEMU process' });
      return;
    }
    let reply: Promise<unknown>;
    try {
      reply = run(vm, this.options.config().policy.qmpTimeoutMs);
    } catch (error) {
      reply = Promise.reject(error);
    }
    reply.then(
      () => post({ type: 'op-done', name, op }),
      (error: Error) => {
        if (vm.ended) return; // its exit is reported on its own
        post({ type: 'op-failed', name, op, reason: error.message, timedOut: error instanceof QmpTimeoutError });
      },
    );
  }

  async #launcherFor(kind: 'qemu' | 'flake'): Promise<Launcher> {
    if (kind === 'qemu') return this.#qemuLauncher;
    // execa and the build code load only once a flake VM starts.
    this.#flakeLauncher ??= new (await import('../launch/flake.js')).FlakeLauncher();
    return this.#flakeLauncher;
  }

  async #start(name: string): Promise<void> {
    const post = this.options.post;
    const vmConfig = this.options.config().vms[name];
    if (!vmConfig) return post({ type: 'op-failed', name, op: 'start', reason: 'not in the config' });
    const controller = new AbortController();
    this.#launchAborts.set(name, controller);
    try {
      const paths = vmPaths(this.options.roots, name);
      ensureVmDirs(this.options.roots, paths);
      const launcher = await this.#launcherFor(vmConfig.flake !== undefined ? 'flake' : 'qemu');
      const command = await launcher.prepare({
        name,
        vm: vmConfig,
        paths,
        progress: (line) => post({ type: 'note', name, message: line }),
        signal: controller.signal,
      });
      // A cold boot of a file-backed guest: a new, empty RAM file (never an earlier run's).
      if (usesRamFile(command.args)) freshRamFile(paths, command.args);
      const vm = await VmProcess.launch(command, paths);
      this.options.onRunWritten?.(null);
      if (this.#detached) return vm.detach();
      this.#recordLaunch(name, paths, command);
      this.#watch(name, vm);
      this.options.onLaunched?.(name, vm, command);
      const state = await vm.status();
      post({ type: 'observed', name, state, reason: state === 'running' ? 'QEMU is up' : 'QEMU is up, paused' });
    } catch (error) {
      if (this.#detached) return;
      // A runtime dir that is a symlink, not ours, or too deep for a socket stays so: no retry.
      post({ type: 'op-failed', name, op: 'start', reason: errorMessage(error), ...(error instanceof RuntimeDirError ? { permanent: true } : {}) });
    } finally {
      this.#launchAborts.delete(name);
    }
  }

  /** Wires a QEMU's events into the policy. */
  #watch(name: string, vm: VmProcess): void {
    const post = this.options.post;
    this.#processes.set(name, vm);
    this.#balloonMayBeInflated.delete(name); // a new QEMU: as booted, unless the caller knows better
    vm.on('paused', () => post({ type: 'observed', name, state: 'paused' }));
    vm.on('resumed', () => post({ type: 'observed', name, state: 'running' }));
    vm.once('exit', (end) => {
      if (this.#processes.get(name) === vm) this.#processes.delete(name);
      if (this.#saving.has(name)) return; // a save reports how its QEMU ended
      // The guest is gone (not saved): its RAM file, if it had one, is of no use and as large as its RAM.
      if (!this.#processes.has(name)) {
        try {
          removeRamFile(vm.paths);
        } catch (error) {
          post({ type: 'note', name, level: 'warn', message: `its RAM file could not be removed: ${errorMessage(error)}` });
        }
      }
      post({ type: 'observed', name, state: end.kind, reason: end.reason });
    });
  }

  /** Adopts every QEMU an earlier daemon left in the runtime dir; each is reported as it really is. */
  async adoptAll(): Promise<void> {
    const post = this.options.post;
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
        post({ type: 'note', name: null, level: 'warn', message: `${name}: found a QEMU but cannot talk to it: ${errorMessage(error)}` });
        continue;
      }
      if (!vm) continue;
      if (!this.options.config().vms[name]) {
        // Not ours to manage any more (removed while we were away): leave it be.
        post({ type: 'note', name: null, level: 'warn', message: `${name}: a QEMU (pid ${vm.pid}) runs for a VM that is not in the config; leaving it alone` });
        vm.detach();
        continue;
      }
      // Memory: a save or restore may have been in flight when the last daemon died.
      const settled: AdoptedOutcome = await settleAdopted(vm, paths).catch((error: Error) => ({ kind: 'keep' as const, note: `its image could not be checked: ${error.message}` }));
      if (settled.note) post({ type: 'note', name, message: settled.note });
      if (settled.kind === 'hibernated') continue;
      this.#watch(name, vm);
      this.#balloonMayBeInflated.add(name);
      const state = await vm.status();
      post({ type: 'note', name, message: `adopted QEMU pid ${vm.pid} (${state})` });
      // A save cut short by the last daemon's end: the guest stays in RAM, and its reason says why.
      const interrupted = settled.kind === 'keep' && settled.saveInterrupted === true;
      post({ type: 'observed', name, state, reason: `adopted (${state})${interrupted ? `: ${SAVE_INTERRUPTED}` : ''}`, ...(interrupted ? { saveInterrupted: true } : {}) });
    }
    this.findHibernated();
  }

  /** Memory: every configured VM (or those named) without a QEMU whose image is complete is hibernated. */
  findHibernated(only?: readonly string[]): void {
    const post = this.options.post;
    for (const name of only ?? Object.keys(this.options.config().vms)) {
      if (this.#processes.has(name)) continue;
      let paths: VmPaths;
      try {
        paths = vmPaths(this.options.roots, name);
      } catch {
        continue;
      }
      const { image, note } = settleWithoutQemu(paths);
      if (note) post({ type: 'note', name, level: image ? 'info' : 'warn', message: note });
      if (!image) continue;
      const ago = Math.max(0, Math.round((Date.now() - image.savedAt) / 60_000));
      post({
        type: 'observed',
        name,
        state: 'hibernated',
        reason: `found on disk (image of ${Math.round(image.bytes / 1048576)} MiB, saved ${ago} min ago)`,
        image: { bytes: image.bytes, savedAt: image.savedAt },
      });
    }
  }

  /** The command a QEMU was started with, kept for a later save (a failure to keep it only costs that save). */
  #recordLaunch(name: string, paths: VmPaths, command: LaunchCommand): void {
    try {
      recordLaunch(paths, command);
    } catch (error) {
      this.options.post({ type: 'note', name, level: 'warn', message: `cannot keep its launch command (it cannot be hibernated): ${errorMessage(error)}` });
    }
  }

  /** Memory: the VM's RAM to its image, then its QEMU ends (daemon/vm/hibernate.ts does the I/O). */
  async #hibernate(name: string): Promise<void> {
    const post = this.options.post;
    const vm = this.#processes.get(name);
    if (!vm) return post({ type: 'op-failed', name, op: 'hibernate', reason: 'no QEMU process' });
    const paths = vmPaths(this.options.roots, name);
    const ended = new Promise<VmEnd>((resolve) => vm.once('exit', resolve));
    this.#saving.add(name);
    try {
      await this.#imageRemovals.get(name); // the last restore's image is gone before a new one is written
      const command = readLaunchRecord(paths) ?? (await this.#commandForSave(name));
      const saved = await saveImage(vm, { paths, command, rssBytes: residentBytes(vm.pid) });
      await vm.quit();
      post({ type: 'observed', name, state: 'hibernated', image: { bytes: saved.bytes, savedAt: saved.savedAt } });
    } catch (error) {
      if (this.#detached) return;
      if (vm.ended) {
        const end = await ended; // QEMU died during the save: the guest went with it
        post({ type: 'observed', name, state: end.kind, reason: end.reason });
      } else post({ type: 'op-failed', name, op: 'hibernate', reason: errorMessage(error) });
    } finally {
      this.#saving.delete(name);
    }
  }

  /** A QEMU started by a hiboss that kept no launch record: a plain QEMU VM's command is its config's. */
  async #commandForSave(name: string): Promise<RecordedCommand> {
    const vmConfig = this.options.config().vms[name];
    if (!vmConfig || vmConfig.flake !== undefined) throw new HibernateError('its launch command was not kept (started by an older hiboss): it can be saved after its next start');
    const command = await this.#qemuLauncher.prepare({ name, vm: vmConfig, paths: vmPaths(this.options.roots, name), progress: () => {}, signal: new AbortController().signal });
    return { file: command.file, args: command.args, ...(command.env ? { env: command.env } : {}) };
  }

  /** Memory: QEMU from the image (same argv + `-incoming defer`); it lands paused. */
  async #restore(name: string): Promise<void> {
    const post = this.options.post;
    const vmConfig = this.options.config().vms[name];
    if (!vmConfig) return post({ type: 'op-failed', name, op: 'restore', reason: 'not in the config' });
    if (this.#processes.has(name)) return post({ type: 'op-failed', name, op: 'restore', reason: 'a QEMU already runs for it' });
    const controller = new AbortController();
    this.#launchAborts.set(name, controller);
    try {
      const paths = vmPaths(this.options.roots, name);
      ensureVmDirs(this.options.roots, paths);
      const launcher = await this.#launcherFor(vmConfig.flake !== undefined ? 'flake' : 'qemu');
      const command = await launcher.prepare({ name, vm: vmConfig, paths, progress: (line) => post({ type: 'note', name, message: line }), signal: controller.signal });
      const restored = await restoreImage({ paths, command, launch: (incoming) => VmProcess.launch(incoming, paths) });
      if (this.#detached) return restored.vm.detach();
      this.#recordLaunch(name, paths, command);
      for (const warning of restored.warnings) post({ type: 'note', name, level: 'warn', message: warning });
      this.#watch(name, restored.vm);
      this.#balloonMayBeInflated.add(name); // as it was when saved
      post({ type: 'observed', name, state: restored.state, reason: `restored from its image in ${(restored.durationMs / 1000).toFixed(2)} s` });
      // Off the event loop: the resume is not held up by the unlink.
      const removal = removeImageInBackground(paths)
        .catch((error: Error) => post({ type: 'note', name, level: 'warn', message: `its restored image could not be removed: ${error.message}` }))
        .finally(() => this.#imageRemovals.get(name) === removal && this.#imageRemovals.delete(name));
      this.#imageRemovals.set(name, removal);
      post({ type: 'note', name, message: `restore: QEMU up after ${restored.phases.qemuUpMs} ms, image loaded after ${restored.phases.loadedMs} ms, done after ${restored.durationMs} ms` });
    } catch (error) {
      if (this.#detached) return;
      post({ type: 'op-failed', name, op: 'restore', reason: errorMessage(error) });
    } finally {
      this.#launchAborts.delete(name);
    }
  }

  /** The daemon stops: QEMUs keep running for the next daemon to adopt. */
  detachAll(): void {
    this.#detached = true;
    for (const controller of this.#launchAborts.values()) controller.abort();
    for (const vm of this.#processes.values()) vm.detach();
  }

  pids(): Map<string, number> {
    return new Map([...this.#processes].map(([name, vm]) => [name, vm.pid]));
  }
}
