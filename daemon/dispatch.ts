/**
 * The policy's actions carried out: operations at once, in the event's tick,
 * each by the part it belongs to (VMs, updates, backups, holds, the host, the
 * desktop); what is told to the world (log, D-Bus signals, notifications) after,
 * in one batch, so a `cont` is never queued behind a signal.
 */
import type { VmState } from '../api/schema.js';
import { announce, type AnnouncerOptions, type Signals } from './announce.js';
import type { BackupRunner } from './backup/runner.js';
import type { Desktop } from './desktop.js';
import type { HoldKeeper } from './holds.js';
import type { LogindWatch } from './host/logind.js';
import type { Logger } from './log.js';
import type { Action, TellAction } from './policy/policy.js';
import { unhandled } from './policy/types.js';
import type { CpuBaselines } from './status.js';
import type { Updater } from './updates/updater.js';
import type { VmSupervisor } from './vm/supervisor.js';

/** The daemon's parts the actions go to (getters: some are made after the dispatcher). */
export interface DispatchParts {
  logger: Logger;
  signals: () => Signals | undefined;
  notify: (summary: string, body: string, urgency: 'low' | 'normal' | 'critical') => void;
  desktop: () => Desktop;
  vms: () => VmSupervisor;
  updates: () => Updater;
  backups: () => BackupRunner;
  holds: () => HoldKeeper;
  logind: () => LogindWatch | undefined;
  cpu: CpuBaselines;
  /** Sets a VM's guest clock (host/guest-clock.ts). */
  syncClock: (name: string) => void;
  /** The focused workspace's VM changed: the WM's focused frame takes its colour. */
  focusChanged: (vm: string) => void;
  /** The session ended and every VM is down. */
  exit: () => void;
  now: () => number;
}

export class Dispatcher {
  #announcements: (TellAction | Extract<Action, { type: 'exit' }>)[] = [];
  #flushScheduled = false;

  readonly #announcer: AnnouncerOptions;

  constructor(private readonly parts: DispatchParts) {
    this.#announcer = {
      logger: parts.logger,
      signals: parts.signals,
      notify: parts.notify,
      onStateChanged: (name, state: VmState) => {
        parts.desktop().stateChanged(state);
        if (state === 'running') parts.cpu.reset(name, parts.vms().process(name)?.pid, parts.now());
      },
    };
  }


  /** Operations now, in the event's tick; what is told to the world after, in one batch. */
  perform(actions: Action[]): void {
    for (const action of actions) {
      switch (action.type) {
        case 'microphone':
          this.parts.desktop().hearing(action.holder, action.pinned);
          // No sound server, no microphone to tell of (status() shows none either): no D-Bus signal per switch.
          if (this.parts.desktop().hasSound) this.#announcements.push(action);
          break;
        case 'forget':
          this.parts.cpu.forget(action.name);
          this.parts.logger.forget(action.name);
          this.parts.vms().carryOut(action);
          break;
        case 'start':
        case 'resume':
        case 'pause':
        case 'powerdown':
        case 'quit':
        case 'hibernate':
        case 'restore':
        case 'shrink':
          this.parts.vms().carryOut(action);
          break;
        case 'judged':
          this.parts.updates().carryOut(action);
          break;
        case 'backup-run':
        case 'backup-cancel':
        case 'backup-restore':
          this.parts.backups().carryOut(action);
          break;
        case 'hold-changed':
          this.parts.holds().keep(action.name, action.hold);
          break;
        case 'release-sleep-lock':
          this.parts.logind()?.releaseSleepLock();
          break;
        case 'sync-clock':
          this.parts.syncClock(action.name);
          break;
        case 'update-event':
          this.parts.updates().remember(action);
          this.#announcements.push(action);
          break;
        case 'changed':
        case 'focus-changed':
        case 'config-changed':
        case 'notify':
        case 'log':
        case 'backup-changed':
        case 'exit':
          this.#announcements.push(action);
          break;
        default:
          unhandled(action);
      }
    }
    if (this.#announcements.length && !this.#flushScheduled) {
      this.#flushScheduled = true;
      setImmediate(() => this.#flush());
    }
  }

  #flush(): void {
    this.#flushScheduled = false;
    const batch = this.#announcements;
    this.#announcements = [];
    for (const action of batch) {
      if (action.type === 'exit') {
        this.parts.logger.info('session ended and every VM is down: exiting');
        this.parts.exit();
        continue;
      }
      if (action.type === 'focus-changed') this.parts.focusChanged(action.vm);
      announce(action, this.#announcer);
    }
  }
}
