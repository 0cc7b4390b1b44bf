/**
 * The switch bench's settings: its constants, the command line it reads and the goals
 * it reports against (one place for the measuring loop and the report).
 */
import path from 'node:path';
import { REPO } from '../test/harness/daemon.js';

export const STRESS = process.argv.includes('--stress');
export const VMS = 20;
export const BLOCK = 20;
export const ROUNDS = Number(process.argv.find((a) => a.startsWith('--rounds='))?.slice('--rounds='.length) ?? 10);
export const MEMORY_SWITCHES = 1000;
/** How long the daemon idles after the switching before its RSS is read once more. */
export const IDLE_AFTER_MS = 10_000;
export const PAUSE_AFTER_MS = 100;
/** After a spaced switch and the previous VM's pause: a random gap, so switches do not lock onto timers. */
export const GAP_MS = [20, 40] as const;
/** A block starts once no VM changed state for this long (a pending pause would have happened). */
export const QUIET_MS = PAUSE_AFTER_MS + 150;
export const STEP_TIMEOUT_MS = 10_000;
/** For profiling the daemon under the bench's load; its figures are then not comparable. */
export const EXTRA_DAEMON_FLAGS = process.argv.filter((a) => a.startsWith('--daemon-node-flag=')).map((a) => a.slice('--daemon-node-flag='.length));
/** Where to copy the daemon's log before the sandbox goes (its stdout: what --trace-gc prints). */
export const KEEP_DAEMON_LOG = process.argv.find((a) => a.startsWith('--daemon-log='))?.slice('--daemon-log='.length);
/** Print each block's time window (for a daemon profile, strace or perf attached from outside). */
/** The floor also does the I/O hiboss owes per switch (bench/floor.mjs "duties"): parsing, signals, log lines. */
export const FLOOR_DUTIES = process.argv.includes('--floor-duties');
export const PROFILING = process.argv.includes('--windows') || EXTRA_DAEMON_FLAGS.some((f) => f.startsWith('--cpu-prof'));
export const SEMI_SPACE_FLAG = '--max-semi-space-size=2';
export const VM_QEMU = ['qemu-system-x86_64', '-M', 'q35', '-m', '32', '-nodefaults', '-display', 'none', '-nic', 'none'];
export const FLOOR = path.join(REPO, 'bench', 'floor.mjs');

export const GOALS = { p50Ratio: 1.15, p99Ratio: 1.5, internalP50: 0.3, internalP99: 1, cpuRatio: 2, rssMiB: 70 };

export type System = 'hiboss' | 'floor';
export interface Sample {
  latency: number;
  swayEvent: number;
  /** RESUME came before the bench's own copy of the event (the old bench's t0 would have been late). */
  resumeFirst: boolean;
}
