/**
 * A flake VM's uplink (issue 21): Debian's/nixpkgs' `passt`, one per VM, on a
 * unix socket in the VM's run dir that QEMU connects to (-netdev stream).
 *
 * passt gives the guest the host's own address and gateway over DHCP and
 * forwards its TCP/UDP through ordinary sockets — what a VPN needs to reach
 * its peers. With `--no-map-gw`, the gateway address is NOT the host's
 * loopback (QEMU's user networking and passt's default both map it there).
 * `--outbound-if4/6` binds every outbound socket to the interface of the
 * default route, so a destination that is one of the host's addresses on
 * another interface (or loopback) has no route from it. Each VM has its own
 * passt: no VM shares a link with another.
 *
 * passt daemonizes once its socket listens (so `startUplink` resolves when
 * QEMU may connect) and, with `--one-off`, ends when its QEMU disconnects.
 */
import { execa } from 'execa';
import fs from 'node:fs';
import path from 'node:path';
import type { VmPaths } from './launcher.js';

export interface UplinkOptions {
  /** How passt is run: its binary (default `passt` on PATH), or an argv that ends in it (nsenter … passt). */
  passt?: string[];
  /** The outbound interfaces (default: those of the default routes, from /proc/net/route and /proc/net/ipv6_route). */
  interfaces?: { ipv4: string | null; ipv6: string | null };
}

export function uplinkSocket(paths: VmPaths): string {
  return path.join(paths.runDir, 'uplink.sock');
}
export function uplinkPidFile(paths: VmPaths): string {
  return path.join(paths.runDir, 'uplink.pid');
}

const INTERFACE = /^[A-Za-z0-9_.:@-]{1,15}$/;

/** The interface of IPv4's default route (destination 00000000, mask 00000000), if any. */
export function defaultRouteInterfaces(procNet = '/proc/net'): { ipv4: string | null; ipv6: string | null } {
  const read = (file: string) => {
    try {
      return fs.readFileSync(path.join(procNet, file), 'utf8').slice(0, 1 << 20);
    } catch {
      return '';
    }
  };
  const ipv4 =
    read('route')
      .split('\n')
      .slice(1)
      .map((line) => line.trim().split(/\s+/))
      .find((fields) => fields[1] === '00000000' && fields[7] === '00000000' && INTERFACE.test(fields[0] ?? ''))?.[0] ?? null;
  const ipv6 =
    read('ipv6_route')
      .split('\n')
      .map((line) => line.trim().split(/\s+/))
      .find((fields) => fields[0] === '0'.repeat(32) && fields[1] === '00' && fields[9] !== 'lo' && INTERFACE.test(fields[9] ?? ''))?.[9] ?? null;
  return { ipv4, ipv6 };
}

/** passt's argv (without the binary). */
export function passtArgs(paths: VmPaths, interfaces: { ipv4: string | null; ipv6: string | null }, ids = { uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0 }): string[] {
  return [
    '--quiet',
    // Root (CI) would otherwise drop to "nobody", who cannot open the 0700 run dir.
    '--runas', `${ids.uid}:${ids.gid}`,
    '--socket', uplinkSocket(paths),
    '--pid', uplinkPidFile(paths),
    '--one-off',
    '--no-map-gw',
    ...(interfaces.ipv4 ? ['--outbound-if4', interfaces.ipv4] : []),
    ...(interfaces.ipv6 ? ['--outbound-if6', interfaces.ipv6] : []),
    // No IPv6 default route: no IPv6 to forward (and none to the host's).
    ...(interfaces.ipv4 && !interfaces.ipv6 ? ['--ipv4-only'] : []),
    ...(!interfaces.ipv4 && interfaces.ipv6 ? ['--ipv6-only'] : []),
  ];
}

/** Ends the VM's passt, if it runs (one left from a start whose QEMU never connected), by its pidfile. */
export function stopUplink(paths: VmPaths): void {
  let pid: number;
  try {
    pid = Number(fs.readFileSync(uplinkPidFile(paths), 'utf8').trim());
  } catch {
    return;
  }
  if (!Number.isInteger(pid) || pid <= 1) return;
  let cmdline = '';
  try {
    cmdline = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8');
  } catch {
    return;
  }
  // Only ours: a passt serving this VM's socket (the pid may have been reused).
  if (cmdline.includes('passt') && cmdline.split('\0').includes(uplinkSocket(paths))) {
    try {
      process.kill(pid, 'SIGTERM');
    } catch {
      /* already gone */
    }
  }
}

/**
 * Starts the VM's passt; resolves with its socket once it listens, or null
 * when the host has no default route (offline: the VM starts without a NIC).
 */
export async function startUplink(name: string, paths: VmPaths, options: UplinkOptions = {}, signal?: AbortSignal): Promise<string | null> {
  const interfaces = options.interfaces ?? defaultRouteInterfaces();
  stopUplink(paths);
  if (!interfaces.ipv4 && !interfaces.ipv6) return null;
  fs.rmSync(uplinkSocket(paths), { force: true });
  const [file, ...prefix] = options.passt ?? ['passt'];
  const result = await execa(file!, [...prefix, ...passtArgs(paths, interfaces)], {
    reject: false,
    stdin: 'ignore',
    cancelSignal: signal,
    maxBuffer: 64 * 1024,
  });
  if (result.failed || !fs.existsSync(uplinkSocket(paths))) {
    const why = (String(result.stderr).split('\n').filter((line) => line && !line.includes('syslog')).slice(-3).join('; ') || result.shortMessage) ?? 'failed';
    throw new Error(`${name}: cannot start the VM's uplink (passt): ${why}`);
  }
  return uplinkSocket(paths);
}
