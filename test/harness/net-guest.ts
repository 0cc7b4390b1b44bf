/**
 * The network guest: Debian's cloud kernel and a busybox initramfs carrying the
 * real programs of a hiboss private network — wireguard (kernel module +
 * `wg`), yggdrasil 0.4.7, tinc 1.0, syncthing, nftables (`nft`) — each with the
 * libraries `ldd` lists, plus Debian's qemu-guest-agent, the test's only way
 * in: everything the test does inside the VM is a `guest-exec` argv or a
 * `guest-file-write` (net-agent.ts). Built once from Debian 12's packages into
 * .cache/netguest-vN (apt-get download; no network beyond the archive).
 *
 * Kernel command line knobs the init understands:
 *   hiboss.name=NAME        the hostname (the member's name)
 *   hiboss.lan=ADDR/PREFIX  eth0's address on the private LAN (lan-hub.ts)
 *
 * The console log level is raised to 7, so the firewall's "refused connection"
 * log lines (nftables `log`) appear on the serial console: the test awaits them.
 *
 * Run directly (`node dist/test/harness/net-guest.js`) to build the cache ahead of the tests.
 */
import { execa } from 'execa';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildGuestCache, Initramfs, unpackDebian, type Guest } from './initramfs.js';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
/** Versioned: a cache built by an older harness is rebuilt, not trusted. */
export const NET_GUEST_CACHE = process.env.HIBOSS_NET_GUEST_CACHE ?? path.join(REPO, '.cache', 'netguest-v6');

/** The modules the guest needs; their dependencies come from modules.dep (depmod on the unpacked kernel). */
const WANTED_MODULES = [
  'virtio_pci', 'virtio_console', 'virtio_net', 'tun', 'wireguard',
  'nf_tables', 'nft_ct', 'nft_reject_inet', 'nft_log', 'nf_log_syslog', 'nft_limit', 'nft_fib_inet',
];

/** Programs copied into the initramfs: package path → path inside. */
const PROGRAMS: Array<[string, string]> = [
  ['usr/sbin/qemu-ga', 'bin/qemu-ga'],
  ['usr/bin/wg', 'bin/wg'],
  ['usr/sbin/nft', 'bin/nft'],
  ['usr/sbin/yggdrasil', 'bin/yggdrasil'],
  ['usr/sbin/tincd', 'bin/tincd'],
  ['usr/bin/syncthing', 'bin/syncthing'],
];

/**
 * Packages downloaded: the programs and the libraries they link that a minimal Debian
 * need not have (found first in the unpacked tree, so the host's set does not matter).
 */
const PACKAGES = [
  'busybox-static', 'qemu-guest-agent', 'wireguard-tools', 'nftables', 'libnftables1', 'yggdrasil', 'tinc', 'syncthing',
  'liblzo2-2', 'libnftnl11', 'libmnl0', 'libjansson4', 'libxtables12', 'libedit2', 'libbsd0', 'libmd0',
];

const INIT = `#!/bin/busybox sh
/bin/busybox --install -s /bin
# qemu-ga refuses guest-set-time unless /sbin/hwclock exists.
mkdir -p /sbin && ln -s /bin/busybox /sbin/hwclock
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mkdir -p /tmp /run /etc /var/lib /shared
ln -s /run /var/run
mount -t tmpfs tmp /tmp
for m in $(cat /lib/modules/load-order); do insmod /lib/modules/$m.ko || echo "NET-GUEST-INSMOD-FAILED $m"; done
knob() { tr ' ' '\\n' < /proc/cmdline | sed -n "s/^hiboss\\.$1=//p"; }
name=$(knob name)
hostname "$name"
echo "$name" > /etc/hostname
printf '127.0.0.1 localhost\\n' > /etc/hosts
ip link set lo up
ip link set eth0 up
ip addr add "$(knob lan)" dev eth0
# Firewall log lines (level info) on the serial console: the test awaits "refused connection".
echo 7 > /proc/sys/kernel/printk
for port in /sys/class/virtio-ports/*; do
  if [ "$(cat "$port/name" 2>/dev/null)" = org.qemu.guest_agent.0 ]; then
    qemu-ga -m virtio-serial -p "/dev/\${port##*/}" -t /run -f /run/qemu-ga.pid -d && echo NET-GUEST-AGENT-UP
  fi
done
echo "NET-GUEST-UP $name"
while true; do sleep 3600; done
`;

/**
 * /bin/netlab: the guest-side steps the test runs by argv. Key generation stays
 * in here, so every private key is made and kept inside its VM; only public
 * identities are printed.
 */
const NETLAB = `#!/bin/busybox sh
set -e
umask 077
case "$1" in
identity-wireguard)
  mkdir -p /var/lib/hiboss
  wg genkey > /var/lib/hiboss/wireguard.key
  wg pubkey < /var/lib/hiboss/wireguard.key ;;
identity-yggdrasil)
  mkdir -p /var/lib/yggdrasil
  yggdrasil -genconf -json > /var/lib/yggdrasil/generated.json
  key() { sed -n "s/.*\\"$1\\": *\\"\\\\([0-9a-f]*\\\\)\\".*/\\\\1/p" /var/lib/yggdrasil/generated.json; }
  printf '{"PublicKey":"%s","PrivateKey":"%s"}\\n' "$(key PublicKey)" "$(key PrivateKey)" > /var/lib/yggdrasil/keys.json
  echo "$(key PublicKey) $(yggdrasil -useconffile /var/lib/yggdrasil/generated.json -address)" ;;
yggdrasil-config)
  # The evaluated settings (no secrets) merged with the VM's keys, as NixOS's module merges its keys file.
  mkdir -p /run/yggdrasil
  { tr -d '\\n' < /var/lib/yggdrasil/keys.json | sed 's/}$/,/'; tail -c +2 /etc/yggdrasil/settings.json; } > /run/yggdrasil/yggdrasil.conf ;;
identity-tinc)
  mkdir -p "/etc/tinc/$2/hosts"
  rm -f "/etc/tinc/$2/rsa_key.priv" "/etc/tinc/$2/hosts/$3"
  printf 'Name = %s\\n' "$3" > "/etc/tinc/$2/tinc.conf"
  # 1024 bits: made under TCG on a shared machine; the size changes nothing the tests assert.
  tincd -n "$2" -K 1024 < /dev/null > /dev/null 2>&1
  sed -n '/BEGIN RSA PUBLIC KEY/,/END RSA PUBLIC KEY/p' "/etc/tinc/$2/hosts/$3" > "/etc/tinc/$2/rsa_key.pub"
  cat "/etc/tinc/$2/rsa_key.pub" ;;
tinc-own-key)
  # The member's own host file gets its public key from the key made here.
  cat "/etc/tinc/$2/rsa_key.pub" >> "/etc/tinc/$2/hosts/$3" ;;
identity-syncthing)
  rm -rf /var/lib/syncthing
  syncthing generate --home=/var/lib/syncthing 2>&1 | sed -n 's/.*Device ID: *//p' ;;
wait-link)
  # Until the interface exists (a daemon creates it), at most 60 s.
  i=0; until ip link show "$2" > /dev/null 2>&1; do i=$((i+1)); [ $i -lt 300 ] || exit 1; sleep 0.2; done ;;
stop)
  # Ends a daemon the test started and waits until it is gone (not even a zombie), at most 20 s.
  kill "$2" 2>/dev/null || true
  i=0; while [ -d "/proc/$2" ] && ! grep -q '^State:.*Z' "/proc/$2/status" 2>/dev/null; do i=$((i+1)); [ $i -lt 200 ] || exit 1; sleep 0.1; done ;;
ping)
  # Until ADDR answers one echo request, at most $3 s: a fresh request every second, as the first ones
  # may be lost while a route forms (yggdrasil looks a path up; wireguard handshakes first).
  end=$(( $(date +%s) + $3 ))
  until ping -c 1 -W 1 "$2" > /dev/null 2>&1; do [ "$(date +%s)" -lt "$end" ] || exit 1; done ;;
wait-file)
  i=0; until [ -e "$2" ]; do i=$((i+1)); [ $i -lt 600 ] || exit 1; sleep 0.1; done ;;
*) echo "netlab: unknown step $1" >&2; exit 2 ;;
esac
`;

/** The load order of `wanted` and their dependencies (modules.dep lists each module's closure, last first). */
export function moduleLoadOrder(modulesDep: string, wanted: readonly string[]): string[] {
  const deps = new Map<string, string[]>();
  for (const line of modulesDep.split('\n')) {
    const [file, rest] = line.split(':');
    if (!file || rest === undefined) continue;
    deps.set(moduleName(file), rest.trim().split(/\s+/).filter(Boolean));
  }
  const order: string[] = [];
  const add = (name: string) => {
    if (order.includes(name)) return;
    const closure = deps.get(name);
    if (closure === undefined) throw new Error(`module ${name} is not in modules.dep`);
    for (const dep of [...closure].reverse()) add(moduleName(dep));
    order.push(name);
  };
  for (const name of wanted) add(name);
  return order;
}

function moduleName(file: string): string {
  return path.basename(file).replace(/\.ko$/, '');
}

export async function ensureNetGuest(cacheDir = NET_GUEST_CACHE): Promise<Guest> {
  return buildGuestCache(cacheDir, 'netguest', async (work) => {
    const { root, vmlinuz } = await unpackDebian(work, 'linux-image-cloud-amd64', PACKAGES);
    const kernelVersion = fs.readdirSync(path.join(root, 'lib', 'modules'))[0]!;
    await execa('depmod', ['-b', root, kernelVersion]);
    const modulesRoot = path.join(root, 'lib', 'modules', kernelVersion);
    const modulesDep = fs.readFileSync(path.join(modulesRoot, 'modules.dep'), 'utf8');
    const modulePaths = new Map(modulesDep.split('\n').filter(Boolean).map((line) => {
      const file = line.split(':')[0]!;
      return [moduleName(file), file] as const;
    }));
    const order = moduleLoadOrder(modulesDep, WANTED_MODULES);

    const initrd = new Initramfs(path.join(work, 'initrd'));
    initrd.put(path.join(root, 'bin', 'busybox'), 'bin/busybox', 0o755);
    initrd.write('init', INIT);
    initrd.write('bin/netlab', NETLAB);
    for (const name of order) initrd.put(path.join(modulesRoot, modulePaths.get(name)!), `lib/modules/${name}.ko`);
    initrd.write('lib/modules/load-order', order.join('\n') + '\n', 0o644);

    // Libraries from the unpacked packages first, then the host's (the same Debian release).
    const libraryPath = ['lib/x86_64-linux-gnu', 'usr/lib/x86_64-linux-gnu'].map((d) => path.join(root, d)).join(':');
    for (const [from, inside] of PROGRAMS) {
      const binary = path.join(root, from);
      initrd.put(binary, inside, 0o755);
      const { stdout: libs } = await execa('ldd', [binary], { env: { LD_LIBRARY_PATH: libraryPath }, reject: false });
      if (/not found/.test(libs)) throw new Error(`${from}: a library is missing:\n${libs}`);
      for (const match of libs.matchAll(/(?:=> )?(\/\S+\.so[.\d]*) \(/g)) {
        const lib = match[1]!;
        // Inside the guest every library lives where the loader looks for it by default.
        const inGuest = lib.startsWith(root) ? lib.slice(root.length + 1) : lib.slice(1);
        initrd.put(fs.realpathSync(lib), inGuest.replace(/^usr\/lib\//, 'lib/'), 0o755);
      }
    }
    return { kernel: vmlinuz, cpio: await initrd.pack('listed') };
  });
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const guest = await ensureNetGuest();
  console.log(`network guest ready: ${guest.kernel} ${guest.initrd}`);
}
