/**
 * The policy loop: events are queued and decided one at a time, never nested.
 * Carrying out an action may produce a new event at once (a pause that finds no
 * QEMU fails on the spot): it waits in the queue until the current decision is
 * done, and the wake-up timer is set from the state after the last event — so a
 * retry scheduled by an inner decision is never cleared by an outer one.
 */
import { decide, type Action, type Decision, type PolicyEvent, type PolicyState } from './policy/policy.js';

interface Queued {
  event: PolicyEvent;
  decided?: (decision: Decision) => void;
}

export class PolicyLoop {
  #state: PolicyState;
  #queue: Queued[] = [];
  #draining = false;
  #wake: NodeJS.Timeout | undefined;
  /** When #wake fires (the policy's clock). */
  #wakeAt: number | null = null;
  #stopped = false;

  constructor(
    initial: PolicyState,
    /** Carries out one decision's actions; may post() new events. */
    private readonly perform: (actions: Action[]) => void,
    private readonly now: () => number,
  ) {
    this.#state = initial;
  }

  get state(): PolicyState {
    return this.#state;
  }

  post(event: PolicyEvent): void {
    this.#queue.push({ event });
    this.#drain();
  }

  /** Posts an event and resolves with its decision (a user request's answer). */
  ask(event: PolicyEvent): Promise<Decision> {
    return new Promise((decided) => {
      this.#queue.push({ event, decided });
      this.#drain();
    });
  }

  /** No more wake-ups; events still decide (status stays true while the daemon winds down). */
  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#wake);
  }

  #drain(): void {
    if (this.#draining) return;
    this.#draining = true;
    let last: Decision | undefined;
    try {
      for (let next = this.#queue.shift(); next; next = this.#queue.shift()) {
        last = decide(this.#state, next.event, this.now());
        this.#state = last.state;
        this.perform(last.actions);
        next.decided?.(last);
      }
    } finally {
      this.#draining = false;
    }
    if (last) this.#arm(last.wakeAt);
  }

  #arm(wakeAt: number | null): void {
    // Most decisions keep the wake-up they found (a switch's `RESUME` after its focus): the timer stays as it is.
    if (wakeAt === this.#wakeAt && this.#wake !== undefined && !this.#stopped) return;
    clearTimeout(this.#wake);
    this.#wake = undefined;
    this.#wakeAt = null;
    if (wakeAt === null || this.#stopped) return;
    this.#wakeAt = wakeAt;
    this.#wake = setTimeout(() => {
      this.#wake = undefined;
      this.#wakeAt = null;
      this.post({ type: 'tick' });
    }, Math.max(0, wakeAt - this.now()));
  }
}
