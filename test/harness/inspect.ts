/** Looking at what really runs, from /proc: how many QEMUs hold a given QMP socket. */
import fs from 'node:fs';

export function pidsWithArg(fragment: string): number[] {
  const pids: number[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmdline = fs.readFileSync(`/proc/${entry}/cmdline`, 'utf8');
      if (cmdline.startsWith('qemu-system') && cmdline.includes(fragment)) pids.push(Number(entry));
    } catch {
      /* gone */
    }
  }
  return pids;
}

/** Every process (QEMU or not) whose argv mentions `fragment`, this one excepted. */
export function processesWithArg(fragment: string): number[] {
  const pids: number[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      if (fs.readFileSync(`/proc/${entry}/cmdline`, 'utf8').includes(fragment)) pids.push(Number(entry));
    } catch {
      /* gone */
    }
  }
  return pids;
}

export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
