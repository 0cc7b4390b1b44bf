/**
 * Health after an update, as pure decisions (issue #11). A flake VM that boots a
 * generation not yet judged opens a *health window*: the generation is healthy
 * when its guest agent answers `guest-ping` before the deadline; it has failed
 * when the guest panics (pvpanic → GUEST_PANICKED), when QEMU ends (the guest
 * powered off, QEMU died) or when the deadline passes without an answer. A
 * failed generation is rolled back to the previous healthy one, if there is one.
 *
 * policy.ts calls these at a few hook points and carries out what they say;
 * nothing here touches a VM record or the world. Time is passed in; windows are
 * values, replaced rather than changed.
 */
import { shortRevision } from '../../api/schema.js';

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

/** A restarted daemon asks the guest once more before it judges a deadline that passed while it was away. */
export const RECHECK_AFTER_RESTART_MS = 10_000;

export type FailureCause =
  | { kind: 'panic' }
  | { kind: 'exit'; reason: string }
  | { kind: 'deadline' }
  /** The daemon was away when the window ended: QEMU is gone and nobody saw why. */
  | { kind: 'away' };

export interface Judgement {
  outcome: 'healthy' | 'failed';
  generation: number;
  /** Why, in a few words: "kernel panic 12 s after boot". */
  why: string;
  /** The whole story, for the log, the signal and the notification. */
  message: string;
  /** Failed with a healthy generation before it: boot that one instead. */
  rollbackTo: number | null;
}

export function openWindow(start: WindowStart, now: number, restarted: boolean): HealthWindow {
  // Coming back after the deadline: the guest may well have answered meanwhile — ask it again.
  const deadline = restarted ? Math.max(start.deadline, now + RECHECK_AFTER_RESTART_MS) : start.deadline;
  return { generation: start.generation, revision: start.revision, previous: start.previous, bootedAt: start.bootedAt, deadline, pausedAt: null };
}

/** The guest cannot answer while paused: the deadline waits. */
export function windowPaused(window: HealthWindow, now: number): HealthWindow {
  return window.pausedAt === null ? { ...window, pausedAt: now } : window;
}

export function windowResumed(window: HealthWindow, now: number): HealthWindow {
  if (window.pausedAt === null) return window;
  return { ...window, deadline: window.deadline + (now - window.pausedAt), pausedAt: null };
}

export function deadlinePassed(window: HealthWindow, now: number): boolean {
  return window.pausedAt === null && now >= window.deadline;
}

/** The agent of the window's generation answered. */
export function judgeAnswered(name: string, window: HealthWindow, now: number): Judgement {
  const after = `${seconds(now - window.bootedAt)} after boot`;
  const revision = shortRevision(window.revision);
  const message = window.previous
    ? `${name}: updated to ${revision} (generation ${window.generation}) — the guest agent answered ${after}`
    : `${name}: generation ${window.generation} (${revision}) is healthy — the guest agent answered ${after}`;
  return { outcome: 'healthy', generation: window.generation, why: `the guest agent answered ${after}`, message, rollbackTo: null };
}

export function judgeFailed(name: string, window: HealthWindow, now: number, cause: FailureCause): Judgement {
  const why = describeFailure(window, now, cause);
  const revision = shortRevision(window.revision);
  const message = window.previous
    ? `${name}: update to ${revision} failed — ${why}; rolled back to ${shortRevision(window.previous.revision)}`
    : `${name}: generation ${window.generation} (${revision}) failed — ${why}; no earlier healthy generation to go back to`;
  return { outcome: 'failed', generation: window.generation, why, message, rollbackTo: window.previous?.generation ?? null };
}

function describeFailure(window: HealthWindow, now: number, cause: FailureCause): string {
  const after = seconds(now - window.bootedAt);
  switch (cause.kind) {
    case 'panic':
      return `kernel panic ${after} after boot`;
    case 'exit':
      return `${cause.reason} ${after} after boot`;
    case 'deadline':
      return `no answer from the guest agent ${after} after boot`;
    case 'away':
      return 'QEMU ended during the health window while the daemon was away';
  }
}

function seconds(ms: number): string {
  return ms < 10_000 ? `${Math.max(0, Math.round(ms / 100) / 10)} s` : `${Math.round(ms / 1000)} s`;
}
