/**
 * The client side of the daemon's D-Bus API, shared by the CLI, the bar and the
 * panel. It follows the daemon across restarts: `up`/`down` tell when the
 * daemon's name gains or loses its owner, and signals flow again afterwards.
 */
import dbus from 'dbus-next';
import { EventEmitter } from 'node:events';
import { BUS_NAME, Errors, INTERFACE, OBJECT_PATH } from './names.js';
import { DaemonStatus, Diagnostics, GenerationsReport, VmState, type Verb } from './schema.js';
import { GuestIdentity, MAX_GUEST_IDENTITY_BYTES } from '../networks/join-request.js';
import { BackupList, BackupSignalKind } from './backup-schema.js';
import { closeBus } from './bus.js';
import { errorMessage } from '../shared/error-message.js';

export class DaemonUnavailableError extends Error {
  override name = 'DaemonUnavailableError';
}

/** A method call the daemon refused; `dbusName` is one of api/names.ts Errors. */
export class DaemonCallError extends Error {
  override name = 'DaemonCallError';
  constructor(readonly dbusName: string, message: string) {
    super(message);
  }
}

/** Bus errors that mean "no daemon answered", by name. */
const DAEMON_AWAY = new Set([
  'org.freedesktop.DBus.Error.ServiceUnknown',
  'org.freedesktop.DBus.Error.NoReply',
  'org.freedesktop.DBus.Error.Disconnected',
  'org.freedesktop.DBus.Error.NameHasNoOwner',
]);

export interface StateChange {
  name: string;
  state: VmState;
  reason: string;
}

type ClientEvents = {
  state: [StateChange];
  focus: [{ workspace: string; vm: string }];
  config: [{ accepted: boolean; problems: string[] }];
  log: [{ name: string; line: string }];
  /** A flake VM's update (kind: building, built, build-failed, up-to-date, held, healthy, failed, rolled-back). */
  update: [{ name: string; kind: string; message: string }];
  /** Backups: api/backup-schema.ts BACKUP_SIGNAL_KINDS (a kind this client does not know is dropped). */
  backup: [{ name: string; kind: BackupSignalKind; message: string }];
  /** Sound: the VM that hears the member (null: nobody), pinned or following focus. */
  microphone: [{ vm: string | null; pinned: boolean }];
  /** The daemon appeared (or re-appeared after a restart). */
  up: [];
  /** The daemon's bus name lost its owner. */
  down: [];
};

interface DaemonInterface extends dbus.ClientInterface {
  Status(): Promise<string>;
  Start(name: string): Promise<string>;
  Stop(name: string): Promise<string>;
  Pause(name: string): Promise<string>;
  Resume(name: string): Promise<string>;
  Restart(name: string): Promise<string>;
  Reload(): Promise<string[]>;
  Act(verb: string, name: string): Promise<string>;
  Log(name: string, lines: number): Promise<string[]>;
  Diagnostics(): Promise<string>;
  Generations(name: string): Promise<string>;
  Update(name: string, now: boolean): Promise<string>;
  ApproveUpdate(name: string, now: boolean): Promise<string>;
  Rollback(name: string, generation: number, now: boolean): Promise<string>;
  Backup(name: string): Promise<string>;
  Backups(name: string): Promise<string>;
  Restore(name: string, id: string): Promise<string>;
  Identity(name: string): Promise<string>;
  Microphone(verb: string, name: string): Promise<string>;
  Clipboard(direction: string, name: string): Promise<string>;
}

export interface DaemonClientOptions {
  /** A bus address; default: DBUS_SESSION_BUS_ADDRESS. */
  busAddress?: string | undefined;
  /** Method call timeout (default 10 s): a hung daemon must not hang its clients. */
  callTimeoutMs?: number;
}

const MAX_STATUS_BYTES = 4 * 1024 * 1024;
/**
 * How long `Update` may take to reply: the daemon follows a fetched copy's origin before it answers, and
 * bounds each fetch itself (the market's fetchTimeoutMs, 60 s by default, per source tried).
 */
const UPDATE_CALL_TIMEOUT_MS = 10 * 60_000;

export class DaemonClient extends EventEmitter<ClientEvents> {
  #iface: DaemonInterface | undefined;
  #closed = false;

  private constructor(private readonly bus: dbus.MessageBus, private readonly options: DaemonClientOptions) {
    super();
  }

  /**
   * Connects to the session bus. With `requireDaemon` (the CLI), a missing daemon
   * is an error; without it (bar, panel), the client waits for `up`.
   */
  static async connect(options: DaemonClientOptions & { requireDaemon?: boolean } = {}): Promise<DaemonClient> {
    const address = options.busAddress ?? process.env.DBUS_SESSION_BUS_ADDRESS;
    if (!address) throw new DaemonUnavailableError('no session bus: DBUS_SESSION_BUS_ADDRESS is not set');
    const bus = dbus.sessionBus({ busAddress: address });
    const client = new DaemonClient(bus, options);
    // dbus-next reports a broken bus connection as an 'error' event; without a listener it would crash us.
    bus.on('error', () => client.#markDown());
    // A bus that cannot be reached (a stale address) errors without failing the pending
    // calls: race them against that error and a deadline, so connect() always settles.
    let timer: NodeJS.Timeout | undefined;
    const unreachable = new Promise<never>((_, reject) => {
      bus.once('error', (error: Error) => reject(new DaemonUnavailableError(`cannot reach the session bus at ${address}: ${error.message}`)));
      timer = setTimeout(() => reject(new DaemonUnavailableError(`the session bus at ${address} did not answer`)), options.callTimeoutMs ?? 10_000);
    });
    try {
      await Promise.race([
        (async () => {
          await client.#watchOwner();
          await client.#attach();
        })(),
        unreachable,
      ]);
    } catch (error) {
      closeBus(bus);
      throw error instanceof DaemonUnavailableError ? error : new DaemonUnavailableError(`cannot reach the session bus: ${errorMessage(error)}`);
    } finally {
      clearTimeout(timer);
      unreachable.catch(() => undefined);
    }
    if (options.requireDaemon && !client.#iface) {
      closeBus(bus);
      throw new DaemonUnavailableError(`the hiboss daemon is not running (no owner for ${BUS_NAME} on the session bus)`);
    }
    return client;
  }

  get available(): boolean {
    return this.#iface !== undefined;
  }

  async status(): Promise<DaemonStatus> {
    const text = await this.#call((d) => d.Status());
    if (text.length > MAX_STATUS_BYTES) throw new DaemonCallError(Errors.Failed, `the daemon's status reply is over ${MAX_STATUS_BYTES} bytes`);
    return DaemonStatus.parse(JSON.parse(text));
  }

  start(name: string) {
    return this.#call((d) => d.Start(name));
  }
  stop(name: string) {
    return this.#call((d) => d.Stop(name));
  }
  pause(name: string) {
    return this.#call((d) => d.Pause(name));
  }
  resume(name: string) {
    return this.#call((d) => d.Resume(name));
  }
  restart(name: string) {
    return this.#call((d) => d.Restart(name));
  }
  /** Re-reads the config file; resolves with its problems (empty: applied). */
  reload() {
    return this.#call((d) => d.Reload());
  }
  /** A key/click verb; `name` empty means the focused workspace's VM. Resolves with what was done. */
  act(verb: Verb, name = '') {
    return this.#call((d) => d.Act(verb, name));
  }
  /** The last lines of the VM's log (QEMU output, serial console, the daemon's events for it). */
  log(name: string, lines = 200) {
    return this.#call((d) => d.Log(name, lines));
  }
  /** The daemon's latency marks and memory (the bench reads them after its loop). */
  async diagnostics(): Promise<Diagnostics> {
    const text = await this.#call((d) => d.Diagnostics());
    if (text.length > MAX_STATUS_BYTES) throw new DaemonCallError(Errors.Failed, `the daemon's diagnostics reply is over ${MAX_STATUS_BYTES} bytes`);
    return Diagnostics.parse(JSON.parse(text));
  }

  /** A flake VM's generations, newest first, and the one its next start boots. */
  async generations(name: string): Promise<GenerationsReport> {
    const text = await this.#call((d) => d.Generations(name));
    if (text.length > MAX_STATUS_BYTES) throw new DaemonCallError(Errors.Failed, `the daemon's generations reply is over ${MAX_STATUS_BYTES} bytes`);
    return GenerationsReport.parse(JSON.parse(text));
  }
  /** Starts an update (a build of the flake's newest revision); `now`: restart into it once built. */
  update(name: string, now = false) {
    // A fetched copy's update first follows its origin in the daemon (a catalogue or a repository fetched
    // again, each attempt bounded by the market's fetchTimeoutMs): it replies once that is done, not at once.
    return this.#call((d) => d.Update(name, now), UPDATE_CALL_TIMEOUT_MS);
  }

  /** Builds the update held for review (updates.review); `now`: restart into it once built. */
  approveUpdate(name: string, now = false) {
    return this.#call((d) => d.ApproveUpdate(name, now));
  }
  /** Selects `generation` (0: the last healthy one before the selected); `now`: restart into it. */
  rollback(name: string, generation = 0, now = false) {
    return this.#call((d) => d.Rollback(name, generation, now));
  }

  /** Backs the VM's disk up now (the outcome comes as a `backup` event: done or failed). */
  backup(name: string) {
    return this.#call((d) => d.Backup(name));
  }
  /** The VM's restore points, oldest first. */
  async backups(name: string): Promise<BackupList> {
    const text = await this.#call((d) => d.Backups(name));
    if (text.length > MAX_STATUS_BYTES) throw new DaemonCallError(Errors.Failed, `the daemon's backup list is over ${MAX_STATUS_BYTES} bytes`);
    return BackupList.parse(JSON.parse(text));
  }
  /** Restores point `id` (null: the latest): the VM is stopped, restored, started again (outcome: a `backup` event). */
  restoreBackup(name: string, id: string | null) {
    return this.#call((d) => d.Restore(name, id ?? ''));
  }

  /** The VM's published public identity, for `hiboss network identity`. */
  async identity(name: string): Promise<GuestIdentity> {
    const text = await this.#call((d) => d.Identity(name));
    if (text.length > MAX_GUEST_IDENTITY_BYTES) throw new DaemonCallError(Errors.Failed, `the daemon's identity reply is over ${MAX_GUEST_IDENTITY_BYTES} bytes`);
    return GuestIdentity.parse(JSON.parse(text));
  }

  /** Sound: pin the microphone to `name` ('' = the focused VM) or unpin it. */
  microphone(verb: 'pin' | 'unpin', name = '') {
    return this.#call((d) => d.Microphone(verb, name));
  }
  /** Clipboard by hand: the host's text `to` the VM's clipboard, or `from` it to the host's. */
  clipboard(direction: 'to' | 'from', name = '') {
    return this.#call((d) => d.Clipboard(direction, name));
  }

  /** The config file the running daemon reads (its --config): where `hiboss join` writes. */
  async configPath(): Promise<string> {
    const value = await this.#call(async () => {
      const proxy = await this.bus.getProxyObject(BUS_NAME, OBJECT_PATH);
      const props = proxy.getInterface('org.freedesktop.DBus.Properties');
      return (await props.Get!(INTERFACE, 'ConfigPath')) as { value: unknown };
    });
    if (typeof value.value !== 'string' || !value.value.startsWith('/') || value.value.length > 4096 || /[\u0000-\u001f]/.test(value.value)) {
      throw new DaemonCallError(Errors.Failed, 'the daemon sent no usable ConfigPath');
    }
    return value.value;
  }

  /**
   * Resolves with the next state change of `name` that satisfies `predicate`
   * (a change before the call is not seen: to wait for a state that an action
   * may already have brought about, use untilState).
   */
  waitForState(name: string, predicate: (change: StateChange) => boolean, timeoutMs: number): Promise<StateChange> {
    return this.#nextState(name, predicate, timeoutMs).promise;
  }

  /**
   * Resolves as soon as `name` is in a state that satisfies `predicate`: at once
   * if it is now, else at the change that brings it there. It listens before it
   * asks for the status, so a change cannot slip in between — whatever the
   * machine's load, and whether the state came before or after the call.
   */
  async untilState(name: string, predicate: (change: StateChange) => boolean, timeoutMs: number): Promise<StateChange> {
    const next = this.#nextState(name, predicate, timeoutMs);
    try {
      const vm = (await this.status()).vms.find((v) => v.name === name);
      const now = vm ? { name, state: vm.state, reason: vm.reason } : null;
      if (now && predicate(now)) {
        next.cancel();
        return now;
      }
    } catch (error) {
      next.cancel();
      throw error;
    }
    return next.promise;
  }

  #nextState(name: string, predicate: (change: StateChange) => boolean, timeoutMs: number): { promise: Promise<StateChange>; cancel: () => void } {
    let cancel = () => {};
    const promise = new Promise<StateChange>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.off('state', listener);
        reject(new Error(`${name}: no matching state change within ${timeoutMs} ms`));
      }, timeoutMs);
      const listener = (change: StateChange) => {
        if (change.name !== name || !predicate(change)) return;
        clearTimeout(timer);
        this.off('state', listener);
        resolve(change);
      };
      cancel = () => {
        clearTimeout(timer);
        this.off('state', listener);
      };
      this.on('state', listener);
    });
    return { promise, cancel };
  }

  close(): void {
    this.#closed = true;
    closeBus(this.bus);
  }

  async #call<T>(fn: (iface: DaemonInterface) => Promise<T>, atLeastMs = 0): Promise<T> {
    const iface = this.#iface;
    if (!iface) throw new DaemonUnavailableError('the hiboss daemon is not running');
    const timeoutMs = Math.max(this.options.callTimeoutMs ?? 10_000, atLeastMs);
    let timer: NodeJS.Timeout | undefined;
    try {
      return await Promise.race([
        fn(iface),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new DaemonUnavailableError(`the daemon did not answer within ${timeoutMs} ms`)), timeoutMs);
        }),
      ]);
    } catch (error) {
      if (error instanceof dbus.DBusError) {
        if (DAEMON_AWAY.has(error.type)) {
          throw new DaemonUnavailableError(`the hiboss daemon is not running (${error.text})`);
        }
        throw new DaemonCallError(error.type, error.text);
      }
      throw error;
    } finally {
      clearTimeout(timer);
    }
  }

  async #watchOwner(): Promise<void> {
    const busProxy = await this.bus.getProxyObject('org.freedesktop.DBus', '/org/freedesktop/DBus');
    const busIface = busProxy.getInterface('org.freedesktop.DBus');
    busIface.on('NameOwnerChanged', (name: string, _old: string, owner: string) => {
      if (name !== BUS_NAME || this.#closed) return;
      if (owner === '') this.#markDown();
      else void this.#attach();
    });
  }

  #markDown(): void {
    if (!this.#iface) return;
    this.#iface.removeAllListeners();
    this.#iface = undefined;
    this.emit('down');
  }

  async #attach(): Promise<void> {
    let iface: DaemonInterface;
    try {
      const proxy = await this.bus.getProxyObject(BUS_NAME, OBJECT_PATH);
      iface = proxy.getInterface<DaemonInterface>(INTERFACE);
    } catch {
      return; // not running (yet): NameOwnerChanged brings us back here
    }
    if (this.#closed) return;
    this.#iface?.removeAllListeners();
    iface.on('StateChanged', (name: string, state: string, reason: string) => {
      const parsed = VmState.safeParse(state);
      if (parsed.success) this.emit('state', { name, state: parsed.data, reason });
    });
    iface.on('FocusChanged', (workspace: string, vm: string) => this.emit('focus', { workspace, vm }));
    iface.on('ConfigChanged', (accepted: boolean, problems: string[]) => this.emit('config', { accepted, problems }));
    iface.on('VmLog', (name: string, line: string) => this.emit('log', { name, line }));
    iface.on('UpdateEvent', (name: string, kind: string, message: string) => this.emit('update', { name, kind, message }));
    iface.on('BackupChanged', (name: string, kind: string, message: string) => {
      const parsed = BackupSignalKind.safeParse(kind);
      if (parsed.success) this.emit('backup', { name, kind: parsed.data, message });
    });
    iface.on('MicrophoneChanged', (vm: string, pinned: boolean) => this.emit('microphone', { vm: vm === '' ? null : vm, pinned }));
    this.#iface = iface;
    this.emit('up');
  }
}
