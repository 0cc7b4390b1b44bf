/**
 * The status the API reports (api/schema.ts DaemonStatus): the policy's view of
 * every VM, plus what /proc says of its QEMU. Reading it changes nothing: CPU %
 * is the average since the VM last started running, whoever asks and however often.
 */
import fs from 'node:fs';
import type { DaemonStatus, VmState, VmStatus } from '../api/schema.js';
import type { Config } from '../config/schema.js';
import { compareNames } from '../config/workspaces.js';
import { reportedReason, reportedState, vmOnWorkspace, type PolicyState } from './policy/policy.js';
import { hidden } from './policy/record.js';
import { memoryStatus } from './policy/memory.js';

const CLOCK_TICKS = 100; // USER_HZ on Linux

export interface ProcessInfo {
  pid: number;
  startedAt: number;
}

/** CPU time of each QEMU when its VM last changed state: the base of its CPU %. */
/**
 * A running VM's CPU %, counted from the first status asked after it started
 * running: a switch costs no read of /proc (most switches are never looked at),
 * and the first status after a resume shows none yet.
 */
export class CpuBaselines {
  #base = new Map<string, { pid: number; at: number; ticks: number } | 'from-next-status'>();

  /** A VM started running: its CPU % counts from the next status (a paused VM uses none). */
  reset(name: string, pid: number | undefined, _now: number): void {
    if (pid === undefined) this.#base.delete(name);
    else this.#base.set(name, 'from-next-status');
  }

  percent(name: string, pid: number, now: number): number | null {
    const base = this.#base.get(name);
    if (!base) return null;
    if (base === 'from-next-status' || base.pid !== pid) {
      const ticks = cpuTicks(pid);
      if (ticks === null) this.#base.delete(name);
      else this.#base.set(name, { pid, at: now, ticks });
      return null;
    }
    if (now - base.at < 100) return null;
    const ticks = cpuTicks(pid);
    if (ticks === null) return null;
    return Math.round(((ticks - base.ticks) / CLOCK_TICKS / ((now - base.at) / 1000)) * 1000) / 10;
  }

  forget(name: string): void {
    this.#base.delete(name);
  }
}

export interface StatusInputs {
  policy: PolicyState;
  config: Config;
  processes: (name: string) => ProcessInfo | undefined;
  cpu: CpuBaselines;
  wm: 'sway' | 'i3' | 'none';
  now: number;
}

export function buildStatus({ policy, config, processes, cpu, wm, now }: StatusInputs): DaemonStatus {
  const vms: VmStatus[] = Object.values(policy.vms).map((record) => {
    const name = record.spec.name;
    const qemu = processes(name);
    const vm = config.vms[name];
    const state: VmState = reportedState(record);
    return {
      name,
      state,
      reason: reportedReason(record),
      workspace: record.spec.workspace,
      pid: qemu?.pid ?? null,
      kind: vm?.flake !== undefined ? 'flake' : 'qemu',
      color: vm?.color ?? null,
      flake: vm?.flake ?? null,
      heldByUser: record.hold !== null,
      whenHidden: record.spec.whenHidden ?? 'pause',
      runsHidden: record.state === 'running' && hidden(record),
      hold: record.hold,
      unresponsiveSince: record.unresponsiveSince,
      since: record.since,
      uptimeMs: qemu ? now - qemu.startedAt : null,
      memoryBudgetMiB: vm?.memoryMiB ?? memoryFromArgv(vm?.qemu),
      rssBytes: qemu ? rssBytes(qemu.pid) : null,
      cpuPercent: qemu && record.state === 'running' ? cpu.percent(name, qemu.pid, now) : null,
      lastColdBootMs: record.lastColdBootMs,
      lastResumeMs: record.lastResumeMs,
      restarts: record.restarts,
      ...memoryStatus(record),
    };
  });
  return {
    vms: vms.sort((a, b) => compareNames(a.name, b.name)),
    focusedWorkspace: policy.focused?.name ?? null,
    focusedVm: vmOnWorkspace(policy, policy.focused),
    wm,
    configProblems: policy.configProblems,
    memory: { heldBytes: vms.reduce((sum, vm) => sum + (vm.rssBytes ?? 0), 0), budgetMiB: policy.settings.memoryBudgetMiB },
    microphone: { vm: policy.mic.holder, pinned: policy.mic.pinned !== null },
  };
}

function memoryFromArgv(argv: string[] | undefined): number | null {
  if (!argv) return null;
  const index = argv.indexOf('-m');
  const value = index === -1 ? undefined : argv[index + 1];
  const mib = value ? parseInt(value.replace(/^size=/, ''), 10) : NaN;
  return Number.isNaN(mib) ? null : /g$/i.test(value!) ? mib * 1024 : mib;
}

function rssBytes(pid: number): number | null {
  try {
    const kb = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
    return kb ? Number(kb) * 1024 : null;
  } catch {
    return null; // gone between two reads
  }
}

/** utime + stime of a process, in clock ticks. */
function cpuTicks(pid: number): number | null {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(fields[11]) + Number(fields[12]);
  } catch {
    return null;
  }
}
