/**
 * A stand-in for the daemon's D-Bus service (org.hiboss.Daemon1) on a test's
 * private bus, so clients (bar, panel) are tested through the real DaemonClient
 * and real D-Bus messages. Status() answers what the test set; calls are
 * recorded; signals go out when the test says. End-to-end tests use the real
 * daemon (harness/daemon.ts) instead.
 */
import dbus from 'dbus-next';
import { BUS_NAME, daemonInterfaceMembers, Errors, INTERFACE, OBJECT_PATH } from '../../api/names.js';
import type { DaemonStatus, GenerationsReport, VmState, VmStatus } from '../../api/schema.js';
import { closeBus } from '../../api/bus.js';

export function vmFixture(name: string, over: Partial<VmStatus> = {}): VmStatus {
  return {
    name,
    state: 'stopped',
    reason: 'not started',
    workspace: null,
    pid: null,
    kind: 'qemu',
    flake: null,
    heldByUser: false,
    unresponsiveSince: null,
    since: 0,
    uptimeMs: null,
    memoryBudgetMiB: null,
    rssBytes: null,
    cpuPercent: null,
    lastColdBootMs: null,
    lastResumeMs: null,
    restarts: 0,
    ...over,
  };
}

export function daemonStatus(vms: VmStatus[], focusedVm: string | null, focusedWorkspace: string | null = '1'): DaemonStatus {
  return { vms, focusedWorkspace, focusedVm, wm: 'sway', configProblems: [] };
}

class FakeInterface extends dbus.interface.Interface {
  calls: Array<[string, ...unknown[]]> = [];
  /** Act(verb, name) calls, in order. */
  acts: [string, string][] = [];
  onAct: ((verb: string, name: string) => void) | undefined;
  reloadProblems: string[] = [];
  logs = new Map<string, string[]>();

  constructor(public status: DaemonStatus) {
    super(INTERFACE);
  }
  #vm(name: string): VmStatus {
    const vm = this.status.vms.find((v) => v.name === name);
    if (!vm) throw new dbus.DBusError(Errors.NoSuchVm, `no VM named "${name}"`);
    return vm;
  }
  /** Sets the VM's state in Status() and sends StateChanged, as the daemon would. */
  setState(name: string, state: VmState, reason: string): void {
    const vm = this.#vm(name);
    vm.state = state;
    vm.reason = reason;
    this.StateChanged(name, state, reason);
  }
  get Version(): string {
    return 'fake';
  }
  get ConfigPath(): string {
    return '/nonexistent/fake-daemon/config.json';
  }
  Status(): string {
    this.calls.push(['Status']);
    return JSON.stringify(this.status);
  }
  Start(name: string): string {
    this.calls.push(['Start', name]);
    this.setState(name, 'running', 'started by the user');
    return `${name}: start`;
  }
  Stop(name: string): string {
    this.calls.push(['Stop', name]);
    this.setState(name, 'stopped', 'stopped by the user');
    return `${name}: stop`;
  }
  Pause(name: string): string {
    this.calls.push(['Pause', name]);
    this.setState(name, 'paused', 'paused by the user');
    return `${name}: pause`;
  }
  Resume(name: string): string {
    this.calls.push(['Resume', name]);
    this.setState(name, 'running', 'resumed by the user');
    return `${name}: resume`;
  }
  Restart(name: string): string {
    this.calls.push(['Restart', name]);
    this.setState(name, 'running', 'restarted by the user');
    return `${name}: restart`;
  }
  Reload(): string[] {
    this.calls.push(['Reload']);
    return this.reloadProblems;
  }
  Act(verb: string, name: string): string {
    this.calls.push(['Act', verb, name]);
    this.acts.push([verb, name]);
    this.onAct?.(verb, name);
    if (verb === 'focus') return `went to workspace ${this.#vm(name).workspace}`;
    return `${verb} ${name}`;
  }
  Log(name: string, lines: number): string[] {
    this.calls.push(['Log', name, lines]);
    this.#vm(name);
    return (this.logs.get(name) ?? []).slice(-lines);
  }
  Diagnostics(): string {
    this.calls.push(['Diagnostics']);
    return JSON.stringify({ eventToWriteMs: [], writeCallMs: [], memory: {} });
  }
  /** Generations(name): what the test put in `generations` (an empty report otherwise). */
  generations = new Map<string, GenerationsReport>();
  Generations(name: string): string {
    this.calls.push(['Generations', name]);
    this.#vm(name);
    return JSON.stringify(this.generations.get(name) ?? { name, selected: null, generations: [], updating: null });
  }
  Update(name: string, now: boolean): string {
    this.calls.push(['Update', name, now]);
    this.#vm(name);
    return `${name}: updating`;
  }
  ApproveUpdate(name: string, now: boolean): string {
    this.calls.push(['ApproveUpdate', name, now]);
    this.#vm(name);
    return `${name}: updating: building the approved revision`;
  }
  Rollback(name: string, generation: number, now: boolean): string {
    this.calls.push(['Rollback', name, generation, now]);
    this.#vm(name);
    return `${name}: generation ${generation} selected`;
  }
  UpdateEvent(name: string, kind: string, message: string): [string, string, string] {
    return [name, kind, message];
  }
  /** Backups: Backup/Restore record the call; Backups answers what the test put in `backupLists`. */
  backupLists = new Map<string, unknown>();
  Backup(name: string): string {
    this.calls.push(['Backup', name]);
    this.#vm(name);
    return `${name}: backup started`;
  }
  Backups(name: string): string {
    this.calls.push(['Backups', name]);
    this.#vm(name);
    return JSON.stringify(this.backupLists.get(name) ?? { name, target: '/srv/backups', points: [] });
  }
  Restore(name: string, id: string): string {
    this.calls.push(['Restore', name, id]);
    this.#vm(name);
    return `${name}: restore of ${id || 'the latest backup'} asked`;
  }
  BackupChanged(name: string, kind: string, message: string): [string, string, string] {
    return [name, kind, message];
  }
  /** Members: Identity answers what the test put in `identities` (else: not published yet). */
  identities = new Map<string, unknown>();
  Identity(name: string): string {
    this.calls.push(['Identity', name]);
    this.#vm(name);
    const identity = this.identities.get(name);
    if (identity === undefined) throw new dbus.DBusError(Errors.Failed, `${name} has not published its identity yet`);
    return JSON.stringify(identity);
  }
  /** Sound and clipboard: the call is recorded. */
  Microphone(verb: string, name: string): string {
    this.calls.push(['Microphone', verb, name]);
    return `microphone ${verb} ${name}`;
  }
  Clipboard(direction: string, name: string): string {
    this.calls.push(['Clipboard', direction, name]);
    return `clipboard ${direction} ${name}`;
  }
  MicrophoneChanged(vm: string, pinned: boolean): [string, boolean] {
    return [vm, pinned];
  }
  // Signals: dbus-next sends what these return.
  StateChanged(name: string, state: string, reason: string): [string, string, string] {
    return [name, state, reason];
  }
  FocusChanged(workspace: string, vm: string): [string, string] {
    return [workspace, vm];
  }
  ConfigChanged(accepted: boolean, problems: string[]): [boolean, string[]] {
    return [accepted, problems];
  }
  VmLog(name: string, line: string): [string, string] {
    return [name, line];
  }
}

FakeInterface.configureMembers(daemonInterfaceMembers());

export interface FakeDaemon {
  iface: FakeInterface;
  setState(name: string, state: VmState, reason?: string): void;
  /** Ends the connection: the bus name loses its owner, as when the daemon exits. */
  stop(): void;
}

/** Takes the daemon's name on the bus at `address` and serves (a copy of) `status`. */
export async function startFakeDaemon(address: string, status: DaemonStatus): Promise<FakeDaemon> {
  const bus = dbus.sessionBus({ busAddress: address });
  bus.on('error', () => {});
  const iface = new FakeInterface(structuredClone(status));
  bus.export(OBJECT_PATH, iface);
  const reply = await bus.requestName(BUS_NAME, dbus.NameFlag.DO_NOT_QUEUE);
  if (reply !== dbus.RequestNameReply.PRIMARY_OWNER) throw new Error(`could not own ${BUS_NAME} (reply ${reply})`);
  let stopped = false;
  return {
    iface,
    setState: (name, state, reason = 'test') => iface.setState(name, state, reason),
    stop() {
      if (stopped) return;
      stopped = true;
      bus.unexport(OBJECT_PATH, iface);
      closeBus(bus); // a call already on the wire is not answered into the closed stream
    },
  };
}
