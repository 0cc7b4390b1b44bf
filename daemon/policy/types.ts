/**
 * The policy's shared vocabulary: what a VM's record holds, what the policy is
 * told (events), what it asks (actions), what it answers. Every concern module
 * of the policy (lifecycle, memory, backups, host, health, holds) works on its
 * own part of these shapes; this module imports nothing of the policy, so any
 * of them may import it without a circle. The parts that belong to one
 * concern each are declared in ./parts.ts and gathered here.
 *
 * Parts of the record, by owner:
 * - lifecycle (./lifecycle.ts): state, reason, since, op…retryAt, failures, restarts;
 * - holds (./holds.ts): hold, runRequested, restartRequested;
 * - workspaces (./workspaces.ts): hiddenSince, removed, spec;
 * - memory (./memory.ts, ./budget.ts): `memory`;
 * - health (./health.ts): `health`, rollbackReason;
 * - host (./host.ts): PolicyState.host; backups (./backup.ts): PolicyState.backups.
 */
import type { Hold, VmState as ReportedState, UpdateEventKind, UpdateProgressKind } from '../../api/schema.js';
import type { PolicyConfig, WhenHidden } from '../../config/schema.js';
import type { WorkspaceRef } from '../../config/workspaces.js';
import type { BackupAction, BackupEvent, BackupSpec, BackupState, HealthWindow, HostEvent, HostState, ImageInfo, MicrophoneAction, MicrophoneEvent, MicrophoneState, MemoryRecord, VmState, WindowStart } from './parts.js';

export type * from './parts.js';

export type { ReportedState, WorkspaceRef };

/** Down: no QEMU, and nothing saved to come back from. */
export function isDown(state: VmState): boolean {
  return state === 'stopped' || state === 'failed';
}

/** States in which a VM holds no QEMU and needs nothing more (the session may end, a removed VM be forgotten). */
export function atRest(state: VmState): boolean {
  return state === 'stopped' || state === 'failed' || state === 'hibernated';
}

export type { WhenHidden };

export interface VmSpec {
  name: string;
  workspace: string | null;
  restart: 'on-failure' | 'never';
  /** false opts out of hibernation; the size counts for the budget until measured. */
  hibernate?: boolean;
  /** false: no balloon of ours (nothing to shrink before a pause). */
  balloon?: boolean;
  memoryMiB?: number | null;
  /** Backups: how often, and where to (./backup.ts decides). */
  backup?: BackupSpec;
  /** 'run': never paused (nor saved, nor picked by the budget) for being out of sight. */
  whenHidden?: WhenHidden;
  /** false: no audio device (the microphone never goes to it). */
  audio?: boolean;
}

/** The policy's settings are the config's `policy` section, defaults included. */
export type PolicySettings = PolicyConfig;

/** The memory operations; `awaitingReply` does not apply (a save takes as long as the RAM is large). */
export type MemoryOp = 'hibernate' | 'restore' | 'shrink';

export function isMemoryOp(op: Operation | null): op is MemoryOp {
  return op === 'hibernate' || op === 'restore' || op === 'shrink';
}

/** What the policy asks of the supervisor, one at a time per VM. */
export type Operation = 'start' | 'pause' | 'resume' | 'stop' | MemoryOp;

export type { Hold };

export interface VmRecord {
  spec: VmSpec;
  state: VmState;
  reason: string;
  /** When `state` last changed (epoch ms). */
  since: number;
  /** The operation asked of the supervisor and not yet seen to land. */
  op: Operation | null;
  /** When `op` was asked. */
  opSince: number | null;
  /** A QMP command of `op` is written and its answer not yet back. */
  awaitingReply: boolean;
  /** QEMU has not answered a command for `unresponsiveAfterMs`: since when (null: it answers). */
  unresponsiveSince: number | null;
  hold: Hold | null;
  /** The user asked for it to run (start/resume/toggle) and it is not running yet. */
  runRequested: boolean;
  restartRequested: boolean;
  /** When its workspace stopped being visible; null while visible or without workspace. */
  hiddenSince: number | null;
  failures: number[];
  /** Failures since the daemon started (for status). */
  restarts: number;
  restartAt: number | null;
  quitAt: number | null;
  /** After a failed pause/resume/stop, no new operation before this time. */
  retryAt: number | null;
  removed: boolean;
  lastColdBootMs: number | null;
  lastResumeMs: number | null;
  /** A new generation of a flake VM being judged (./health.ts); null otherwise. */
  health: HealthWindow | null;
  /** A rollback's start is under way: its reason (cleared once it runs). */
  rollbackReason: string | null;
  /** Hibernation, budget, prewarm (./memory.ts). */
  memory: MemoryRecord;
}

export interface PolicyState {
  settings: PolicySettings;
  vms: Record<string, VmRecord>;
  focused: WorkspaceRef | null;
  visible: WorkspaceRef[];
  sessionEnding: boolean;
  /** Problems of the config file as it is on disk (empty: it is in force). */
  configProblems: string[];
  /** The focus last announced, so that FocusChanged goes out once per change. */
  announcedFocus: { workspace: string; vm: string } | null;
  /** The machine's sleep and the session's lock (./host.ts). */
  host: HostState;
  /** Backups and restores (./backup.ts). */
  backups: BackupState;
  /** Who hears the member (./microphone.ts). */
  mic: MicrophoneState;
}

// ---- events, actions, answers ------------------------------------------------------------

export type UserVerb = 'start' | 'stop' | 'pause' | 'resume' | 'restart' | 'toggle' | 'hibernate' | 'prewarm';

/** An adopted QEMU whose save the last daemon did not finish (its reason and status say so). */
export const SAVE_INTERRUPTED = 'its save to disk was interrupted when the last daemon ended; it stays paused in RAM';

/** How a build of an update goes (api/schema.ts declares the UpdateEvent kinds). */
export type { UpdateProgressKind } from '../../api/schema.js';

/** What the supervisor can see a VM become. */
export type ObservedState = 'running' | 'paused' | 'stopped' | 'failed' | 'hibernated';

export type PolicyEvent =
  /** The WM focused a workspace: acted on at once, before the full snapshot arrives. */
  | { type: 'focus'; workspace: WorkspaceRef }
  /** What the WM shows now (after a burst of workspace events, and at start-up). */
  | { type: 'workspaces'; focused: WorkspaceRef | null; visible: WorkspaceRef[] }
  /** What the supervisor observed of a VM; without a reason the policy says why. */
  | { type: 'observed'; name: string; state: ObservedState; reason?: string; image?: ImageInfo; saveInterrupted?: boolean }
  /** Resident memory of each VM's QEMU (VMs without one are left out). */
  | { type: 'memory'; rssBytes: Record<string, number> }
  /** The WM created a workspace (its hibernated VM may be prewarmed). */
  | { type: 'workspace-init'; workspace: WorkspaceRef }
  /** QEMU answered the command of an operation (its STOP/RESUME event, if any, came first). */
  | { type: 'op-done'; name: string; op: Operation }
  /**
   * An operation could not be carried out; the VM's state is unchanged. `permanent`: trying
   * again cannot succeed until the user changes something (a symlinked runtime dir…).
   */
  | { type: 'op-failed'; name: string; op: Operation; reason: string; timedOut?: boolean; permanent?: boolean }
  | { type: 'user'; verb: UserVerb; name: string }
  | { type: 'config'; vms: VmSpec[]; settings: PolicySettings }
  /** The config file on disk cannot be used (invalid, unreadable, gone): the last good one stays. */
  | { type: 'config-refused'; problems: string[] }
  /** A fact only the I/O side knows, for the log (a window placed, a build line, an adoption). */
  | { type: 'note'; name: string | null; message: string; level?: 'info' | 'warn' }
  /** The WM session ends: power every VM off, then exit. */
  | { type: 'session-end' }
  /** A flake VM booted a generation not yet judged: its health window opens (./health.ts). */
  | { type: 'health-watch'; name: string; window: WindowStart }
  /** The guest agent of a VM in a health window answered `guest-ping`. */
  | { type: 'guest-answered'; name: string; generation: number }
  /** QMP GUEST_PANICKED (the pvpanic device). */
  | { type: 'guest-panicked'; name: string }
  /** An update of a flake VM (daemon/updates/updater.ts): building, built (selected for the next start), failed, up to date. */
  | { type: 'update-progress'; name: string; kind: UpdateProgressKind; message: string; auto: boolean; restartNow: boolean }
  /** The wake-up asked for by the last decision has come. */
  | { type: 'tick' }
  /** A hold kept by an earlier daemon (daemon/holds.ts), still valid for the QEMU adopted. */
  | { type: 'hold-restored'; name: string; hold: Hold }
  /** logind: the machine sleeps or wakes, the session locks or unlocks (./host.ts). */
  | HostEvent
  /** Backups (./backup.ts): history read, requests, jobs done or failed. */
  | BackupEvent
  /** The microphone pinned or unpinned by the user (./microphone.ts). */
  | MicrophoneEvent;

/** What the supervisor does to a VM's QEMU (daemon/vm/supervisor.ts). */
export type VmOperationAction =
  | { type: 'start'; name: string }
  | { type: 'resume'; name: string }
  | { type: 'pause'; name: string }
  /** ACPI powerdown; `quit` follows if it is not down by the deadline. */
  | { type: 'powerdown'; name: string }
  | { type: 'quit'; name: string }
  /** Save the (paused) VM's RAM to its image, then end its QEMU. */
  | { type: 'hibernate'; name: string }
  /** Start QEMU from the image; it lands paused. */
  | { type: 'restore'; name: string }
  /** Before a pause, inflate the balloon to the guest's working set (balloonBeforePause). */
  | { type: 'shrink'; name: string }
  /** A VM removed from the config is down: drop everything about it. */
  | { type: 'forget'; name: string };

/** What the loop carries out at once, before anything is announced (see isOperation). */
export type OperationAction =
  | VmOperationAction
  /** A generation's health judged: the store records it (and selects `rollbackTo`). */
  | { type: 'judged'; name: string; generation: number; outcome: 'healthy' | 'failed'; reason: string; rollbackTo: number | null }
  | Extract<BackupAction, { type: 'backup-run' | 'backup-cancel' | 'backup-restore' }>;

/** What is told to the world (daemon/announce.ts): the log, D-Bus signals, notifications. */
export type TellAction =
  | { type: 'changed'; name: string; state: ReportedState; reason: string }
  | { type: 'focus-changed'; workspace: string; vm: string }
  | { type: 'config-changed'; accepted: boolean; problems: string[] }
  | { type: 'notify'; summary: string; body: string; urgency: 'low' | 'normal' | 'critical' }
  | { type: 'log'; name: string | null; level: 'info' | 'warn'; message: string }
  /** A flake VM's update, told (the UpdateEvent signal). */
  | { type: 'update-event'; name: string; kind: UpdateEventKind; message: string }
  | Extract<BackupAction, { type: 'backup-changed' }>
  /** Only the holder's capture stream stays unmuted (./microphone.ts; daemon/sound/ carries it out). */
  | MicrophoneAction;

/** What the daemon keeps or hands on, after the operations. */
export type AnnounceAction =
  | TellAction
  /** The user's hold changed: kept on disk (daemon/holds.ts), so a restarted daemon honours it. */
  | { type: 'hold-changed'; name: string; hold: Hold | null }
  /** Every VM that ran is paused (or logind's delay ran out): let the machine sleep. */
  | { type: 'release-sleep-lock' }
  /** The VM runs again after the machine slept (or the session was locked): set its guest clock. */
  | { type: 'sync-clock'; name: string }
  /** Every VM is down after the session ended: the daemon exits. */
  | { type: 'exit' };

export type Action = OperationAction | AnnounceAction;

/** What a user request will do, or why it cannot be done. */
export type Answer = { ok: true; message: string } | { ok: false; kind: 'InvalidArgument' | 'NoSuchVm'; message: string };

export interface Decision {
  state: PolicyState;
  actions: Action[];
  /** When to send the next `tick` (epoch ms), or null when nothing is pending. */
  wakeAt: number | null;
  /** For `user` events: the reply the requester gets. */
  answer: Answer | null;
}

/** One decision's working set: passed along, never kept between calls. */
export interface Turn {
  state: PolicyState;
  now: number;
  actions: Action[];
  /** Every transition within the decision, so that none is lost (stopped → starting in one step). */
  transitions: { vm: VmRecord; state: ReportedState; reason: string }[];
  answer: Answer | null;
}

/** A compile error where a kind is not handled: the last line of every switch over a kind. */
export function unhandled(value: never): never {
  throw new Error(`unhandled kind: ${JSON.stringify(value)}`);
}
