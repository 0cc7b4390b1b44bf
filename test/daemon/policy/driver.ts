/**
 * The pure policy, driven the way the supervisor will drive it: a fake clock,
 * one `tick` scheduled at each decision's `wakeAt`, and the supervisor's answers
 * (`observed`, `op-failed`) fed back by hand or, for the stress tests, by a
 * simulated supervisor that completes operations after a delay.
 *
 * Every decision is checked for the invariants that hold whatever the scenario:
 * the input is not mutated (it is deep-frozen: a write throws), `wakeAt` is in
 * the future or null, and no operation is asked of a VM that already has one
 * in flight. The tests themselves assert exact action sequences.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import sinon from 'sinon';
import {
  decide,
  initialState,
  vmOnWorkspace,
  workspaceMatches,
  type Action,
  type Decision,
  type PolicyEvent,
  type PolicySettings,
  type PolicyState,
  type UserVerb,
  type VmSpec,
  type WorkspaceRef,
} from '../../../daemon/policy/policy.js';
import { PolicyConfig } from '../../../config/schema.js';

// ---------------------------------------------------------------------------
// Fixtures

/** A fake epoch far from 0, so that a deadline confused with a duration shows. */
export const T0 = 1_000_000;

export const SETTINGS: PolicySettings = PolicyConfig.parse({
  pauseAfterMs: 1500,
  powerdownTimeoutMs: 10_000,
  maxRestarts: 3,
  restartWindowMs: 60_000,
  restartDelayMs: 1000,
  // Hibernation has its own tests (memory.test.ts); elsewhere its 15-minute timer would only add wake-ups.
  hibernateAfterMs: 0,
});

/** A workspace as sway reports it: "2: mail" has num 2, "acme" has none. */
export function ws(name: string): WorkspaceRef {
  const leading = /^\d+/.exec(name);
  return { name, num: leading ? Number(leading[0]) : null };
}

export function vm(name: string, workspace: string | null, restart: VmSpec['restart'] = 'on-failure'): VmSpec {
  return { name, workspace, restart };
}

export const DEV = vm('dev', '1');
export const MAIL = vm('mail', '2');
export const ACME = vm('acme', '3: acme');

export function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const inner of Object.values(value)) deepFreeze(inner);
  }
  return value;
}

/** One line per action, so that sequences read (and diff) as plain text. */
export function describe(action: Action): string {
  switch (action.type) {
    case 'changed':
      return `changed ${action.name} ${action.state}: ${action.reason}`;
    case 'notify':
      return `notify ${action.summary}: ${action.body}`;
    case 'exit':
      return 'exit';
    case 'release-sleep-lock':
      return 'release-sleep-lock';
    case 'focus-changed':
      return `focus-changed ${action.workspace} ${action.vm}`;
    case 'config-changed':
      return `config-changed ${action.accepted} ${action.problems.join('; ')}`;
    case 'log':
      return `log ${action.name ?? '-'} ${action.message}`;
    case 'hold-changed':
      return `hold-changed ${action.name} ${action.hold ?? 'none'}`;
    case 'judged':
      return `judged ${action.name} ${action.generation} ${action.outcome}: ${action.reason}${action.rollbackTo === null ? '' : ` → ${action.rollbackTo}`}`;
    case 'update-event':
      return `update-event ${action.name} ${action.kind}: ${action.message}`;
    case 'microphone':
      return `microphone ${action.holder ?? 'nobody'}${action.pinned ? ' (pinned)' : ''}`;
    default:
      return `${action.type} ${action.name}`;
  }
}

/** Announcements other than `changed`: the tests of operations leave them aside. */
export function isTold(action: Action): boolean {
  return action.type === 'log' || action.type === 'focus-changed' || action.type === 'config-changed' || action.type === 'hold-changed' || action.type === 'microphone';
}

// ---------------------------------------------------------------------------
// The driver: the supervisor's loop, minus QEMU and the WM

type Range = [min: number, max: number];

/** How the simulated supervisor completes operations (delays in ms); absent: by hand. */
export interface AutoSupervisor {
  start: Range;
  pause: Range;
  resume: Range;
  powerdown: Range;
  random: () => number;
}

/** Which observed states mean the supervisor has finished an operation. */
const LANDS: Record<string, string[]> = {
  start: ['running', 'paused', 'failed', 'stopped'],
  resume: ['running', 'failed', 'stopped'],
  pause: ['paused', 'failed', 'stopped'],
  powerdown: ['stopped', 'failed'],
  hibernate: ['hibernated', 'failed', 'stopped'],
  restore: ['paused', 'running', 'failed', 'stopped'],
  shrink: ['answered', 'failed', 'stopped'],
};
const OPERATION_ACTION: Record<string, string> = { start: 'start', resume: 'resume', pause: 'pause', stop: 'powerdown', hibernate: 'hibernate', restore: 'restore', shrink: 'shrink' };

interface Entry {
  at: number;
  action: Action;
}

export class Driver {
  state: PolicyState;
  wakeAt: number | null = null;
  readonly log: Entry[] = [];
  /** Announcements that are not state changes: log lines, focus and config changes. */
  readonly told: Action[] = [];
  lastAnswer: Decision['answer'] = null;
  /** Ticks that produced no action: a few are normal, many would be a busy loop. */
  idleTicks = 0;
  /** Operations asked of the supervisor and not yet reported back, per VM. */
  readonly inFlight = new Map<string, string>();
  private cursor = 0;
  private timer: ReturnType<typeof setTimeout> | null = null;

  constructor(
    specs: VmSpec[],
    settings: PolicySettings = SETTINGS,
    private readonly auto: AutoSupervisor | null = null,
  ) {
    this.state = initialState(settings, specs, Date.now());
  }

  send(event: PolicyEvent): Action[] {
    const now = Date.now();
    const input = deepFreeze(this.state);
    const snapshot = JSON.stringify(input);
    const decision = decide(input, deepFreeze(event), now);
    assert.is(JSON.stringify(input), snapshot, 'decide changed the state it was given');
    if (decision.wakeAt !== null && !(decision.wakeAt > now)) {
      assert.unreachable(`wakeAt ${decision.wakeAt - T0} is not after now ${now - T0} (${event.type})`);
    }
    if (event.type === 'observed') this.landed(event.name, event.state);
    if (event.type === 'op-failed' && this.inFlight.get(event.name) === OPERATION_ACTION[event.op]) {
      this.inFlight.delete(event.name);
    }
    if (event.type === 'op-done') this.landed(event.name, event.op === 'pause' ? 'paused' : event.op === 'resume' ? 'running' : 'answered');
    this.state = decision.state;
    if (event.type === 'user') this.lastAnswer = decision.answer;
    this.told.push(...decision.actions.filter(isTold));
    const actions = decision.actions.filter((action) => !isTold(action));
    for (const action of actions) {
      this.track(action);
      this.log.push({ at: now - T0, action });
    }
    if (event.type === 'tick' && actions.length === 0) this.idleTicks += 1;
    this.schedule(decision.wakeAt);
    for (const action of actions) this.simulate(action);
    // QEMU answers `system_powerdown` at once; the VM going down is what takes time.
    for (const action of actions) if (action.type === 'powerdown' && !this.auto) this.send({ type: 'op-done', name: action.name, op: 'stop' });
    return actions;
  }

  /** The log lines, focus and config announcements since the last call (kept apart from the operations). */
  takeTold(): string[] {
    return this.told.splice(0).map(describe);
  }

  // --- what the tests say happened

  startUp(focused: string, ...alsoVisible: string[]): Action[] {
    return this.send({ type: 'workspaces', focused: ws(focused), visible: [ws(focused), ...alsoVisible.map(ws)] });
  }

  /** Focus alone, as the WM's focus event (the snapshot follows separately). */
  focus(name: string): Action[] {
    return this.send({ type: 'focus', workspace: ws(name) });
  }

  /** What the WM shows afterwards. */
  shows(focused: string | null, ...alsoVisible: string[]): Action[] {
    const visible = [...(focused === null ? [] : [focused]), ...alsoVisible].map(ws);
    return this.send({ type: 'workspaces', focused: focused === null ? null : ws(focused), visible });
  }

  /** A workspace switch on a single output: the focus event, then the snapshot. */
  switchTo(name: string): Action[] {
    return [...this.focus(name), ...this.shows(name)];
  }

  observe(name: string, state: 'running' | 'paused' | 'stopped' | 'failed', reason = `QEMU ${state}`): Action[] {
    return this.send({ type: 'observed', name, state, reason });
  }

  user(verb: UserVerb, name: string): Action[] {
    return this.send({ type: 'user', verb, name });
  }

  /** Starts the VM on `workspace` and lets it boot, as most tests begin. */
  bootFocused(workspace: string, ...alsoVisible: string[]): void {
    this.startUp(workspace, ...alsoVisible);
    const name = vmOnWorkspace(this.state, ws(workspace));
    assert.ok(name, `no VM on workspace ${workspace}`);
    this.observe(name, 'running');
  }

  // --- what the tests look at

  /** The actions since the last take, one line each. */
  take(): string[] {
    return this.takeEntries().map((entry) => describe(entry.action));
  }

  /** The same, each prefixed with its time in ms since T0. */
  takeTimed(): string[] {
    return this.takeEntries().map((entry) => `${entry.at} ${describe(entry.action)}`);
  }

  /** Operations only (no `changed`/`notify`), timed, since the last take. */
  takeOps(): string[] {
    return this.takeEntries()
      .filter((entry) => entry.action.type !== 'changed' && entry.action.type !== 'notify')
      .map((entry) => `${entry.at} ${describe(entry.action)}`);
  }

  /** Every action of one type so far, e.g. actionsOf('start'). */
  actionsOf(type: Action['type']): Entry[] {
    return this.log.filter((entry) => entry.action.type === type);
  }

  /** The operations a VM was asked for, in order ("start pause resume …"). */
  opsFor(name: string): string {
    return this.log
      .filter((e) => e.action.type !== 'changed' && e.action.type !== 'notify' && 'name' in e.action && e.action.name === name)
      .map((e) => e.action.type)
      .join(' ');
  }

  vm(name: string) {
    const record = this.state.vms[name];
    assert.ok(record, `no VM ${name}`);
    return record;
  }

  private takeEntries(): Entry[] {
    const entries = this.log.slice(this.cursor);
    this.cursor = this.log.length;
    return entries;
  }

  // --- the supervisor's side

  private schedule(wakeAt: number | null): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    this.wakeAt = wakeAt;
    if (wakeAt !== null) this.timer = setTimeout(() => this.send({ type: 'tick' }), wakeAt - Date.now());
  }

  /** One operation per VM in flight: the property that keeps rapid switching calm. */
  private track(action: Action): void {
    if (action.type === 'quit') {
      // A failed update's QEMU is quit at once (./health.test.ts): a stop of its own.
      if (!this.inFlight.has(action.name)) return void this.inFlight.set(action.name, 'powerdown');
      assert.is(this.inFlight.get(action.name), 'powerdown', `quit ${action.name} without a powerdown in flight`);
      return;
    }
    if (action.type !== 'start' && action.type !== 'pause' && action.type !== 'resume' && action.type !== 'powerdown' && action.type !== 'hibernate' && action.type !== 'restore' && action.type !== 'shrink') return;
    const busy = this.inFlight.get(action.name);
    if (busy !== undefined) {
      assert.unreachable(`${action.type} ${action.name} at ${Date.now() - T0} while ${busy} is in flight`);
    }
    this.inFlight.set(action.name, action.type);
  }

  private landed(name: string, state: string): void {
    const op = this.inFlight.get(name);
    if (op !== undefined && LANDS[op]?.includes(state)) this.inFlight.delete(name);
  }

  private simulate(action: Action): void {
    if (!this.auto) return;
    const answers = { start: 'running', resume: 'running', pause: 'paused', powerdown: 'stopped' } as const;
    if (!(action.type in answers)) return;
    const { name, type } = action as { name: string; type: keyof typeof answers };
    const [min, max] = this.auto[type];
    const delay = min + Math.floor(this.auto.random() * (max - min + 1));
    setTimeout(() => this.observe(name, answers[type]), delay);
  }
}

export { mulberry32 } from '../../harness/random.js';

export let clock: sinon.SinonFakeTimers;

export function newSuite(name: string) {
  const s = suite(name);
  s.before.each(() => {
    clock = sinon.useFakeTimers({ now: T0, toFake: ['setTimeout', 'clearTimeout', 'Date'] });
  });
  s.after.each(() => clock.restore());
  return s;
}
