/**
 * A real guest that plays and records, opt-in beside the main test
 * guest (./guest.ts stays small): Debian's full `linux-image-amd64` kernel (the
 * cloud kernel has no sound drivers) with its Intel HDA modules, ALSA's real
 * `aplay`/`arecord`, Debian's `qemu-ga`, and a busybox init. At boot it plays
 * noise and records without end, both on the HDA card QEMU gives it, so the
 * sound server on the host sees one playback and one capture stream per VM.
 *
 * The clipboard's stand-in: a real NixOS VM runs wl-copy/wl-paste in
 * its Wayland session; this guest has none, so /bin/clip-copy and /bin/clip-paste
 * keep the clipboard in /run/clipboard — the guest-side commands a VM's
 * `clipboard` setting names.
 *
 * Built once into .cache/soundguest-vN from Debian's packages (apt-get download).
 */
import { execa } from 'execa';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildGuestCache, Initramfs, unpackDebian, type Guest } from './initramfs.js';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
/** Versioned: a cache built by an older harness is rebuilt, not trusted. */
export const SOUND_GUEST_CACHE = process.env.HIBOSS_SOUND_GUEST_CACHE ?? path.join(REPO, '.cache', 'soundguest-v4');

/** The modules the guest loads, with what they need: found by `modinfo -F depends`, loaded dependencies first. */
const WANTED_MODULES = ['virtio_pci', 'virtio_console', 'snd-hda-codec-generic', 'snd-hda-intel'];
/**
 * QEMU's codec under TCG answers the controller's first probe too late for the
 * driver: codec 0 is probed regardless (probe_mask with the force bit), and
 * single_cmd talks to it without the CORB/RIRB rings.
 */
const MODULE_OPTIONS: Record<string, string> = { 'snd-hda-intel': 'probe_mask=0x101 single_cmd=1' };

/** The guest's programs (ALSA utilities and the agent) and the shared libraries they link. */
const PROGRAMS = ['usr/bin/aplay', 'usr/bin/arecord', 'usr/sbin/qemu-ga'];

const CLIP_COPY = `#!/bin/busybox sh
# The stand-in for wl-copy: the clipboard is this file (the test guest has no Wayland session).
cat > /run/clipboard.new && mv /run/clipboard.new /run/clipboard
`;
const CLIP_PASTE = `#!/bin/busybox sh
# The stand-in for wl-paste: fails like it when nothing was copied.
[ -f /run/clipboard ] || { echo "Nothing is copied" >&2; exit 1; }
cat /run/clipboard
`;

function init(modules: string[]): string {
  return `#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mkdir -p /tmp /run
mount -t tmpfs tmp /tmp
mount -t tmpfs run /run
${modules.map((m) => `insmod /lib/modules/${m}.ko ${MODULE_OPTIONS[m] ?? ''} || echo "GUEST-NO-MODULE ${m}"`).join('\n')}
echo GUEST-UP
for port in /sys/class/virtio-ports/*; do
  if [ "$(cat "$port/name" 2>/dev/null)" = org.qemu.guest_agent.0 ]; then
    qemu-ga -m virtio-serial -p "/dev/\${port##*/}" -t /run -f /run/qemu-ga.pid -d && echo GUEST-AGENT-UP
  fi
done
# The card is probed in the background: its devices appear a little after the module loads
# (seconds on a loaded host under TCG). 90 s is the give-up point, not a wait: the loop ends
# as soon as the device is there.
# Both devices: the playback one can appear before the capture one.
n=0; while { [ ! -e /dev/snd/pcmC0D0p ] || [ ! -e /dev/snd/pcmC0D0c ]; } && [ $n -lt 900 ]; do sleep 0.1; n=$((n+1)); done
if [ -e /dev/snd/pcmC0D0c ]; then
  echo GUEST-SOUND-UP
  # Records and plays without end; a stream that ends is started again (and said on the console).
  (while true; do arecord -q -D hw:0,0 -f S16_LE -r 44100 -c 2 -t raw > /dev/null; echo GUEST-RECORD-ENDED; sleep 1; done) &
  (while true; do aplay -q -D hw:0,0 -f S16_LE -r 44100 -c 2 -t raw < /dev/urandom; echo GUEST-PLAY-ENDED; sleep 1; done) &
else
  echo GUEST-NO-SOUND
fi
i=0
while true; do i=$((i+1)); echo "tick $i"; sleep 1; done
`;
}

/** Module names in load order (dependencies first), from the kernel tree's .ko files. */
async function moduleOrder(kernelTree: string): Promise<{ name: string; file: string }[]> {
  const files = new Map<string, string>();
  const walk = (dir: string) => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(full);
      else if (entry.name.endsWith('.ko')) files.set(entry.name.slice(0, -3), full);
    }
  };
  walk(kernelTree);
  const order: { name: string; file: string }[] = [];
  const seen = new Set<string>();
  const visit = async (name: string) => {
    if (seen.has(name)) return;
    seen.add(name);
    const file = files.get(name) ?? files.get(name.replaceAll('_', '-')) ?? files.get(name.replaceAll('-', '_'));
    if (!file) throw new Error(`kernel module ${name} is not in the kernel package`);
    const { stdout } = await execa('modinfo', ['-F', 'depends', file]);
    for (const dependency of stdout.trim().split(',').filter(Boolean)) await visit(dependency);
    order.push({ name: path.basename(file, '.ko'), file });
  };
  for (const name of WANTED_MODULES) await visit(name);
  return order;
}

export async function ensureSoundGuest(cacheDir = SOUND_GUEST_CACHE): Promise<Guest> {
  return buildGuestCache(cacheDir, 'soundguest', async (work) => {
    const { root, vmlinuz } = await unpackDebian(work, 'linux-image-amd64', ['busybox-static', 'qemu-guest-agent', 'alsa-utils', 'libasound2-data']);
    const initrd = new Initramfs(path.join(work, 'initrd'));
    initrd.put(path.join(root, 'bin', 'busybox'), 'bin/busybox', 0o755);
    const modules = await moduleOrder(path.join(root, 'lib', 'modules', fs.readdirSync(path.join(root, 'lib', 'modules'))[0]!, 'kernel'));
    for (const module of modules) initrd.put(module.file, `lib/modules/${module.name}.ko`);
    initrd.write('init', init(modules.map((m) => m.name)));
    initrd.write('bin/clip-copy', CLIP_COPY);
    initrd.write('bin/clip-paste', CLIP_PASTE);
    // ALSA's configuration (libasound reads it to open "hw:0,0").
    fs.cpSync(path.join(root, 'usr', 'share', 'alsa'), path.join(initrd.root, 'usr', 'share', 'alsa'), { recursive: true });
    for (const program of PROGRAMS) {
      const file = path.join(root, program);
      initrd.put(file, `bin/${path.basename(program)}`, 0o755);
      // The shared libraries, from this host (the same Debian release; libasound comes with QEMU's packages).
      const { stdout: libs } = await execa('ldd', [file]);
      for (const lib of libs.matchAll(/(\/\S+\.so[.\d]*)/g)) initrd.put(fs.realpathSync(lib[1]!), lib[1]!.slice(1), 0o755);
    }
    // The tree also holds ALSA's copied directory: the archive lists what is there.
    return { kernel: vmlinuz, cpio: await initrd.pack('found'), gzipLevel: 1 };
  });
}

/** The stand-in clipboard programs of this guest, as a VM's `clipboard` setting names them. */
export const STAND_IN_CLIPBOARD = { copy: ['/bin/clip-copy'], paste: ['/bin/clip-paste'] };

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const guest = await ensureSoundGuest();
  console.log(`sound guest ready: ${guest.kernel} ${guest.initrd}`);
}
