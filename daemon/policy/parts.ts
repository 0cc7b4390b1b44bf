/**
 * The parts of the policy's record and state that belong to one concern each
 * (memory, health, host, backups): their shapes, events and actions. Like
 * ./types.ts, which gathers them, this imports nothing of the policy.
 */
import type { BackupSignalKind } from '../../api/backup-schema.js';
import type { VmState as ReportedState } from '../../api/schema.js';

/** What a VM is doing; the API adds `unresponsive`, which is about QEMU's answers, not the VM. */
export type VmState = Exclude<ReportedState, 'unresponsive'>;

// ---- memory's part of the record ---------------------------------------------------------

/** What the memory decisions remember of one VM (replaced, never mutated: decisions copy records shallowly). */
export interface MemoryRecord {
  /** Resident memory of its QEMU at the last sample (bytes); null without a QEMU or a sample. */
  rssBytes: number | null;
  /** Resident memory when it was saved: roughly what a restore brings back (the budget counts it). */
  rssBeforeSave: number | null;
  /** The most its QEMU was seen to hold (kept across saves): what it may grow back to once it runs again. */
  peakRssBytes: number | null;
  /** When it was last the focused workspace's VM (epoch ms; now while it is): the budget's order. */
  lastFocusedAt: number | null;
  /** When it was last restored early (prewarm): hibernated again only after hibernateAfterMs from then. */
  prewarmedAt: number | null;
  /** The user asked for it to be saved (the hold is `paused`). */
  hibernateRequested: boolean;
  /** Restore it, but do not run it (prewarm). */
  prewarmRequested: boolean;
  /** Chosen by the memory budget: saved as soon as it is paused. */
  budgetPicked: boolean;
  /** Why the save in flight was asked (the `hibernated` reason says it). */
  saveWhy: string | null;
  /** The last save failed: no automatic save until its workspace is shown again. */
  saveFailed: boolean;
  /** The image of a hibernated VM. */
  image: ImageInfo | null;
  /** Why the last save or restore failed (status shows it until the next success). */
  problem: string | null;
  /** A restore failed: the cold boot that follows says why. */
  coldBootBecause: string | null;
  lastSaveMs: number | null;
  lastRestoreMs: number | null;
  /** Its balloon was inflated to its working set before a pause (balloonBeforePause): a resume deflates it. */
  shrunk: boolean;
  /** Its restore (or cold start) waits for saves to free memory (the budget, memoryBudgetStrict); null otherwise. */
  waiting: MemoryWait | null;
  /** Focus just left it and the WM has not said yet whether its workspace is out of sight: the budget may yet take it. */
  mayBeHidden: boolean;
}

/**
 * A restore or cold start held back by the budget. The VM shows `restoring` (or
 * `starting`) meanwhile; `from` is what it was, what it goes back to when the
 * wait is called off (focus moved on, a later request).
 */
export interface MemoryWait {
  from: VmState;
  fromReason: string;
  fromSince: number;
  /** When the wait began (epoch ms). */
  since: number;
  /** The VMs whose saves it waits for: one that fails lets it go on. */
  saves: string[];
}

export interface ImageInfo {
  bytes: number;
  /** Epoch ms the save completed. */
  savedAt: number;
}

// ---- health's part of the record ---------------------------------------------------------

export interface GenerationRef {
  generation: number;
  revision: string;
}

export interface HealthWindow extends GenerationRef {
  /** The generation to go back to if this one fails (null: none was healthy). */
  previous: GenerationRef | null;
  /** When QEMU started with this generation (epoch ms). */
  bootedAt: number;
  /** Judged failed if the agent has not answered by then (moved on by the time spent paused). */
  deadline: number;
  /** Paused by hand since (the guest cannot answer while paused): the clock stops. */
  pausedAt: number | null;
}

/** What the I/O side says when a window opens (at boot, or found open by a restarted daemon). */
export interface WindowStart extends GenerationRef {
  previous: GenerationRef | null;
  bootedAt: number;
  deadline: number;
  /** False: the daemon came back and the QEMU of the window is gone. */
  running: boolean;
  /** Found open by a daemon that restarted during the window. */
  restored: boolean;
}

// ---- the host's part of the state --------------------------------------------------------

export interface HostState {
  /** Between PrepareForSleep(true) and PrepareForSleep(false). */
  asleep: boolean;
  /** The login session is locked (logind Lock / LockedHint). */
  locked: boolean;
  /** The sleep delay lock is held until every VM is paused, or this deadline (epoch ms). */
  sleepLockDeadline: number | null;
  /** VMs that were paused through a sleep or lock: their clock is set when they run again. */
  clockStale: string[];
}

export type HostEvent =
  /** logind PrepareForSleep(true): it waits for our delay lock at most `releaseWithinMs`. */
  | { type: 'sleep'; releaseWithinMs: number }
  /** logind PrepareForSleep(false). */
  | { type: 'wake' }
  | { type: 'lock' }
  | { type: 'unlock' };

// ---- backups' part of the state ----------------------------------------------------------

export interface BackupSpec {
  everyHours: number;
  /** For status and messages: the directory or "restic:…". */
  target: string;
}

export interface BackupPoint {
  id: string;
  /** Epoch ms: the instant the disk was copied. */
  at: number;
  kind: 'full' | 'incremental';
  bytes: number | null;
}

export type BackupJob =
  | { kind: 'backup'; live: boolean; since: number; cancelling: boolean }
  | { kind: 'restore'; id: string | null; since: number };

export interface VmBackup {
  spec: BackupSpec;
  /** Its history has been read: until then nothing is due and nothing is judged. */
  known: boolean;
  /** When this daemon first saw the setting (the first backup is due soon after). */
  firstSeenAt: number;
  /** Since when it is configured for backups (kept across daemons). */
  configuredSince: number | null;
  lastGood: BackupPoint | null;
  lastFailure: { at: number; reason: string } | null;
  retryAt: number | null;
  /** Asked for by the user ("run now"). */
  runRequested: boolean;
  job: BackupJob | null;
  /** A restore asked for and not yet started (the VM is being stopped first). */
  restore: { id: string | null; startAfter: boolean } | null;
  /** As last told. */
  unbacked: boolean;
  unbackedNotifiedAt: number | null;
}

export interface BackupState {
  vms: Record<string, VmBackup>;
}

export type BackupEvent =
  /** The VM's backup history, read from its state dir. */
  | { type: 'backup-known'; name: string; configuredSince: number; lastGood: BackupPoint | null; lastFailure: { at: number; reason: string } | null }
  | { type: 'backup-request'; name: string }
  | { type: 'restore-request'; name: string; id: string | null }
  | { type: 'backup-done'; name: string; point: BackupPoint; message: string }
  /** `cancelled`: the VM had to start (or the daemon stops); not worth a notification. */
  | { type: 'backup-failed'; name: string; reason: string; cancelled?: boolean }
  | { type: 'restore-done'; name: string; id: string; message: string }
  | { type: 'restore-failed'; name: string; reason: string };

export type { BackupSignalKind };

export type BackupAction =
  /** Back the VM's disk up: live through its QEMU, or offline from its disk file. */
  | { type: 'backup-run'; name: string; live: boolean }
  | { type: 'backup-cancel'; name: string; reason: string }
  /** Restore the disk (the VM is down): point `id`, or the latest. */
  | { type: 'backup-restore'; name: string; id: string | null }
  /** Told: the BackupChanged signal (bar and panel refresh on it). */
  | { type: 'backup-changed'; name: string; kind: BackupSignalKind; message: string };

// ---- the microphone's part of the state (./microphone.ts) --------------------------------

export interface MicrophoneState {
  /** The VM the user pinned the microphone to (until unpin, a lock or a sleep). */
  pinned: string | null;
  /** The VM whose capture is unmuted now; null: nobody hears the member. */
  holder: string | null;
}

export const MIC_VERBS = ['pin', 'unpin'] as const;
export type MicVerb = (typeof MIC_VERBS)[number];

/** `hiboss mic pin VM` / `hiboss mic unpin` (the D-Bus Microphone method). */
export type MicrophoneEvent = { type: 'mic'; verb: MicVerb; name: string | null };

/** Mute every VM's capture stream but the holder's (null: every one). */
export type MicrophoneAction = { type: 'microphone'; holder: string | null; pinned: boolean };

export type MicrophoneAnswer = { ok: true; message: string } | { ok: false; kind: 'InvalidArgument' | 'NoSuchVm'; message: string };
