/**
 * Backups, decided: pure functions the policy (./policy.ts) calls
 * with the decision's working state and clock. No I/O, no timers.
 *
 * - When a VM's backup is due: `everyHours` after its last good backup; one
 *   that has none is backed up `firstBackupAfterMs` after the daemon first sees
 *   its setting; a request runs it now. After a failure: again after a while.
 * - One backup or restore job at a time (all VMs): disks are not thrashed.
 * - Live (the VM runs or is paused: QMP on its QEMU) or offline (it is down:
 *   from its disk file); never while it starts or stops. An offline backup holds
 *   the disk: a VM that must start cancels it (the start wins; the bitmap keeps
 *   every change, so the next run is still incremental).
 * - Restores: the VM is stopped (ACPI powerdown), restored, started again.
 * - *Unbacked*: the last good backup is older than everyHours × 1.25, or there
 *   is none and the VM has been configured for backups longer than everyHours.
 *   Told (BackupChanged) when it flips, and notified at most once a day.
 * - Full or incremental: `chooseBackupKind`, from what the I/O side found.
 */
import { unhandled, type Action, type Answer, type BackupEvent, type BackupSignalKind, type BackupState, type PolicySettings, type VmBackup, type VmRecord } from './types.js';

export type { BackupAction, BackupEvent, BackupPoint, BackupSpec, BackupState, VmBackup } from './types.js';

export const UNBACKED_FACTOR = 1.25;
const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
/** After a failed backup, the next attempt: a quarter of the period, between a minute and an hour. */
const MAX_RETRY_MS = HOUR;
const MIN_RETRY_MS = MINUTE;

export const NO_BACKUPS: BackupState = { vms: {} };

/** The decision's working state (the part of the policy's Turn backups use). */
export interface BackupTurn {
  state: { backups: BackupState; vms: Record<string, VmRecord>; settings: PolicySettings };
  now: number;
  actions: Action[];
}

export function copyBackups(state: BackupState): BackupState {
  const vms: Record<string, VmBackup> = {};
  for (const name in state.vms) vms[name] = { ...state.vms[name]! };
  return { vms };
}

const everyMs = (b: VmBackup) => b.spec.everyHours * HOUR;

function log(turn: BackupTurn, name: string, message: string, level: 'info' | 'warn' = 'info'): void {
  turn.actions.push({ type: 'log', name, level, message });
}

function tell(turn: BackupTurn, name: string, kind: BackupSignalKind, message: string): void {
  turn.actions.push({ type: 'backup-changed', name, kind, message });
}

/** The VM's backup record, made (or updated) from its spec; null without a backup setting. */
function record(turn: BackupTurn, name: string): VmBackup | null {
  const vm = turn.state.vms[name];
  const spec = vm?.spec.backup;
  const backups = turn.state.backups.vms;
  if (!vm || !spec || vm.removed) {
    if (backups[name] && backups[name].job === null) delete backups[name];
    return backups[name] ?? null;
  }
  const existing = backups[name];
  if (!existing) {
    backups[name] = {
      spec,
      known: false,
      firstSeenAt: turn.now,
      configuredSince: null,
      lastGood: null,
      lastFailure: null,
      retryAt: null,
      runRequested: false,
      job: null,
      restore: null,
      unbacked: false,
      unbackedNotifiedAt: null,
    };
  } else if (existing.spec !== spec) existing.spec = spec;
  return backups[name]!;
}

function isUp(vm: VmRecord): boolean {
  return vm.state === 'running' || vm.state === 'paused';
}

/** Down, with its disk file closed (a hibernated VM's too: only its RAM is saved). */
function isDiskClosed(vm: VmRecord): boolean {
  return (['stopped', 'failed', 'hibernated'] as string[]).includes(vm.state);
}

/** How a backup can run now: live, offline, or not yet (starting, stopping, an operation in flight). */
function source(vm: VmRecord): 'live' | 'offline' | null {
  if (vm.op !== null || vm.unresponsiveSince !== null) return null;
  if (isUp(vm)) return 'live';
  if (isDiskClosed(vm)) return 'offline';
  return null;
}

function anyJob(state: BackupState): string | null {
  for (const name in state.vms) if (state.vms[name]!.job !== null) return name;
  return null;
}

/** When the next backup is due (epoch ms); a request makes it due now. */
export function dueAt(b: VmBackup, settings: PolicySettings): number {
  if (b.lastGood) return b.lastGood.at + everyMs(b);
  return b.firstSeenAt + settings.firstBackupAfterMs;
}

/** From when the VM counts as unbacked (epoch ms), or null (not judged yet). */
export function unbackedFrom(b: VmBackup): number | null {
  if (!b.known) return null;
  if (b.lastGood) return b.lastGood.at + everyMs(b) * UNBACKED_FACTOR;
  return b.configuredSince === null ? null : b.configuredSince + everyMs(b);
}

export function isUnbacked(b: VmBackup, now: number): boolean {
  const from = unbackedFrom(b);
  return from !== null && now >= from;
}

function retryDelay(b: VmBackup): number {
  return Math.max(MIN_RETRY_MS, Math.min(MAX_RETRY_MS, everyMs(b) / 4));
}

/** "9 days ago", "5 hours ago", "12 minutes ago". */
export function ago(ms: number): string {
  if (ms < HOUR) return plural(Math.max(0, Math.round(ms / MINUTE)), 'minute');
  if (ms < 2 * DAY) return plural(Math.round(ms / HOUR), 'hour');
  return plural(Math.round(ms / DAY), 'day');
}

function plural(n: number, unit: string): string {
  return `${n} ${unit}${n === 1 ? '' : 's'} ago`;
}

/** "acme: last backup 9 days ago" / "acme: never backed up (configured 2 days ago)". */
export function unbackedText(name: string, b: VmBackup, now: number): string {
  if (b.lastGood) return `${name}: last backup ${ago(now - b.lastGood.at)}`;
  return `${name}: never backed up (configured ${b.configuredSince === null ? 'just now' : ago(now - b.configuredSince)})`;
}

// ---- events -----------------------------------------------------------------------------

export function applyBackupEvent(turn: BackupTurn, event: BackupEvent): Answer | null {
  const { now } = turn;
  const name = event.name;
  const vm = turn.state.vms[name];
  const b = record(turn, name);
  switch (event.type) {
    case 'backup-known':
      if (!b) return null;
      b.known = true;
      b.configuredSince = event.configuredSince;
      b.lastGood = event.lastGood;
      b.lastFailure = event.lastFailure;
      return null;
    case 'backup-request': {
      if (!vm) return { ok: false, kind: 'NoSuchVm', message: `no VM named "${name}"` };
      if (!b) return { ok: false, kind: 'InvalidArgument', message: `${name} has no backup setting (add "backup": { "target": … } to it in config.json)` };
      if (b.job?.kind === 'backup') return { ok: false, kind: 'InvalidArgument', message: `a backup of ${name} is already running (since ${new Date(b.job.since).toISOString()}): one at a time` };
      if (b.job?.kind === 'restore' || b.restore) return { ok: false, kind: 'InvalidArgument', message: `${name} is being restored: back it up once that is done` };
      b.runRequested = true;
      log(turn, name, 'user: backup now');
      const other = anyJob(turn.state.backups);
      if (other !== null) return { ok: true, message: `${name}: backup queued (a ${turn.state.backups.vms[other]!.job!.kind} of ${other} runs; one at a time)` };
      if (!b.known) return { ok: true, message: `${name}: backup queued (reading its backup history)` };
      const how = source(vm);
      if (how === null) return { ok: true, message: `${name}: backup starts once it is ${vm.state === 'starting' ? 'up' : 'settled'} (${vm.state})` };
      return { ok: true, message: `${name}: backup started (${how === 'live' ? 'live, through QEMU' : 'from its disk file'})` };
    }
    case 'restore-request': {
      if (!vm) return { ok: false, kind: 'NoSuchVm', message: `no VM named "${name}"` };
      if (!b) return { ok: false, kind: 'InvalidArgument', message: `${name} has no backup setting: nothing to restore from` };
      if (b.job?.kind === 'backup') return { ok: false, kind: 'InvalidArgument', message: `a backup of ${name} is running: restore once it is done` };
      if (b.job?.kind === 'restore' || b.restore) return { ok: false, kind: 'InvalidArgument', message: `${name} is already being restored` };
      b.restore = { id: event.id, startAfter: true };
      log(turn, name, `user: restore ${event.id ?? 'the latest backup'}`);
      tell(turn, name, 'restoring', `${name}: restore of ${event.id ?? 'the latest backup'} asked`);
      const what = event.id ?? 'the latest backup';
      return {
        ok: true,
        message: `${name}: restore of ${what}: the VM is stopped (ACPI powerdown), its current disk kept aside, the backup written in its place, then it starts again`,
      };
    }
    case 'backup-done': {
      if (!b) return null;
      b.job = null;
      b.lastGood = event.point;
      b.lastFailure = null;
      b.retryAt = null;
      b.runRequested = false;
      b.unbackedNotifiedAt = null;
      log(turn, name, event.message);
      tell(turn, name, 'done', event.message);
      return null;
    }
    case 'backup-failed': {
      if (!b) return null;
      const startWaits = b.job?.kind === 'backup' && b.job.cancelling;
      b.job = null;
      b.lastFailure = { at: now, reason: event.reason };
      b.retryAt = now + (startWaits ? MIN_RETRY_MS : retryDelay(b));
      b.runRequested = false;
      log(turn, name, `backup failed: ${event.reason}`, 'warn');
      tell(turn, name, 'failed', `${name}: backup failed: ${event.reason}`);
      if (!event.cancelled && !startWaits) {
        turn.actions.push({ type: 'notify', summary: `hiboss: backup of ${name} failed`, body: event.reason, urgency: 'normal' });
      }
      return null;
    }
    case 'restore-done':
    case 'restore-failed': {
      if (!b) return null;
      const startAfter = event.type === 'restore-done' || (b.restore?.startAfter ?? false);
      b.job = null;
      b.restore = null;
      if (event.type === 'restore-done') {
        log(turn, name, event.message);
        tell(turn, name, 'restored', event.message);
      } else {
        log(turn, name, `restore failed: ${event.reason} (the current disk is in place)`, 'warn');
        tell(turn, name, 'restore-failed', `${name}: restore failed: ${event.reason}`);
        turn.actions.push({ type: 'notify', summary: `hiboss: restore of ${name} failed`, body: `${event.reason} (the current disk is in place)`, urgency: 'critical' });
      }
      if (vm && startAfter) {
        vm.hold = null;
        vm.runRequested = true;
      }
      return null;
    }
    default:
      return unhandled(event);
  }
}

// ---- after the VMs are reconciled ------------------------------------------------------------

export function reconcileBackups(turn: BackupTurn): void {
  const { state, now } = turn;
  for (const name in state.vms) record(turn, name);
  for (const name in state.backups.vms) if (!state.vms[name]) record(turn, name);
  for (const [name, b] of Object.entries(state.backups.vms)) judge(turn, name, b);
  if (anyJob(state.backups) !== null) return;
  // A restore first: its VM is down and waiting.
  for (const [name, b] of Object.entries(state.backups.vms)) {
    const vm = state.vms[name];
    if (!b.restore || !vm || vm.op !== null || !isDiskClosed(vm)) continue;
    b.job = { kind: 'restore', id: b.restore.id, since: now };
    turn.actions.push({ type: 'backup-restore', name, id: b.restore.id });
    log(turn, name, `restoring ${b.restore.id ?? 'the latest backup'}`);
    return;
  }
  let next: { name: string; due: number; live: boolean } | null = null;
  for (const [name, b] of Object.entries(state.backups.vms)) {
    const vm = state.vms[name];
    if (!vm || !b.known || b.job !== null || b.restore !== null || vm.removed) continue;
    const due = b.runRequested ? -Infinity : Math.max(dueAt(b, state.settings), b.retryAt ?? -Infinity);
    if (due > now) continue;
    const how = source(vm);
    if (how === null) continue;
    if (!next || due < next.due) next = { name, due, live: how === 'live' };
  }
  if (!next) return;
  const b = state.backups.vms[next.name]!;
  b.job = { kind: 'backup', live: next.live, since: now, cancelling: false };
  b.runRequested = false;
  turn.actions.push({ type: 'backup-run', name: next.name, live: next.live });
  const why = b.lastGood ? `due: last backup ${ago(now - b.lastGood.at)}` : 'no backup yet';
  log(turn, next.name, `backup started (${next.live ? 'live' : 'from its disk file'}; ${why})`);
  tell(turn, next.name, 'started', `${next.name}: backup started`);
}

/** Unbacked or not: told when it flips; notified when it becomes so, and again each day it stays so. */
function judge(turn: BackupTurn, name: string, b: VmBackup): void {
  const now = turn.now;
  const unbacked = isUnbacked(b, now);
  if (unbacked !== b.unbacked) {
    b.unbacked = unbacked;
    if (unbacked) {
      const text = unbackedText(name, b, now);
      log(turn, name, `not backed up: ${text}`, 'warn');
      tell(turn, name, 'unbacked', text);
    }
  }
  if (unbacked && (b.unbackedNotifiedAt === null || now - b.unbackedNotifiedAt >= DAY)) {
    b.unbackedNotifiedAt = now;
    turn.actions.push({ type: 'notify', summary: `hiboss: ${name} is not backed up`, body: unbackedText(name, b, now), urgency: 'normal' });
  }
}

// ---- hooks for the VM reconcile ----------------------------------------------------------------

/** A restore is asked or under way: the VM must be (and stay) down. */
export function restoreHolds(backups: BackupState, name: string): boolean {
  const b = backups.vms[name];
  return b !== undefined && (b.restore !== null || b.job?.kind === 'restore');
}

/**
 * The VM should start but its disk is held by an offline backup (cancelled, once:
 * the start then waits for the cancellation) or a restore (it waits). True: do not start yet.
 */
export function diskHeldForStart(turn: BackupTurn, name: string): boolean {
  const b = turn.state.backups.vms[name];
  const job = b?.job;
  if (!b || !job) return false;
  if (job.kind === 'restore') return true;
  if (job.live) return false;
  if (!job.cancelling) {
    b.job = { ...job, cancelling: true }; // records are shared with the previous state: replaced, never changed
    turn.actions.push({ type: 'backup-cancel', name, reason: 'the VM is starting' });
    log(turn, name, 'the VM is to start: its offline backup is cancelled first');
  }
  return true;
}

/** The earliest time a backup decision changes by itself. */
export function backupWake(backups: BackupState, settings: PolicySettings, now: number): number | null {
  let wake: number | null = null;
  const consider = (t: number | null) => {
    if (t !== null && Number.isFinite(t) && t > now && (wake === null || t < wake)) wake = t;
  };
  for (const b of Object.values(backups.vms)) {
    if (!b.known) continue;
    if (b.job === null && b.restore === null) consider(Math.max(dueAt(b, settings), b.retryAt ?? -Infinity));
    if (!b.unbacked) consider(unbackedFrom(b));
    else if (b.unbackedNotifiedAt !== null) consider(b.unbackedNotifiedAt + DAY);
  }
  return wake;
}

// ---- what status says ------------------------------------------------------------------------

export interface BackupStatusPart {
  configured: boolean;
  everyHours: number | null;
  target: string | null;
  last: string | null;
  lastKind: 'full' | 'incremental' | null;
  lastBytes: number | null;
  unbacked: boolean;
  running: 'backup' | 'restore' | null;
  nextDue: string | null;
  lastError: string | null;
  lastErrorAt: string | null;
}

export function backupStatusPart(b: VmBackup | undefined, settings: PolicySettings, now: number): BackupStatusPart {
  if (!b) {
    return { configured: false, everyHours: null, target: null, last: null, lastKind: null, lastBytes: null, unbacked: false, running: null, nextDue: null, lastError: null, lastErrorAt: null };
  }
  const due = b.runRequested ? now : Math.max(dueAt(b, settings), b.retryAt ?? -Infinity);
  const failedSinceGood = b.lastFailure !== null && (b.lastGood === null || b.lastFailure.at > b.lastGood.at);
  return {
    configured: true,
    everyHours: b.spec.everyHours,
    target: b.spec.target,
    last: b.lastGood ? new Date(b.lastGood.at).toISOString() : null,
    lastKind: b.lastGood?.kind ?? null,
    lastBytes: b.lastGood?.bytes ?? null,
    unbacked: isUnbacked(b, now),
    running: b.job?.kind ?? (b.restore ? 'restore' : null),
    nextDue: b.known ? new Date(Math.max(due, now)).toISOString() : null,
    lastError: failedSinceGood ? b.lastFailure!.reason : null,
    lastErrorAt: failedSinceGood ? new Date(b.lastFailure!.at).toISOString() : null,
  };
}

// ---- full or incremental ----------------------------------------------------------------------

export interface KindFacts {
  disk: { file: string; format: string; virtualSize: number };
  /** The disk's dirty bitmap: absent, usable (with its dirty bytes), or left inconsistent. */
  bitmap: { state: 'absent' } | { state: 'ok'; dirtyBytes: number } | { state: 'inconsistent' };
  /** The chain's newest point on this target. */
  last: { id: string; disk: { file: string; format: string; virtualSize: number } } | null;
  /** The point the bitmap records changes since (null: unknown). */
  bitmapPoint: string | null;
}

/** A full backup unless everything proves an incremental correct; always says why. */
export function chooseBackupKind(f: KindFacts): { kind: 'full' | 'incremental'; why: string } {
  const full = (why: string) => ({ kind: 'full' as const, why: `full: ${why}` });
  if (f.disk.format !== 'qcow2') return full(`the disk is ${f.disk.format}, which cannot keep a change bitmap (every backup is full)`);
  if (!f.last) return full('no earlier backup on this target');
  if (f.last.disk.file !== f.disk.file) return full(`the disk changed (the last backup was of ${f.last.disk.file})`);
  if (f.last.disk.format !== f.disk.format) return full(`the disk changed format (was ${f.last.disk.format})`);
  if (f.last.disk.virtualSize !== f.disk.virtualSize) return full(`the disk was resized (${f.last.disk.virtualSize} → ${f.disk.virtualSize} bytes)`);
  if (f.bitmap.state === 'absent') return full('the disk has no change bitmap (replaced by hand, or restored)');
  if (f.bitmap.state === 'inconsistent') return full('the change bitmap was left inconsistent (QEMU did not close the disk cleanly)');
  if (f.bitmapPoint !== f.last.id) return full(`the change bitmap does not start at the last backup ${f.last.id}`);
  return { kind: 'incremental', why: `incremental: ${f.bitmap.dirtyBytes} bytes changed since ${f.last.id}` };
}
