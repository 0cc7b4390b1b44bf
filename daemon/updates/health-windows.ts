/**
 * Health windows of flake VMs, the I/O side: opens one when a generation not
 * yet judged boots (and finds it again after a daemon restart), runs its
 * health probe, and records the policy's judgement in the generations store.
 * The judgement itself is the policy's (daemon/policy/health.ts).
 */
import { vmPaths, type RuntimeRoots } from '../../config/paths.js';
import type { Config } from '../../config/schema.js';
import { errorMessage } from '../../shared/error-message.js';
import type { LaunchCommand } from '../launch/launcher.js';
import type { Action, PolicyEvent } from '../policy/policy.js';
import type { VmProcess } from '../vm/vm-process.js';
import { DEFAULT_KEEP_GENERATIONS, findGeneration, GenerationStore, lastHealthy } from './generations.js';
import { HealthProbe } from './health-probe.js';

export interface HealthWindowsOptions {
  roots: RuntimeRoots;
  config: () => Config;
  post: (event: PolicyEvent) => void;
  now: () => number;
}

export class HealthWindows {
  readonly #probes = new Map<string, HealthProbe>();

  constructor(private readonly options: HealthWindowsOptions) {}

  #store(name: string): GenerationStore {
    return new GenerationStore(vmPaths(this.options.roots, name).stateDir);
  }

  #timeoutMs(name: string): number {
    const config = this.options.config();
    return config.vms[name]?.updates?.healthTimeoutMs ?? config.policy.healthTimeoutMs;
  }

  /** A QEMU was launched: a generation not yet healthy opens a health window. */
  onLaunched(name: string, vm: VmProcess, command: LaunchCommand): void {
    if (command.generation === undefined) return;
    const store = this.#store(name);
    try {
      const now = this.options.now();
      let window = null;
      store.update((data) => {
        const generation = findGeneration(data, command.generation!);
        if (!generation || generation.outcome === 'healthy') {
          data.window = null;
          return;
        }
        const previous = lastHealthy(data, generation.number, generation.flake);
        window = { generation: generation.number, bootedAt: now, deadline: now + this.#timeoutMs(name), previous: previous?.number ?? null };
        data.window = window;
      });
      if (window) this.#watch(name, vm, store, false);
    } catch (error) {
      this.options.post({ type: 'note', name, level: 'warn', message: `cannot open the health window: ${errorMessage(error)}` });
    }
  }

  /**
   * After the adoption of the QEMUs an earlier daemon left: a window found open
   * is finished (the adopted QEMU is asked again), or judged at once when its
   * QEMU is gone.
   */
  afterAdoption(process: (name: string) => VmProcess | undefined): void {
    for (const [name, vm] of Object.entries(this.options.config().vms)) {
      if (vm.flake === undefined) continue;
      const store = this.#store(name);
      let open;
      try {
        open = store.read().window;
      } catch {
        continue;
      }
      if (!open) continue;
      const adopted = process(name);
      if (adopted) this.#watch(name, adopted, store, true);
      else this.#postWindow(name, store, false, true);
    }
  }

  #watch(name: string, vm: VmProcess, store: GenerationStore, restored: boolean): void {
    const window = this.#postWindow(name, store, true, restored);
    if (!window) return;
    this.#probes.get(name)?.stop();
    const { agentSocket } = this.#agentPaths(name);
    this.#probes.set(name, new HealthProbe(name, window.generation, vm, agentSocket, this.options.post));
  }

  #agentPaths(name: string): { agentSocket: string } {
    return { agentSocket: `${vmPaths(this.options.roots, name).runDir}/qga.sock` };
  }

  #postWindow(name: string, store: GenerationStore, running: boolean, restored: boolean) {
    const data = store.read();
    const open = data.window;
    const generation = findGeneration(data, open?.generation ?? null);
    if (!open || !generation) return undefined;
    const previous = findGeneration(data, open.previous);
    this.options.post({
      type: 'health-watch',
      name,
      window: {
        generation: generation.number,
        revision: generation.revision,
        previous: previous ? { generation: previous.number, revision: previous.revision } : null,
        bootedAt: open.bootedAt,
        deadline: open.deadline,
        running,
        restored,
      },
    });
    return open;
  }

  /** The policy's `judged` action: recorded, and a failed generation's predecessor selected. */
  carryOut(action: Extract<Action, { type: 'judged' }>): void {
    this.#probes.get(action.name)?.stop();
    this.#probes.delete(action.name);
    try {
      const keep = this.options.config().vms[action.name]?.updates?.keepGenerations ?? DEFAULT_KEEP_GENERATIONS;
      const store = this.#store(action.name);
      store.update((data) => {
        const generation = findGeneration(data, action.generation);
        if (generation) {
          generation.outcome = action.outcome;
          generation.failure = action.outcome === 'failed' ? action.reason : null;
          generation.judgedAt = this.options.now();
        }
        if (data.window?.generation === action.generation) data.window = null;
        if (action.rollbackTo !== null && findGeneration(data, action.rollbackTo)) data.selected = action.rollbackTo;
      });
      store.prune(keep); // a healthy generation may let an older one go
    } catch (error) {
      this.options.post({ type: 'note', name: action.name, level: 'warn', message: `cannot record the judgement: ${errorMessage(error)}` });
    }
  }

  close(): void {
    for (const probe of this.#probes.values()) probe.stop();
  }
}
