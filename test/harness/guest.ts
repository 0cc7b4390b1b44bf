/**
 * The real guest for end-to-end tests: Debian's cloud kernel and a busybox
 * initramfs whose init prints "tick N" on the serial console every 0.2 s. A
 * paused VM visibly stops counting. Built once into a cache directory from
 * Debian's packages (apt-get download; no network beyond the archive).
 *
 * The initramfs also carries the virtio drivers (blk, console, balloon) and
 * pvpanic as modules, and Debian's real `qemu-guest-agent` with its libraries:
 * when QEMU offers the `org.qemu.guest_agent.0` port, the agent answers on it
 * (guest-ping, guest-exec, guest-fsfreeze-*, guest-set-time …).
 *
 * Kernel command line knobs the init understands:
 *   hiboss.poweroff_after=N   power off (as a guest) after N ticks
 *   hiboss.panic_after=N      panic after N ticks (with -device pvpanic-pci: QMP GUEST_PANICKED)
 *   hiboss.no_agent=1         never start the guest agent (a boot that "hangs" before it)
 *   hiboss.store=1            mount the virtio disk whose serial is "hiboss-store" (a squashfs closure
 *                             image) read-only at /nix/store and print what it holds between
 *                             STORE-BEGIN and STORE-END, then STORE-READONLY or STORE-WRITABLE
 *   hiboss.net=1              bring eth0 up with DHCP (udhcpc): prints "NET-UP ADDRESS gw GATEWAY"
 *   hiboss.probe=A:P,B:P,…    then connect (busybox nc) to each ADDRESS:PORT ("gw" is the DHCP
 *                             gateway) and print "PROBE A:P [what it answered]", then PROBES-DONE
 *   hiboss.listen=PORT        serve "GUEST-LISTENER" on PORT (for another VM to try to reach)
 *   hiboss.address=A.B.C.D    take this address instead of the one DHCP offers (a guest that
 *                             lies about itself, to reach the host's own address through the uplink)
 *   hiboss.mount=MOUNTPOINT:DEVICE:FSTYPE:OPTIONS:AUTOFORMAT (repeatable, in mount order)
 *                             what NixOS's initrd would do with a fileSystems entry (test/nix/guest-boot.test.ts
 *                             feeds it the evaluated modules/guest-boot.nix): resolve /dev/disk/by-id/virtio-SERIAL
 *                             from /sys/block/vd*\/serial (no udev here) and print "RESOLVED DEVICE /dev/vdX";
 *                             with AUTOFORMAT 1 and no file system on it (blkid), `mke2fs -t FSTYPE` it and print
 *                             "FORMATTED MOUNTPOINT"; mount it at /sysroot/MOUNTPOINT and print "MOUNTED MOUNTPOINT".
 *                             Then: the mounts as /proc/mounts has them (MOUNTS-BEGIN … MOUNTS-END), the store's
 *                             entries (SYSROOT-STORE-BEGIN … END), whether the store takes a write
 *                             (SYSROOT-STORE-READONLY / -WRITABLE), and "ROOT-BOOTS N", N counted on the root disk.
 *
 * Run directly (`node dist/test/harness/guest.js`) to build the cache ahead of the tests.
 */
import { execa } from 'execa';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildGuestCache, Initramfs, unpackDebian, type Guest } from './initramfs.js';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
/** Versioned: a cache built by an older harness is rebuilt, not trusted. */
export const GUEST_CACHE = process.env.HIBOSS_GUEST_CACHE ?? path.join(REPO, '.cache', 'guest-v5-boot');

/** Loaded in this order at boot (no depmod in the initramfs). ext4 is built into the cloud kernel. */
export const MODULES = [
  'drivers/virtio/virtio_ring', 'drivers/virtio/virtio', 'drivers/virtio/virtio_pci_legacy_dev', 'drivers/virtio/virtio_pci_modern_dev',
  'drivers/virtio/virtio_pci', 'drivers/block/virtio_blk', 'drivers/char/virtio_console', 'drivers/virtio/virtio_balloon',
  'drivers/misc/pvpanic/pvpanic', 'drivers/misc/pvpanic/pvpanic-pci',
  // The uplink (a virtio NIC) and the closure image (squashfs), used only when the knobs below ask.
  'net/core/failover', 'drivers/net/net_failover', 'drivers/net/virtio_net', 'fs/squashfs/squashfs',
];

const INIT = `#!/bin/busybox sh
/bin/busybox --install -s /bin
# qemu-ga refuses guest-set-time unless /sbin/hwclock exists (it syncs the RTC after setting the clock).
mkdir -p /sbin && ln -s /bin/busybox /sbin/hwclock
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mkdir -p /tmp /run
mount -t tmpfs tmp /tmp
for m in ${MODULES.map((m) => m.split('/').pop()).join(' ')}; do insmod /lib/modules/$m.ko 2>/dev/null; done
knob() { sed -n "s/.*hiboss\\.$1=\\([0-9A-Za-z_]*\\).*/\\1/p" /proc/cmdline; }
limit=$(knob poweroff_after)
panic_at=$(knob panic_after)
echo GUEST-UP
if [ -n "$(knob store)" ]; then
  mkdir -p /nix/store
  for dev in /sys/block/vd*; do
    if [ "$(cat "$dev/serial" 2>/dev/null)" = hiboss-store ]; then
      mount -t squashfs -o ro "/dev/\${dev##*/}" /nix/store && echo STORE-MOUNTED
    fi
  done
  echo STORE-BEGIN; ls -1 /nix/store; echo STORE-END
  if touch /nix/store/written 2>/dev/null; then echo STORE-WRITABLE; else echo STORE-READONLY; fi
fi
mounts=$(tr ' ' '\\n' </proc/cmdline | sed -n 's/^hiboss\\.mount=//p')
if [ -n "$mounts" ]; then
  for entry in $mounts; do
    mp=\${entry%%:*}; rest=\${entry#*:}
    device=\${rest%%:*}; rest=\${rest#*:}
    fstype=\${rest%%:*}; rest=\${rest#*:}
    options=\${rest%%:*}; format=\${rest#*:}
    for dev in /sys/block/vd*; do
      if [ "/dev/disk/by-id/virtio-$(cat "$dev/serial" 2>/dev/null)" = "$device" ]; then
        mkdir -p "\${device%/*}" && ln -sf "/dev/\${dev##*/}" "$device" && echo "RESOLVED $device /dev/\${dev##*/}"
      fi
    done
    if [ "$format" = 1 ] && [ -z "$(blkid -o value -s TYPE "$device")" ]; then
      /usr/sbin/mke2fs -q -t "$fstype" "$device" && echo "FORMATTED $mp"
    fi
    mkdir -p "/sysroot$mp"
    mount -t "$fstype" -o "$options" "$device" "/sysroot$mp" && echo "MOUNTED $mp"
  done
  echo MOUNTS-BEGIN; grep ' /sysroot' /proc/mounts; echo MOUNTS-END
  echo SYSROOT-STORE-BEGIN; ls -1 /sysroot/nix/store; echo SYSROOT-STORE-END
  if touch /sysroot/nix/store/written 2>/dev/null; then echo SYSROOT-STORE-WRITABLE; else echo SYSROOT-STORE-READONLY; fi
  boots=$(cat /sysroot/var/hiboss-boots 2>/dev/null || echo 0)
  mkdir -p /sysroot/var && echo $((boots + 1)) > /sysroot/var/hiboss-boots && sync && echo "ROOT-BOOTS $((boots + 1))"
fi
if [ -n "$(knob net)" ]; then
  cat > /bin/udhcpc.script <<'SCRIPT'
#!/bin/sh
case "$1" in
  bound|renew)
    own=$(sed -n 's/.*hiboss\\.address=\\([0-9.]*\\).*/\\1/p' /proc/cmdline)
    ifconfig "$interface" "\${own:-$ip}" netmask "$subnet" up
    for r in $router; do route add default gw "$r" dev "$interface"; echo "$r" > /run/gateway; done
    echo "NET-UP \${own:-$ip} gw $router" ;;
esac
SCRIPT
  chmod +x /bin/udhcpc.script
  (
    ifconfig lo 127.0.0.1 up
    ifconfig eth0 up && udhcpc -i eth0 -s /bin/udhcpc.script -q -n -t 10 2>/dev/null || echo NET-FAILED
    listen=$(knob listen)
    if [ -n "$listen" ]; then (while true; do echo GUEST-LISTENER | nc -l -p "$listen" >/dev/null 2>&1; done) & fi
    for probe in $(sed -n 's/.*hiboss\\.probe=\\([0-9A-Za-z.:,]*\\).*/\\1/p' /proc/cmdline | tr ',' ' '); do
      address=\${probe%:*}; port=\${probe##*:}
      [ "$address" = gw ] && address=$(cat /run/gateway 2>/dev/null)
      answer=$(timeout 6 nc -w 3 "$address" "$port" </dev/null 2>&1 | head -c 200 | tr '\\n' ' ')
      echo "PROBE $probe [$answer]"
    done
    echo PROBES-DONE
  ) &
fi
if [ -z "$(knob no_agent)" ]; then
  for port in /sys/class/virtio-ports/*; do
    if [ "$(cat "$port/name" 2>/dev/null)" = org.qemu.guest_agent.0 ]; then
      qemu-ga -m virtio-serial -p "/dev/\${port##*/}" -t /run -f /run/qemu-ga.pid -d && echo GUEST-AGENT-UP
    fi
  done
fi
i=0
while true; do
  i=$((i+1))
  echo "tick $i"
  if [ -n "$limit" ] && [ "$i" -ge "$limit" ]; then echo GUEST-POWEROFF; poweroff -f; fi
  if [ -n "$panic_at" ] && [ "$i" -ge "$panic_at" ]; then echo GUEST-PANIC; echo c > /proc/sysrq-trigger; fi
  sleep 0.2
done
`;

export type { Guest } from './initramfs.js';

export interface GuestDevices {
  /** The guest agent's channel: a unix socket QEMU serves at this path. */
  agentSocket?: string;
  /** -device pvpanic-pci: a guest panic becomes QMP GUEST_PANICKED. */
  pvpanic?: boolean;
  /** -device virtio-balloon-pci (free-page-reporting=on). */
  balloon?: boolean;
  /** A virtio disk backed by this image file (qcow2). */
  disk?: string;
  /** Guest memory, MiB (default 128). */
  memoryMiB?: number;
}

/** QEMU argv for the guest: serial console to `serialLog`, plus the devices asked for. */
export function guestQemuArgv(guest: Guest, serialLog: string, extraCmdline = '', devices: GuestDevices = {}): string[] {
  const argv = [
    'qemu-system-x86_64', '-M', 'q35', '-m', String(devices.memoryMiB ?? 128), '-nodefaults', '-display', 'none', '-nic', 'none',
    '-kernel', guest.kernel, '-initrd', guest.initrd,
    '-append', `console=ttyS0 quiet panic=-1 ${extraCmdline}`.trim(),
    '-serial', `file:${serialLog}`,
  ];
  if (devices.agentSocket !== undefined) {
    argv.push(
      '-device', 'virtio-serial-pci',
      '-chardev', `socket,id=qga0,path=${devices.agentSocket},server=on,wait=off`,
      '-device', 'virtserialport,chardev=qga0,name=org.qemu.guest_agent.0',
    );
  }
  if (devices.pvpanic) argv.push('-device', 'pvpanic-pci');
  if (devices.balloon) argv.push('-device', 'virtio-balloon-pci,free-page-reporting=on');
  if (devices.disk !== undefined) argv.push('-drive', `file=${devices.disk},if=virtio,format=qcow2,node-name=disk0`);
  return argv;
}

export function tickCount(serial: string): number {
  const ticks = serial.match(/tick (\d+)/g);
  return ticks ? Number(ticks[ticks.length - 1]!.slice(5)) : 0;
}

export async function ensureGuest(cacheDir = GUEST_CACHE): Promise<Guest> {
  return buildGuestCache(cacheDir, 'guest', async (work) => {
    const { root, vmlinuz } = await unpackDebian(work, 'linux-image-cloud-amd64', ['busybox-static', 'qemu-guest-agent']);
    const initrd = new Initramfs(path.join(work, 'initrd'));
    initrd.put(path.join(root, 'bin', 'busybox'), 'bin/busybox', 0o755);
    initrd.write('init', INIT);
    const modulesDir = path.join(root, 'lib', 'modules', fs.readdirSync(path.join(root, 'lib', 'modules'))[0]!, 'kernel');
    for (const module of MODULES) initrd.put(path.join(modulesDir, `${module}.ko`), `lib/modules/${path.basename(module)}.ko`);
    // The agent, the host's blkid and mke2fs (what NixOS's initrd formats a disk with), and the shared
    // libraries they link (this host is the same Debian release; a library already put is kept).
    // (mke2fs by its full path: busybox's own applet of that name, ext2 only, would win over PATH.)
    const programs = [[path.join(root, 'usr', 'sbin', 'qemu-ga'), 'bin/qemu-ga'], ['/usr/sbin/blkid', 'bin/blkid'], ['/usr/sbin/mke2fs', 'usr/sbin/mke2fs']] as const;
    for (const [program, inside] of programs) {
      initrd.put(program, inside, 0o755);
      const { stdout: libs } = await execa('ldd', [program]);
      for (const lib of libs.matchAll(/(\/\S+\.so[.\d]*)/g)) initrd.put(fs.realpathSync(lib[1]!), lib[1]!.slice(1), 0o755);
    }
    return { kernel: vmlinuz, cpio: await initrd.pack('listed') };
  });
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const guest = await ensureGuest();
  console.log(`guest ready: ${guest.kernel} ${guest.initrd}`);
}
