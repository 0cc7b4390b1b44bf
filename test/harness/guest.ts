/**
 * The real guest for end-to-end tests: Debian's cloud kernel and a busybox
 * initramfs whose init prints "tick N" on the serial console every 0.2 s. A
 * paused VM visibly stops counting. Built once into a cache directory from
 * Debian's packages (apt-get download; no network beyond the archive).
 *
 * Kernel command line knobs the init understands:
 *   hiboss.poweroff_after=N   power off (as a guest) after N ticks
 *
 * Run directly (`node dist/test/harness/guest.js`) to build the cache ahead of the tests.
 */
import { execa } from 'execa';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import zlib from 'node:zlib';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
export const GUEST_CACHE = process.env.HIBOSS_GUEST_CACHE ?? path.join(REPO, '.cache', 'guest');

const INIT = `#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
limit=$(sed -n 's/.*hiboss.poweroff_after=\\([0-9]*\\).*/\\1/p' /proc/cmdline)
echo GUEST-UP
i=0
while true; do
  i=$((i+1))
  echo "tick $i"
  if [ -n "$limit" ] && [ "$i" -ge "$limit" ]; then echo GUEST-POWEROFF; poweroff -f; fi
  sleep 0.2
done
`;

export interface Guest {
  kernel: string;
  initrd: string;
}

/** QEMU argv for the guest: serial console to `serialLog`. */
export function guestQemuArgv(guest: Guest, serialLog: string, extraCmdline = ''): string[] {
  return [
    'qemu-system-x86_64', '-M', 'q35', '-m', '128', '-nodefaults', '-display', 'none', '-nic', 'none',
    '-kernel', guest.kernel, '-initrd', guest.initrd,
    '-append', `console=ttyS0 quiet panic=-1 ${extraCmdline}`.trim(),
    '-serial', `file:${serialLog}`,
  ];
}

export function tickCount(serial: string): number {
  const ticks = serial.match(/tick (\d+)/g);
  return ticks ? Number(ticks[ticks.length - 1]!.slice(5)) : 0;
}

export async function ensureGuest(cacheDir = GUEST_CACHE): Promise<Guest> {
  const guest = { kernel: path.join(cacheDir, 'vmlinuz'), initrd: path.join(cacheDir, 'initrd.gz') };
  if (fs.existsSync(guest.kernel) && fs.existsSync(guest.initrd)) return guest;

  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'guest-build-'));
  try {
    const { stdout: depends } = await execa('apt-cache', ['depends', 'linux-image-cloud-amd64']);
    const kernelPackage = /Depends: (linux-image-\d\S*)/.exec(depends)?.[1];
    if (!kernelPackage) throw new Error(`cannot find the cloud kernel package in: ${depends}`);
    await execa('apt-get', ['download', kernelPackage, 'busybox-static'], { cwd: work });
    const root = path.join(work, 'root');
    for (const deb of fs.readdirSync(work).filter((f) => f.endsWith('.deb'))) {
      await execa('dpkg-deb', ['-x', path.join(work, deb), root]);
    }
    const vmlinuz = fs.readdirSync(path.join(root, 'boot')).find((f) => f.startsWith('vmlinuz-'));
    if (!vmlinuz) throw new Error('no vmlinuz in the kernel package');

    const initrdRoot = path.join(work, 'initrd');
    for (const dir of ['bin', 'proc', 'sys', 'dev']) fs.mkdirSync(path.join(initrdRoot, dir), { recursive: true });
    fs.copyFileSync(path.join(root, 'bin', 'busybox'), path.join(initrdRoot, 'bin', 'busybox'));
    fs.chmodSync(path.join(initrdRoot, 'bin', 'busybox'), 0o755);
    fs.writeFileSync(path.join(initrdRoot, 'init'), INIT, { mode: 0o755 });
    const files = ['.', 'bin', 'bin/busybox', 'proc', 'sys', 'dev', 'init'].join('\n') + '\n';
    const cpio = await execa('cpio', ['-o', '-H', 'newc', '--quiet'], {
      cwd: initrdRoot,
      input: files,
      encoding: 'buffer',
    });
    const staging = fs.mkdtempSync(path.join(path.dirname(cacheDir) === cacheDir ? os.tmpdir() : ensureParent(cacheDir), 'guest-'));
    fs.copyFileSync(path.join(root, 'boot', vmlinuz), path.join(staging, 'vmlinuz'));
    fs.writeFileSync(path.join(staging, 'initrd.gz'), zlib.gzipSync(cpio.stdout as Uint8Array));
    fs.rmSync(cacheDir, { recursive: true, force: true });
    fs.renameSync(staging, cacheDir); // atomic: a crash never leaves half a cache
    return guest;
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}

function ensureParent(dir: string): string {
  const parent = path.dirname(dir);
  fs.mkdirSync(parent, { recursive: true });
  return parent;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const guest = await ensureGuest();
  console.log(`guest ready: ${guest.kernel} ${guest.initrd}`);
}
