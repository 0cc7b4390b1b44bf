/**
 * A guest for host directories shared into a VM: Debian's generic kernel
 * (the cloud kernel has no 9p) and a busybox initramfs carrying Debian's real
 * 9p modules (9p, 9pnet, 9pnet_virtio, netfs, fscache) and qemu_fw_cfg.
 *
 * Its init reads what the member's hiboss told it in the fw_cfg entry
 * opt/hiboss/shares (the JSON daemon/launch/shares.ts writes), and — as a
 * hostile guest would — mounts every share read-WRITE whatever it was told,
 * so only the host can keep a read-only share unwritten. For each share it
 * prints, on the serial console:
 *
 *   SHARE-MOUNTED TAG PATH WRITABLE | SHARE-FAILED TAG
 *   SHARE-LIST TAG entries…          what it sees in the share
 *   SHARE-READ TAG text              hello.txt in the share
 *   SHARE-LEAK TAG text              the symlink `leak` in the share, followed (in the guest)
 *   SHARE-WRITE TAG ok|refused       writing from-guest.txt
 *
 * then PROBE-MOUNTED|PROBE-REFUSED (a tag nobody offered), MOUNTS-9P (every
 * 9p mount: device and where), SHARES-DONE, and ticks.
 *
 * Run directly (`node dist/test/harness/share-guest.js`) to build the cache ahead of the tests.
 */
import { execa } from 'execa';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import zlib from 'node:zlib';
import type { Guest } from './guest.js';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
/** Versioned: a cache built by an older harness is rebuilt, not trusted. */
export const SHARE_GUEST_CACHE = path.join(REPO, '.cache', 'shareguest-v1');

/** Loaded in this order at boot (no depmod in the initramfs). */
const MODULES = [
  'drivers/virtio/virtio_ring', 'drivers/virtio/virtio', 'drivers/virtio/virtio_pci_legacy_dev', 'drivers/virtio/virtio_pci_modern_dev',
  'drivers/virtio/virtio_pci', 'drivers/firmware/qemu_fw_cfg',
  'fs/netfs/netfs', 'fs/fscache/fscache', 'net/9p/9pnet', 'net/9p/9pnet_virtio', 'fs/9p/9p',
];

const INIT = `#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
for m in ${MODULES.map((m) => m.split('/').pop()).join(' ')}; do insmod /lib/modules/$m.ko 2>/dev/null; done
echo GUEST-UP
raw=/sys/firmware/qemu_fw_cfg/by_name/opt/hiboss/shares/raw
if [ -f $raw ]; then
  for entry in $(tr -d '[] \\n' < $raw | sed 's/},{/} {/g'); do
    tag=$(echo "$entry" | sed -n 's/.*"tag":"\\([^"]*\\)".*/\\1/p')
    dir=$(echo "$entry" | sed -n 's/.*"path":"\\([^"]*\\)".*/\\1/p')
    told=$(echo "$entry" | sed -n 's/.*"writable":\\([a-z]*\\).*/\\1/p')
    mkdir -p "$dir"
    if mount -t 9p -o trans=virtio,version=9p2000.L "$tag" "$dir"; then echo "SHARE-MOUNTED $tag $dir $told"; else echo "SHARE-FAILED $tag"; fi
    echo "SHARE-LIST $tag $(ls -A "$dir" | tr '\\n' ' ')"
    echo "SHARE-READ $tag $(cat "$dir/hello.txt" 2>&1)"
    echo "SHARE-LEAK $tag $(cat "$dir/leak" 2>&1 | head -c 100)"
    if echo guest-wrote > "$dir/from-guest.txt" 2>/dev/null; then echo "SHARE-WRITE $tag ok"; else echo "SHARE-WRITE $tag refused"; fi
  done
else
  echo SHARES-NONE
fi
mkdir -p /mnt/probe
if mount -t 9p -o trans=virtio,version=9p2000.L hiboss7 /mnt/probe 2>/dev/null; then echo PROBE-MOUNTED; else echo PROBE-REFUSED; fi
echo "MOUNTS-9P $(grep ' 9p ' /proc/mounts | cut -d' ' -f1,2 | tr '\\n' ';')"
echo SHARES-DONE
i=0
while true; do
  i=$((i+1))
  echo "tick $i"
  sleep 0.2
done
`;

export async function ensureShareGuest(cacheDir = SHARE_GUEST_CACHE): Promise<Guest> {
  const guest = { kernel: path.join(cacheDir, 'vmlinuz'), initrd: path.join(cacheDir, 'initrd.gz') };
  if (fs.existsSync(guest.kernel) && fs.existsSync(guest.initrd)) return guest;

  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'share-guest-build-'));
  try {
    const { stdout: depends } = await execa('apt-cache', ['depends', 'linux-image-amd64']);
    const kernelPackage = /Depends: (linux-image-\d\S*)/.exec(depends)?.[1];
    if (!kernelPackage) throw new Error(`cannot find the generic kernel package in: ${depends}`);
    await execa('apt-get', ['download', kernelPackage, 'busybox-static'], { cwd: work });
    const root = path.join(work, 'root');
    for (const deb of fs.readdirSync(work).filter((f) => f.endsWith('.deb'))) await execa('dpkg-deb', ['-x', path.join(work, deb), root]);
    const vmlinuz = fs.readdirSync(path.join(root, 'boot')).find((f) => f.startsWith('vmlinuz-'));
    if (!vmlinuz) throw new Error('no vmlinuz in the kernel package');

    const initrdRoot = path.join(work, 'initrd');
    const files: string[] = [];
    const put = (from: string, inside: string, mode = 0o644) => {
      const to = path.join(initrdRoot, inside);
      fs.mkdirSync(path.dirname(to), { recursive: true });
      fs.copyFileSync(from, to);
      fs.chmodSync(to, mode);
      files.push(inside);
    };
    for (const dir of ['bin', 'proc', 'sys', 'dev', 'mnt', 'lib/modules']) fs.mkdirSync(path.join(initrdRoot, dir), { recursive: true });
    put(path.join(root, 'bin', 'busybox'), 'bin/busybox', 0o755);
    fs.writeFileSync(path.join(initrdRoot, 'init'), INIT, { mode: 0o755 });
    files.push('init');
    const modulesDir = path.join(root, 'lib', 'modules', fs.readdirSync(path.join(root, 'lib', 'modules'))[0]!, 'kernel');
    for (const module of MODULES) put(path.join(modulesDir, `${module}.ko`), `lib/modules/${path.basename(module)}.ko`);
    const list = [...['.', 'bin', 'proc', 'sys', 'dev', 'mnt', 'lib', 'lib/modules'], ...files].join('\n') + '\n';
    const cpio = await execa('cpio', ['-o', '-H', 'newc', '--quiet'], { cwd: initrdRoot, input: list, encoding: 'buffer' });
    fs.mkdirSync(path.dirname(cacheDir), { recursive: true });
    const staging = fs.mkdtempSync(path.join(path.dirname(cacheDir), 'shareguest-'));
    fs.copyFileSync(path.join(root, 'boot', vmlinuz), path.join(staging, 'vmlinuz'));
    fs.writeFileSync(path.join(staging, 'initrd.gz'), zlib.gzipSync(cpio.stdout as Uint8Array));
    fs.rmSync(cacheDir, { recursive: true, force: true });
    fs.renameSync(staging, cacheDir); // atomic: a crash never leaves half a cache
    return guest;
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const guest = await ensureShareGuest();
  console.log(`share guest ready: ${guest.kernel} ${guest.initrd}`);
}
