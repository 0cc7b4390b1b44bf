/**
 * A stand-in for the daemon's D-Bus service (org.hiboss.Daemon1), exported on a
 * private bus, so the panel is tested through the real DaemonClient and real
 * D-Bus messages. It records calls and emits the signals a test asks for.
 */
import dbus from 'dbus-next';
import { BUS_NAME, Errors, INTERFACE, OBJECT_PATH } from '../../api/names.js';
import type { DaemonStatus, VmState, VmStatus } from '../../api/schema.js';

const { Interface } = dbus.interface;

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

class DaemonIface extends Interface {
  calls: Array<[string, ...unknown[]]> = [];
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
  #set(name: string, state: VmState, reason: string): void {
    const vm = this.#vm(name);
    vm.state = state;
    vm.reason = reason;
    this.StateChanged(name, state, reason);
  }
  Status(): string {
    this.calls.push(['Status']);
    return JSON.stringify(this.status);
  }
  Start(name: string): void {
    this.calls.push(['Start', name]);
    this.#set(name, 'running', 'started by the user');
  }
  Stop(name: string): void {
    this.calls.push(['Stop', name]);
    this.#set(name, 'stopped', 'stopped by the user');
  }
  Pause(name: string): void {
    this.calls.push(['Pause', name]);
    this.#set(name, 'paused', 'paused by the user');
  }
  Resume(name: string): void {
    this.calls.push(['Resume', name]);
    this.#set(name, 'running', 'resumed by the user');
  }
  Restart(name: string): void {
    this.calls.push(['Restart', name]);
    this.#set(name, 'running', 'restarted by the user');
  }
  Reload(): string[] {
    this.calls.push(['Reload']);
    return this.reloadProblems;
  }
  Act(verb: string, name: string): string {
    this.calls.push(['Act', verb, name]);
    const vm = this.#vm(name);
    return `went to workspace ${vm.workspace}`;
  }
  Log(name: string, lines: number): string[] {
    this.calls.push(['Log', name, lines]);
    this.#vm(name);
    return (this.logs.get(name) ?? []).slice(-lines);
  }
  StateChanged(name: string, state: string, reason: string): [string, string, string] {
    return [name, state, reason];
  }
  FocusChanged(ws: string, vm: string): [string, string] {
    return [ws, vm];
  }
  ConfigChanged(accepted: boolean, problems: string[]): [boolean, string[]] {
    return [accepted, problems];
  }
  VmLog(name: string, line: string): [string, string] {
    return [name, line];
  }
}

DaemonIface.configureMembers({
  methods: {
    Status: { outSignature: 's' },
    Start: { inSignature: 's' },
    Stop: { inSignature: 's' },
    Pause: { inSignature: 's' },
    Resume: { inSignature: 's' },
    Restart: { inSignature: 's' },
    Reload: { outSignature: 'as' },
    Act: { inSignature: 'ss', outSignature: 's' },
    Log: { inSignature: 'su', outSignature: 'as' },
  },
  signals: {
    StateChanged: { signature: 'sss' },
    FocusChanged: { signature: 'ss' },
    ConfigChanged: { signature: 'bas' },
    VmLog: { signature: 'ss' },
  },
});

export interface FakeDaemon {
  iface: DaemonIface;
  close(): void;
}

/** Takes the daemon's name on the bus at `address` and serves `status`. */
export async function startFakeDaemon(address: string, status: DaemonStatus): Promise<FakeDaemon> {
  const bus = dbus.sessionBus({ busAddress: address });
  const iface = new DaemonIface(status);
  bus.export(OBJECT_PATH, iface);
  await bus.requestName(BUS_NAME, 0);
  // A call already on the wire when the test ends would be answered on a closed stream (an uncaught throw).
  let closed = false;
  const send = bus.send.bind(bus);
  bus.send = (message) => {
    if (!closed) send(message);
  };
  return {
    iface,
    close: () => {
      closed = true;
      bus.unexport(OBJECT_PATH, iface);
      bus.disconnect();
    },
  };
}
