/**
 * The memory bench's desktop (bench/memory.ts parts 1–4): one headless sway and
 * daemon at a time, the real guest configured the way hiboss runs it, and the
 * small steps every part takes (focus a workspace, wait for a state, run a
 * command in the guest, sum its QEMUs' resident memory).
 */
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { residentBytes } from '../daemon/vm/memory.js';
import type { RunningDaemon } from '../test/harness/daemon.js';
import { guestQemuArgv, tickCount, type Guest } from '../test/harness/guest.js';
import { pidsWithArg } from '../test/harness/inspect.js';
import { waitForContent } from '../test/harness/processes.js';
import { guestExec, withAgent } from '../test/harness/records.js';
import { startDesktop, type DesktopSession } from '../test/harness/session.js';

export const MiB = 1024 * 1024;
export const GUEST_MIB = 256;

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The guest image, the desktop and the daemon of the part being measured (set by useGuest and fresh). */
export let guest: Guest;
export let session: DesktopSession;
export let daemon: RunningDaemon;

export function useGuest(built: Guest): void {
  guest = built;
}

export const root = () => session.sandbox.root;
export const serial = (name: string) => path.join(root(), `${name}.serial`);
export const runDir = (name: string) => path.join(session.sandbox.runtimeDir, 'hiboss', name);
export const imageOf = (name: string) => path.join(session.sandbox.stateHome, 'hiboss', name, 'memory-image.bin');
/** The daemon's roots in the session's sandbox (its run and state dirs per VM). */
export const vmRoots = () => ({ runRoot: path.join(session.sandbox.runtimeDir, 'hiboss'), stateRoot: path.join(session.sandbox.stateHome, 'hiboss') });

/** The real guest with its agent (where hiboss looks for it). */
export function vmConfig(name: string, workspace: string, extra: Record<string, unknown> = {}, memoryMiB = GUEST_MIB) {
  return {
    workspace,
    qemu: [
      ...guestQemuArgv(guest, serial(name), '', { agentSocket: path.join(runDir(name), 'qga.sock'), memoryMiB }),
    ],
    restart: 'never',
    ...extra,
  };
}

/** A new desktop and daemon; the config is built once the sandbox (its paths) exists. */
export async function fresh(config: () => unknown): Promise<void> {
  session = await startDesktop('sway', 'bmem');
  daemon = await session.startDaemon(config());
}

export async function end(): Promise<void> {
  await session?.end();
}

async function stateOf(name: string): Promise<string> {
  return (await daemon.client.status()).vms.find((vm) => vm.name === name)!.state;
}

/** Resolves once `name` is in `state` (already, or by a later change). */
export async function reach(name: string, state: string, timeoutMs = 60_000): Promise<void> {
  const changed = daemon.client.waitForState(name, (c) => c.state === state, timeoutMs);
  changed.catch(() => {});
  if ((await stateOf(name)) === state) return;
  await changed;
}

export async function focus(workspace: string): Promise<number> {
  const t0 = performance.now();
  await session.wmc.command(`workspace ${workspace}`);
  return t0;
}

/** When the daemon's StateChanged(name, running) arrives here. */
export function runningSignal(name: string): Promise<number> {
  return daemon.client.waitForState(name, (c) => c.state === 'running', 60_000).then(() => performance.now());
}

export async function bootVisit(name: string, workspace: string): Promise<void> {
  await focus(workspace);
  await reach(name, 'running');
  await waitForContent(serial(name), (text) => /GUEST-AGENT-UP/.test(text) && tickCount(text) >= 2, 60_000);
}

export async function inGuest(name: string, argv: string[]): Promise<void> {
  const run = await withAgent(path.join(runDir(name), 'qga.sock'), (agent) => guestExec(agent, argv, 60_000));
  if (run.code !== 0) throw new Error(`${argv.join(' ')} failed in ${name}`);
}

export function qemuRss(names: string[]): number {
  let total = 0;
  for (const name of names) for (const pid of pidsWithArg(`${runDir(name)}/`)) total += residentBytes(pid) ?? 0;
  return total;
}
