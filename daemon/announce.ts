/**
 * What the policy decided to tell the world, told: the log, the VM's log file,
 * the D-Bus signals and desktop notifications. Run after the decision's
 * operations, so a `cont` is never queued behind a signal.
 */
import type { BackupSignalKind } from '../api/backup-schema.js';
import type { VmState } from '../api/schema.js';
import type { Logger } from './log.js';
import { unhandled, type TellAction } from './policy/types.js';

/** The D-Bus signals (daemon/dbus-service.ts emits them). */
export interface Signals {
  stateChanged(name: string, state: VmState, reason: string): void;
  focusChanged(workspace: string, vm: string): void;
  configChanged(accepted: boolean, problems: string[]): void;
  vmLog(name: string, line: string): void;
  /** A flake VM's update: building, built, build-failed, up-to-date, healthy, failed, rolled-back. */
  updateEvent?(name: string, kind: string, message: string): void;
  /** Backups: api/backup-schema.ts BACKUP_SIGNAL_KINDS. */
  backupChanged?(name: string, kind: BackupSignalKind, message: string): void;
  /** Sound: the VM that hears the member ('' = nobody), pinned or following focus. */
  microphoneChanged?(vm: string, pinned: boolean): void;
}

export interface AnnouncerOptions {
  logger: Logger;
  signals: () => Signals | undefined;
  notify: (summary: string, body: string, urgency: 'low' | 'normal' | 'critical') => void;
  /** A VM changed state (the status' CPU % counts from here). */
  onStateChanged?: (name: string, state: VmState) => void;
}

export function announce(action: TellAction, options: AnnouncerOptions): void {
  const { logger } = options;
  const signals = options.signals();
  switch (action.type) {
    case 'changed':
      options.onStateChanged?.(action.name, action.state);
      logger.vm(action.name, `${action.state}: ${action.reason}`);
      // Not repeated as VmLog: clients show StateChanged in their logs themselves.
      signals?.stateChanged(action.name, action.state, action.reason);
      return;
    case 'focus-changed':
      signals?.focusChanged(action.workspace, action.vm);
      return;
    case 'config-changed':
      if (action.accepted) logger.info('config applied');
      signals?.configChanged(action.accepted, action.problems);
      return;
    case 'notify':
      options.notify(action.summary, action.body, action.urgency);
      return;
    case 'update-event':
      signals?.updateEvent?.(action.name, action.kind, action.message);
      return;
    case 'backup-changed':
      signals?.backupChanged?.(action.name, action.kind, action.message);
      return;
    case 'microphone':
      // Logged by the daemon only where there is a sound server (daemon/sound/): no line per switch otherwise.
      signals?.microphoneChanged?.(action.holder ?? '', action.pinned);
      return;
    case 'log':
      if (action.name === null) {
        if (action.level === 'warn') logger.warn(action.message);
        else logger.info(action.message);
        return;
      }
      logger.vm(action.name, action.message, action.level);
      signals?.vmLog(action.name, action.message);
      return;
    default:
      return unhandled(action);
  }
}
