/**
 * The I/O of a health window: asks the guest agent `guest-ping` until it
 * answers, and watches QMP for GUEST_PANICKED. It reports what it sees as
 * policy events and judges nothing (daemon/policy/health.ts does).
 */
import { AgentClient } from '../../qga/client.js';
import { AgentTimeoutError } from '../../qga/errors.js';
import type { PolicyEvent } from '../policy/policy.js';
import type { VmProcess } from '../vm/vm-process.js';

const PING_TIMEOUT_MS = 1000;
const RECONNECT_DELAY_MS = 250;

export class HealthProbe {
  readonly #controller = new AbortController();
  #client: AgentClient | undefined;
  readonly #offPanic: () => void;

  constructor(
    readonly name: string,
    readonly generation: number,
    vm: VmProcess,
    private readonly agentSocket: string,
    private readonly post: (event: PolicyEvent) => void,
  ) {
    this.#offPanic = vm.qmp.onEvent('GUEST_PANICKED', () => this.post({ type: 'guest-panicked', name }));
    vm.once('exit', () => this.stop());
    void this.#pingUntilAnswered();
  }

  stop(): void {
    if (this.#controller.signal.aborted) return;
    this.#controller.abort();
    this.#offPanic();
    this.#client?.close();
  }

  async #pingUntilAnswered(): Promise<void> {
    const signal = this.#controller.signal;
    while (!signal.aborted) {
      try {
        this.#client ??= await AgentClient.connect(this.agentSocket);
        if (signal.aborted) break;
        await this.#client.ping(PING_TIMEOUT_MS);
        if (!signal.aborted) this.post({ type: 'guest-answered', name: this.name, generation: this.generation });
        break;
      } catch (error) {
        if (signal.aborted) break;
        // A timeout: not up yet, ask again at once (stale syncs are skipped). Anything else: reconnect shortly.
        if (!(error instanceof AgentTimeoutError)) {
          this.#client?.close();
          this.#client = undefined;
          await new Promise((resolve) => setTimeout(resolve, RECONNECT_DELAY_MS));
        }
      }
    }
    this.#client?.close();
    this.#client = undefined;
  }
}
