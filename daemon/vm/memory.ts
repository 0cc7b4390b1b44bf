/**
 * Memory a VM holds on the host (issue #10): the resident size of its QEMU,
 * as /proc says, for the budget (policy `memory` events) and the status.
 */
import fs from 'node:fs';

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
