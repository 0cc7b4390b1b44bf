/**
 * Memory a VM holds on the host: the resident size of its QEMU,
 * as /proc says, for the budget (policy `memory` events) and the status; and
 * the balloon that shrinks a hidden VM to its working set before it is paused.
 */
import fs from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import type { QmpClient } from '../../qmp/client.js';
import { AgentClient } from '../../qga/client.js';
import { BALLOON_QOM_PATH } from '../launch/balloon.js';

/** VmRSS of a process in bytes, or null when it is gone. */
export function residentBytes(pid: number): number | null {
  try {
    const kb = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
    return kb ? Number(kb) * 1024 : null;
  } catch {
    return null; // gone between two reads
  }
}

/** Resident bytes of each VM's QEMU (VMs whose QEMU is gone are left out). */
export function residentByVm(pids: Map<string, number>): Record<string, number> {
  const sample: Record<string, number> = {};
  for (const [name, pid] of pids) {
    const bytes = residentBytes(pid);
    if (bytes !== null) sample[name] = bytes;
  }
  return sample;
}

// ---- the balloon before a pause (policy.balloonBeforePause) --------------------------------


const MiB = 1024 * 1024;
/** Left to the guest above its working set, so that it does not swap or reclaim right after the resume. */
const HEADROOM_BYTES = 32 * MiB;
const FLOOR_BYTES = 64 * MiB;

/** The balloon's statistics as QEMU reports them (qom-get guest-stats); -1: the guest does not say. */
const GuestStats = z.looseObject({
  stats: z.looseObject({ 'stat-total-memory': z.number(), 'stat-available-memory': z.number() }),
  'last-update': z.number(),
});

export interface Shrunk {
  /** Bytes the guest had, and was asked to keep (its working set plus headroom); null when nothing was asked. */
  fromBytes: number | null;
  toBytes: number | null;
  cachesDropped: boolean;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Before a hidden VM is paused: its page cache dropped (through the guest
 * agent, when it has one: a file write, no shell) and its balloon inflated to
 * its working set, so that a long pause holds less. With free-page reporting
 * the freed pages go back to the host. Bounded in time; never fails the pause
 * for want of an agent or statistics.
 */
export async function shrinkToWorkingSet(qmp: QmpClient, runDir: string, timeoutMs = 5000): Promise<Shrunk> {
  const deadline = Date.now() + timeoutMs;
  const cachesDropped = await dropCaches(path.join(runDir, 'qga.sock'), Math.min(1500, timeoutMs / 3));
  const result: Shrunk = { fromBytes: null, toBytes: null, cachesDropped };
  try {
    await qmp.execute('qom-set', { path: BALLOON_QOM_PATH, property: 'guest-stats-polling-interval', value: 1 });
  } catch {
    return result; // not our balloon (the VM opted out, or brings its own)
  }
  try {
    const asked = Date.now() / 1000;
    let stats: z.infer<typeof GuestStats> | null = null;
    while (Date.now() < deadline - 1000) {
      const parsed = GuestStats.safeParse(await qmp.execute('qom-get', { path: BALLOON_QOM_PATH, property: 'guest-stats' }));
      if (parsed.success && parsed.data['last-update'] >= Math.floor(asked) && parsed.data.stats['stat-available-memory'] >= 0) {
        stats = parsed.data;
        break;
      }
      await sleep(200);
    }
    if (!stats) return result;
    const { 'base-memory': base } = await qmp.execute('query-memory-size-summary');
    const workingSet = stats.stats['stat-total-memory'] - stats.stats['stat-available-memory'];
    const target = Math.min(base, Math.max(FLOOR_BYTES, workingSet + HEADROOM_BYTES));
    const before = (await qmp.execute('query-balloon')).actual;
    result.fromBytes = before;
    if (target >= before) return result;
    await qmp.execute('balloon', { value: Math.floor(target / MiB) * MiB });
    result.toBytes = target;
    while (Date.now() < deadline && (await qmp.execute('query-balloon')).actual > target + MiB) await sleep(100);
    return result;
  } finally {
    await qmp.execute('qom-set', { path: BALLOON_QOM_PATH, property: 'guest-stats-polling-interval', value: 0 }).catch(() => undefined);
  }
}

/** After a resume: the balloon deflated to the VM's whole memory again (a no-op when it is not inflated). */
export async function growBack(qmp: QmpClient): Promise<boolean> {
  let base: number;
  let actual: number;
  try {
    base = (await qmp.execute('query-memory-size-summary'))['base-memory'];
    actual = (await qmp.execute('query-balloon')).actual;
  } catch {
    return false; // no balloon
  }
  if (actual >= base) return false;
  await qmp.execute('balloon', { value: base });
  return true;
}

/** "3" into /proc/sys/vm/drop_caches through the guest agent's file commands; false without an agent. */
async function dropCaches(agentSocket: string, timeoutMs: number): Promise<boolean> {
  let agent: AgentClient;
  try {
    agent = await AgentClient.connect(agentSocket);
  } catch {
    return false;
  }
  try {
    const handle = await agent.execute('guest-file-open', { path: '/proc/sys/vm/drop_caches', mode: 'w' }, { timeoutMs });
    try {
      await agent.execute('guest-file-write', { handle, 'buf-b64': Buffer.from('3\n').toString('base64') }, { timeoutMs });
    } finally {
      await agent.execute('guest-file-close', { handle }, { timeoutMs }).catch(() => undefined);
    }
    return true;
  } catch {
    return false;
  } finally {
    agent.close();
  }
}
