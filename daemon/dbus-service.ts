/**
 * The daemon's one API: org.hiboss.Daemon1 on the session bus. The CLI, the bar
 * and the panel all go through it (api/client.ts is their side of it).
 */
import dbus from 'dbus-next';
import { BUS_NAME, daemonInterfaceMembers, Errors, INTERFACE, OBJECT_PATH } from '../api/names.js';
import { VmName } from '../config/schema.js';
import type { Daemon } from './daemon.js';
import { RequestError } from './errors.js';
import { DaemonError } from './errors.js';
import { z } from 'zod';
import { MIC_VERBS } from './policy/microphone.js';
import { ClipDirection } from '../api/clipboard.js';

const MicVerbSchema = z.enum(MIC_VERBS);
import type { BackupSignalKind } from '../api/backup-schema.js';

const { Interface } = dbus.interface;

function toDbusError(error: unknown): dbus.DBusError {
  if (error instanceof RequestError) return new dbus.DBusError(Errors[error.kind], error.message);
  return new dbus.DBusError(Errors.Failed, error instanceof Error ? error.message : String(error));
}

function checkName(name: string): void {
  if (!VmName.safeParse(name).success) throw new dbus.DBusError(Errors.InvalidArgument, `invalid VM name "${name.slice(0, 40)}"`);
}

export class DaemonInterface extends Interface {
  constructor(private readonly daemon: Daemon, readonly version: string) {
    super(INTERFACE);
  }

  get Version(): string {
    return this.version;
  }

  get ConfigPath(): string {
    return this.daemon.configPath;
  }

  Status(): string {
    return JSON.stringify(this.daemon.status());
  }

  /** Replies with what will happen (the last request wins: "acme: start queued: …"). */
  #control(verb: 'start' | 'stop' | 'pause' | 'resume' | 'restart', name: string): Promise<string> {
    checkName(name);
    if (!this.daemon.hasVm(name)) throw new dbus.DBusError(Errors.NoSuchVm, `no VM named "${name}"`);
    return this.daemon.act(verb, name).catch((error) => Promise.reject(toDbusError(error)));
  }

  Start(name: string) {
    return this.#control('start', name);
  }
  Stop(name: string) {
    return this.#control('stop', name);
  }
  Pause(name: string) {
    return this.#control('pause', name);
  }
  Resume(name: string) {
    return this.#control('resume', name);
  }
  Restart(name: string) {
    return this.#control('restart', name);
  }

  Reload(): string[] {
    return this.daemon.reload();
  }

  /** For the bench and debugging: the daemon's own latency marks and memory, as JSON. */
  Diagnostics(): string {
    return JSON.stringify(this.daemon.diagnostics());
  }

  Act(verb: string, name: string): Promise<string> {
    if (name !== '') checkName(name);
    if (!/^[a-z]{1,16}$/.test(verb)) throw new dbus.DBusError(Errors.InvalidArgument, 'invalid verb');
    return this.daemon.act(verb, name).catch((error) => Promise.reject(toDbusError(error)));
  }

  Log(name: string, lines: number): string[] {
    checkName(name);
    try {
      return this.daemon.requests.vmLog(name, Math.min(lines, 5000));
    } catch (error) {
      throw toDbusError(error);
    }
  }

  /** A flake VM's generations (api/schema.ts GenerationsReport), as JSON. */
  Generations(name: string): string {
    checkName(name);
    try {
      return JSON.stringify(this.daemon.requests.generations(name));
    } catch (error) {
      throw toDbusError(error);
    }
  }

  /**
   * Starts building the flake's newest revision; `now`: restart into it once built. A fetched
   * copy first follows its origin (the config may then name a new copy); replies once the build starts.
   */
  Update(name: string, now: boolean): Promise<string> {
    checkName(name);
    const file = { path: this.daemon.configPath, reload: () => this.daemon.reload() };
    return this.daemon.requests.update(name, now, file).catch((error) => Promise.reject(toDbusError(error)));
  }

  /** Builds the update held for the member's review (updates.review); `now`: restart into it once built. Replies at once. */
  ApproveUpdate(name: string, now: boolean): string {
    checkName(name);
    try {
      return this.daemon.requests.approveUpdate(name, now);
    } catch (error) {
      throw toDbusError(error);
    }
  }

  /** Selects a generation (0: the last healthy one before the selected); `now`: restart into it. */
  Rollback(name: string, generation: number, now: boolean): Promise<string> {
    checkName(name);
    return this.daemon.requests.rollback(name, generation, now).catch((error) => Promise.reject(toDbusError(error)));
  }

  /** Backs the VM's disk up now; replies with what will happen (the outcome: BackupChanged). */
  Backup(name: string): Promise<string> {
    checkName(name);
    return this.daemon.requests.backupNow(name).catch((error) => Promise.reject(toDbusError(error)));
  }

  /** The VM's restore points (api/backup-schema.ts BackupList), as JSON. */
  Backups(name: string): Promise<string> {
    checkName(name);
    return this.daemon.requests.backupList(name).then((list) => JSON.stringify(list), (error) => Promise.reject(toDbusError(error)));
  }

  /** Restores point `id` ('' = the latest): the VM is stopped, restored, started again. */
  Restore(name: string, id: string): Promise<string> {
    checkName(name);
    if (id.length > 64 || /[^0-9A-Za-z]/.test(id)) throw new dbus.DBusError(Errors.InvalidArgument, `invalid backup id "${id.slice(0, 64)}"`);
    return this.daemon.requests.restoreBackup(name, id === '' ? null : id).catch((error) => Promise.reject(toDbusError(error)));
  }

  /** Members: the VM's published identity (networks/join-request.ts GuestIdentity), as JSON. */
  Identity(name: string): Promise<string> {
    checkName(name);
    return this.daemon.requests.identity(name).then((identity) => JSON.stringify(identity), (error) => Promise.reject(toDbusError(error)));
  }

  /** `pin` the microphone to a VM ('' = the focused workspace's) or `unpin` it; replies with who hears now. */
  Microphone(verb: string, name: string): Promise<string> {
    if (name !== '') checkName(name);
    const parsed = MicVerbSchema.safeParse(verb);
    if (!parsed.success) throw new dbus.DBusError(Errors.InvalidArgument, `unknown microphone verb "${verb.slice(0, 16)}" (pin or unpin)`);
    return this.daemon.microphone(parsed.data, name === '' ? null : name).catch((error) => Promise.reject(toDbusError(error)));
  }

  /** Text from the host's clipboard `to` a VM's ('' = the focused workspace's), or `from` it to the host's. */
  Clipboard(direction: string, name: string): Promise<string> {
    if (name !== '') checkName(name);
    const parsed = ClipDirection.safeParse(direction);
    if (!parsed.success) throw new dbus.DBusError(Errors.InvalidArgument, `unknown clipboard direction "${direction.slice(0, 16)}" (to or from)`);
    return this.daemon.clipboard(parsed.data, name === '' ? null : name).catch((error) => Promise.reject(toDbusError(error)));
  }

  // Signals: calling the method emits it with the returned values.
  StateChanged(name: string, state: string, reason: string) {
    return [name, state, reason];
  }
  FocusChanged(workspace: string, vm: string) {
    return [workspace, vm];
  }
  ConfigChanged(accepted: boolean, problems: string[]) {
    return [accepted, problems];
  }
  VmLog(name: string, line: string) {
    return [name, line];
  }
  UpdateEvent(name: string, kind: string, message: string) {
    return [name, kind, message];
  }
  BackupChanged(name: string, kind: BackupSignalKind, message: string) {
    return [name, kind, message];
  }
  MicrophoneChanged(vm: string, pinned: boolean) {
    return [vm, pinned];
  }
}

DaemonInterface.configureMembers(daemonInterfaceMembers());

export class NameTakenError extends DaemonError {}

/** Exports the interface and takes the well-known name (refusing to run twice). */
export async function exportService(bus: dbus.MessageBus, iface: DaemonInterface): Promise<void> {
  bus.export(OBJECT_PATH, iface);
  const reply = await bus.requestName(BUS_NAME, dbus.NameFlag.DO_NOT_QUEUE);
  if (reply !== dbus.RequestNameReply.PRIMARY_OWNER && reply !== dbus.RequestNameReply.ALREADY_OWNER) {
    throw new NameTakenError(`another hiboss daemon already owns ${BUS_NAME} on this session bus`);
  }
}
