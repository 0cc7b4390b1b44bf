/**
 * A stand-in for the daemon's D-Bus API (org.hiboss.Daemon1), exported with
 * dbus-next on a test's private bus: Status() answers whatever the test set,
 * signals go out when the test says, Act() calls are recorded.
 */
import dbus from 'dbus-next';
import { BUS_NAME, INTERFACE, OBJECT_PATH } from '../../api/names.js';
import type { DaemonStatus, VmStatus } from '../../api/schema.js';

class FakeInterface extends dbus.interface.Interface {
  status: DaemonStatus;
  acts: [string, string][] = [];
  onAct: ((verb: string, name: string) => void) | undefined;

  constructor(status: DaemonStatus) {
    super(INTERFACE);
    this.status = status;
  }
  Status(): string {
    return JSON.stringify(this.status);
  }
  Act(verb: string, name: string): string {
    this.acts.push([verb, name]);
    this.onAct?.(verb, name);
    return `${verb} ${name}`;
  }
  // Signals: dbus-next sends what these return.
  StateChanged(name: string, state: string, reason: string): string[] {
    return [name, state, reason];
  }
  FocusChanged(workspace: string, vm: string): string[] {
    return [workspace, vm];
  }
}
FakeInterface.configureMembers({
  methods: {
    Status: { inSignature: '', outSignature: 's' },
    Act: { inSignature: 'ss', outSignature: 's' },
  },
  signals: {
    StateChanged: { signature: 'sss' },
    FocusChanged: { signature: 'ss' },
  },
});

export interface FakeDaemon {
  iface: FakeInterface;
  /** Sets the VM's state in Status() and sends StateChanged. */
  setState(name: string, state: VmStatus['state'], reason?: string): void;
  /** Ends the connection: the bus name loses its owner, as when the daemon exits. */
  stop(): void;
}

export async function startFakeDaemon(address: string, status: DaemonStatus): Promise<FakeDaemon> {
  const bus = dbus.sessionBus({ busAddress: address });
  bus.on('error', () => {});
  const iface = new FakeInterface(structuredClone(status));
  bus.export(OBJECT_PATH, iface);
  const reply = await bus.requestName(BUS_NAME, dbus.NameFlag.DO_NOT_QUEUE);
  if (reply !== dbus.RequestNameReply.PRIMARY_OWNER) throw new Error(`could not own ${BUS_NAME} (reply ${reply})`);
  return {
    iface,
    setState(name, state, reason = 'test') {
      const vm = iface.status.vms.find((v) => v.name === name);
      if (!vm) throw new Error(`no VM ${name}`);
      vm.state = state;
      vm.reason = reason;
      iface.StateChanged(name, state, reason);
    },
    stop() {
      bus.disconnect();
    },
  };
}

export function vm(name: string, over: Partial<VmStatus> = {}): VmStatus {
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

export function daemonStatus(vms: VmStatus[], focusedVm: string | null, focusedWorkspace: string | null = '1'): DaemonStatus {
  return { vms, focusedWorkspace, focusedVm, wm: 'sway', configProblems: [] };
}
