/**
 * A VM paused or stopped by hand stays so across a daemon restart or crash: the
 * hold (the policy's `VmRecord.hold`) is kept in the VM's runtime dir as
 * `hold.json`, written atomically whenever the policy says it changed
 * (`hold-changed`), and read back when the next daemon adopts its VMs.
 *
 * The runtime dir lives as long as the login session, like the QEMUs it holds:
 * a hold does not outlive a reboot. A file that cannot be trusted — unreadable,
 * too large, not JSON, not ours — or that is stale (a paused hold whose QEMU is
 * gone or is another process now; a stopped hold while a QEMU runs) is reported
 * and ignored, never fatal.
 */
import fs from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { ensureVmDirs, isPrivateDir, vmPaths, type RuntimeRoots, type VmPaths } from '../config/paths.js';
import { readFileBounded } from '../config/read-bounded.js';
import type { PolicyEvent } from './policy/policy.js';
import { errorCode, errorMessage } from '../shared/error-message.js';
import { DaemonError } from './errors.js';

/** What a hold can be (the hibernate work may add its own state here). */
export const HOLDS = ['paused', 'stopped'] as const;
export type Hold = (typeof HOLDS)[number];

export const HoldFile = z.strictObject({
  version: z.literal(1),
  hold: z.enum(HOLDS),
  /** When the user decided (epoch ms). */
  since: z.number(),
  /** The QEMU that was paused: a later QEMU (restarted, another pid) is not held by it. */
  pid: z.number().int().positive().nullable(),
});
export type HoldFile = z.infer<typeof HoldFile>;

const MAX_HOLD_BYTES = 4096;

export function holdFilePath(paths: Pick<VmPaths, 'runDir'>): string {
  return path.join(paths.runDir, 'hold.json');
}

/**
 * Writes (or, for `null`, removes) the hold: temp file + fsync + rename, 0600, only
 * into the VM's own private directory (never through a symlink).
 */
export function writeHold(paths: Pick<VmPaths, 'runDir'>, hold: HoldFile | null): void {
  const file = holdFilePath(paths);
  if (!isPrivateDir(paths.runDir)) {
    if (hold === null) return; // nothing was kept there
    throw new DaemonError(`${paths.runDir} is not a private directory of ours; the hold is not kept`);
  }
  if (hold === null) {
    fs.rmSync(file, { force: true });
    return;
  }
  const temp = `${file}.${process.pid}.tmp`;
  const fd = fs.openSync(temp, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_TRUNC | fs.constants.O_NOFOLLOW, 0o600);
  try {
    fs.writeSync(fd, JSON.stringify(HoldFile.parse(hold)) + '\n');
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(temp, file);
}

export type ReadHold = { kind: 'none' } | { kind: 'hold'; file: HoldFile } | { kind: 'unusable'; problem: string };

/** The hold file as found: none, a valid one, or why it cannot be used (bounded, regular files only). */
export function readHold(paths: Pick<VmPaths, 'runDir'>): ReadHold {
  const file = holdFilePath(paths);
  let stat: fs.Stats;
  try {
    stat = fs.lstatSync(file);
  } catch (error) {
    if (errorCode(error) === 'ENOENT') return { kind: 'none' };
    return { kind: 'unusable', problem: `${file}: ${errorMessage(error)}` };
  }
  if (stat.isSymbolicLink()) return { kind: 'unusable', problem: `${file} is a symbolic link` };
  if (!isPrivateDir(paths.runDir)) return { kind: 'unusable', problem: `${paths.runDir} is not a private directory of ours` };
  let text: string;
  try {
    text = readFileBounded(file, MAX_HOLD_BYTES);
  } catch (error) {
    return { kind: 'unusable', problem: errorMessage(error) };
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    return { kind: 'unusable', problem: `${file} is not JSON (${errorMessage(error)})` };
  }
  const parsed = HoldFile.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    return { kind: 'unusable', problem: `${file}: ${issue.path.join('.') || '(root)'}: ${issue.message}` };
  }
  return { kind: 'hold', file: parsed.data };
}

export type Restored = { kind: 'none' } | { kind: 'restore'; hold: Hold; since: number } | { kind: 'ignore'; problem: string };

/**
 * Whether a hold found at start-up still means what the user decided, given the
 * QEMU adopted for the VM (its pid, or null when none runs).
 */
export function holdToRestore(found: ReadHold, adoptedPid: number | null, hibernated = false): Restored {
  if (found.kind === 'none') return found;
  if (found.kind === 'unusable') return { kind: 'ignore', problem: `${found.problem}; ignored` };
  const { hold, pid, since } = found.file;
  // Memory: hibernated by hand, the guest is in its image: no QEMU, and still held.
  if (hold === 'paused' && adoptedPid === null && hibernated) return { kind: 'restore', hold, since };
  if (hold === 'paused') {
    if (adoptedPid === null) return { kind: 'ignore', problem: 'a stale hold (paused by the user, but its QEMU is gone); ignored' };
    if (pid !== null && pid !== adoptedPid) {
      return { kind: 'ignore', problem: `a stale hold (paused QEMU pid ${pid}, now pid ${adoptedPid} runs); ignored` };
    }
  }
  if (hold === 'stopped' && adoptedPid !== null) {
    return { kind: 'ignore', problem: `a stale hold (stopped by the user, yet QEMU pid ${adoptedPid} runs); ignored` };
  }
  return { kind: 'restore', hold, since };
}

/** Removes a hold file that was ignored (never following a link: rm removes the link itself). */
export function discardHold(paths: Pick<VmPaths, 'runDir'>): void {
  if (!isPrivateDir(paths.runDir)) return; // never through a link to someone else's directory
  try {
    fs.rmSync(holdFilePath(paths), { force: true });
  } catch {
    /* not ours to clean: the next write replaces it */
  }
}

export interface HoldKeeperOptions {
  roots: RuntimeRoots;
  /** Problems and restored holds go to the policy. */
  post: (event: PolicyEvent) => void;
  /** The QEMU pid running for a VM, if any. */
  pidOf: (name: string) => number | null;
  /** Memory: the VM's guest is in its image (no QEMU, and yet a pause by hand holds). */
  hibernated?: (name: string) => boolean;
  now: () => number;
}

/** The daemon's side of holds: keeps each change on disk, and restores them at start-up. */
export class HoldKeeper {
  constructor(private readonly options: HoldKeeperOptions) {}

  /** Carries out `hold-changed` at once (before anything is announced: a crash right after must not lose it). */
  keep(name: string, hold: Hold | null): void {
    try {
      const paths = vmPaths(this.options.roots, name);
      if (hold !== null) ensureVmDirs(this.options.roots, paths);
      writeHold(paths, hold === null ? null : { version: 1, hold, since: Math.round(this.options.now()), pid: hold === 'paused' ? this.options.pidOf(name) : null });
    } catch (error) {
      this.options.post({ type: 'note', name, level: 'warn', message: `cannot keep the hold on disk: ${errorMessage(error)}` });
    }
  }

  /** After adoption: each configured VM's hold, if it still means what the user decided. */
  restore(names: readonly string[]): void {
    for (const name of names) {
      let paths: VmPaths;
      try {
        paths = vmPaths(this.options.roots, name);
      } catch {
        continue;
      }
      const restored = holdToRestore(readHold(paths), this.options.pidOf(name), this.options.hibernated?.(name) ?? false);
      if (restored.kind === 'restore') this.options.post({ type: 'hold-restored', name, hold: restored.hold });
      if (restored.kind === 'ignore') {
        this.options.post({ type: 'note', name, level: 'warn', message: `hold file: ${restored.problem}` });
        discardHold(paths);
      }
    }
  }
}
