/**
 * Requests about one VM beyond running and pausing it: its generations and
 * updates (daemon/updates/), its backups (daemon/backup/), its published
 * identity (vm/identity.ts) and its log. Each replies with what will happen or
 * refuses with a RequestError the D-Bus interface turns into its error name.
 */
import type { BackupList } from '../api/backup-schema.js';
import type { GenerationsReport } from '../api/schema.js';
import { vmPaths, type RuntimeRoots } from '../config/paths.js';
import type { Config } from '../config/schema.js';
import { JoinRequestError, type GuestIdentity } from '../networks/join-request.js';
import { errorMessage } from '../shared/error-message.js';
import type { BackupRunner } from './backup/runner.js';
import { RequestError } from './errors.js';
import type { PolicyLoop } from './loop.js';
import type { ConfigFileAccess } from './updates/follow-origin.js';
import { UpdateRefusedError, type Updater } from './updates/updater.js';
import { IdentityUnavailableError, readIdentity } from './vm/identity.js';
import type { VmSupervisor } from './vm/supervisor.js';
import { readTail } from './vm/vm-process.js';

export interface VmRequestsOptions {
  roots: RuntimeRoots;
  loop: () => PolicyLoop;
  config: () => Config;
  vms: () => VmSupervisor;
  updates: () => Updater;
  backups: () => BackupRunner;
  /** A user verb (the daemon's act): a rollback restarts through it. */
  act: (verb: string, name: string) => Promise<string>;
}

export class VmRequests {
  /** VMs whose update is following its origin (fetching) before it builds. */
  readonly #following = new Set<string>();

  constructor(private readonly options: VmRequestsOptions) {}

  hasVm(name: string): boolean {
    return Object.hasOwn(this.options.loop().state.vms, name);
  }

  #known(name: string): void {
    if (!this.hasVm(name)) throw new RequestError('NoSuchVm', `no VM named "${name}"`);
  }

  // ---- flake VMs' generations and updates ----------------------------------------

  generations(name: string): GenerationsReport {
    return updating(() => this.options.updates().generations(name));
  }

  /**
   * Starts an update; replies once it builds (progress: VmLog; outcome: UpdateEvent). A VM
   * whose flake is a fetched copy first follows where the copy came from (updates/follow-origin.ts).
   */
  async update(name: string, now: boolean, file: ConfigFileAccess): Promise<string> {
    this.#known(name);
    if (this.#following.has(name)) throw new RequestError('InvalidArgument', `${name}: an update is already fetching what its origin names now`);
    this.#following.add(name);
    try {
      // Loaded on first use: the market's fetchers and signature checks cost RSS that a session without a
      // fetched network never needs.
      const { followBeforeUpdate } = await import('./updates/follow-origin.js');
      await followBeforeUpdate(name, { config: this.options.config(), file, note: (message) => this.options.loop().post({ type: 'note', name, message }) });
    } finally {
      this.#following.delete(name);
    }
    return updating(() => this.options.updates().update(name, { now, auto: false }));
  }

  /** Builds the update held for review (updates.review); replies at once, as update does. */
  approveUpdate(name: string, now: boolean): string {
    return updating(() => this.options.updates().approve(name, now));
  }

  /** Selects a generation (0: the healthy one before the selected) for the next start; `now`: restart into it. */
  async rollback(name: string, generation: number, now: boolean): Promise<string> {
    const selected = updating(() => this.options.updates().rollback(name, generation));
    const vm = this.options.loop().state.vms[name];
    const up = vm !== undefined && (vm.state === 'running' || vm.state === 'paused' || vm.state === 'starting');
    if (!now || !up) return `${selected}; it boots at ${name}'s next start`;
    await this.options.act('restart', name);
    return `${selected}; restarting into it`;
  }

  // ---- backups ---------------------------------------------------------------------

  /** A backup now; replies with what will happen (the outcome: BackupChanged). */
  async backupNow(name: string): Promise<string> {
    const { answer } = await this.options.loop().ask({ type: 'backup-request', name });
    if (answer && !answer.ok) throw new RequestError(answer.kind, answer.message);
    return answer?.message ?? `${name}: backup`;
  }

  async backupList(name: string): Promise<BackupList> {
    this.#known(name);
    if (!this.options.config().vms[name]?.backup) throw new RequestError('InvalidArgument', `${name} has no backup setting`);
    try {
      return await this.options.backups().list(name);
    } catch (error) {
      throw new RequestError('Failed', errorMessage(error));
    }
  }

  /** Restores point `id` (null: the latest): the VM is stopped, restored, started again. */
  async restoreBackup(name: string, id: string | null): Promise<string> {
    const { answer } = await this.options.loop().ask({ type: 'restore-request', name, id });
    if (answer && !answer.ok) throw new RequestError(answer.kind, answer.message);
    return answer?.message ?? `${name}: restore`;
  }

  // ---- members and the log -------------------------------------------------------

  /** The VM's published identity (vm/identity.ts), for a join request. */
  async identity(name: string): Promise<GuestIdentity> {
    this.#known(name);
    try {
      return await readIdentity(name, this.options.vms().process(name));
    } catch (error) {
      if (error instanceof IdentityUnavailableError || error instanceof JoinRequestError) throw new RequestError('Failed', error.message);
      throw error;
    }
  }

  /** The last `lines` lines of the VM's log (at most 5000). */
  vmLog(name: string, lines: number): string[] {
    this.#known(name);
    if (lines <= 0) return [];
    const text = readTail(vmPaths(this.options.roots, name).logFile, Math.min(lines, 5000) * 200);
    return text.split('\n').filter((l) => l !== '').slice(-lines);
  }
}

/** An update refused by the updater, as the request's error. */
function updating<T>(run: () => T): T {
  try {
    return run();
  } catch (error) {
    if (error instanceof UpdateRefusedError) throw new RequestError(error.kind, error.message);
    throw error;
  }
}
