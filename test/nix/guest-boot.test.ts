/**
 * How a network VM boots under hiboss (modules/guest-boot.nix, nix/lib/guest-boot.nix):
 *  - evaluated offline for every wizard-producible config: the exact file systems, initrd modules and
 *    kernel parameters; the disk serials are the ones hiboss's QEMU gives (guest-devices.json =
 *    flake-argv.ts); the sizes a network may ask for have the bounds the daemon reads them with.
 *    (That these are real NixOS options of these types: check.nix against options-boot.json, run here
 *    for one config with a mistake, and by upstream-options/members for every config.)
 *  - proven with real programs: hiboss's own launcher (a stand-in nix "builds" the busybox test guest)
 *    starts the member's QEMU, and the guest's initrd does with the evaluated fileSystems what NixOS's
 *    initrd does — finds each disk by its virtio serial, formats the empty member's disk, mounts the
 *    closure read-only — on a console the evaluated kernel parameters put on hiboss's serial log; a
 *    second boot of the same disk finds what the first one wrote.
 */
import { vmPaths } from '../../config/paths.js';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { FlakeLauncher } from '../../daemon/launch/flake.js';
import { bootArgs, consoleLog, DISK_SERIAL, STORE_SERIAL } from '../../daemon/launch/flake-argv.js';
import { stopUplink } from '../../daemon/launch/uplink.js';
import { VmManifest } from '../../daemon/launch/vm-manifest.js';
import { ensureGuest, MODULES } from '../harness/guest.js';
import { start, waitForContent } from '../harness/processes.js';
import { guestManifest, makeStandInNix } from '../harness/stand-in-nix.js';
import { REPO, nixEval } from './nix-eval.js';

const t = suite('guest boot: a network VM boots from what hiboss\'s QEMU gives it');

type Json = any; // eslint-disable-line @typescript-eslint/no-explicit-any

interface FileSystem {
  device: string;
  fsType: string;
  options?: string[];
  autoFormat?: boolean;
  neededForBoot?: boolean;
}
interface Settings {
  fileSystems: Record<string, FileSystem>;
  boot: { loader: { grub: { enable: boolean } }; initrd: { systemd: { enable: boolean }; availableKernelModules: string[]; kernelModules: string[] }; kernelParams: string[] };
}

/** Just what modules/guest-boot.nix uses of nixpkgs' lib, recording what it is given. */
const STAND_IN_LIB = `{
  mkOption = option: option;
  mkIf = condition: content: { _if = condition; inherit content; };
  types = { nullOr = type: { nullOr = type; }; ints.between = min: max: { inherit min max; }; };
}`;

const EXPECTED: Settings = {
  fileSystems: {
    '/': { device: '/dev/disk/by-id/virtio-hiboss-disk', fsType: 'ext4', autoFormat: true },
    '/nix/store': { device: '/dev/disk/by-id/virtio-hiboss-store', fsType: 'squashfs', options: ['ro'], neededForBoot: true },
  },
  boot: {
    loader: { grub: { enable: false } },
    initrd: {
      systemd: { enable: true },
      availableKernelModules: ['virtio_pci', 'virtio_blk', 'virtio_net', 'squashfs', 'ext4'],
      kernelModules: ['virtio_pci', 'virtio_blk', 'squashfs', 'ext4'],
    },
    kernelParams: ['console=tty0', 'console=ttyS0,115200n8'],
  },
};

let settings: Settings;

t.before(async () => {
  settings = (await nixEval('{ repo }: (import (repo + "/nix/lib/guest-boot.nix") { }).settings', { repo: REPO })) as Settings;
});

t('every wizard config\'s VM (no member and each member) gets exactly the boot contract', async () => {
  const perConfig = (await nixEval(
    `{ repo }: let
        configs = import (repo + "/nix/upstream/wizard-members.nix") { count = 1; };
        hibossLib = import (repo + "/nix/lib") { lib = { mkDefault = x: x; }; };
        # Each config its own network (every one names the same members).
        modules = builtins.foldl' (all: name: all // hibossLib.generateNixosModules { \${name} = configs.\${name}; }) { } (builtins.attrNames configs);
        guestBoot = module: import (repo + "/modules/guest-boot.nix") { config.hiboss = module.hiboss; lib = ${STAND_IN_LIB}; };
      in builtins.mapAttrs (_: module: (guestBoot module).config) modules`,
    { repo: REPO },
  )) as Record<string, { _if: boolean; content: Settings }>;
  const names = Object.keys(perConfig);
  assert.ok(names.length > 150, `${names.length} VMs`);
  for (const name of names) {
    assert.is(perConfig[name]!._if, true, `${name}: hiboss.enable`);
    assert.equal(perConfig[name]!.content, EXPECTED, name);
  }
  assert.equal(settings, EXPECTED);
  const imports = (await nixEval('{ repo }: map toString (import (repo + "/modules/default.nix")).imports', { repo: REPO })) as string[];
  assert.ok(imports.some((file) => file.endsWith('/modules/guest-boot.nix')), 'nixosModules.hiboss imports it');
});

t('the disks are named once: guest-devices.json is what hiboss\'s QEMU sets as their serials', async () => {
  const devices = JSON.parse(fs.readFileSync(path.join(REPO, 'nix', 'lib', 'guest-devices.json'), 'utf8')) as Json;
  assert.equal([devices.storeSerial, devices.diskSerial], [STORE_SERIAL, DISK_SERIAL]);
  const args = bootArgs(
    { manifest: guestManifest('acme') as unknown as VmManifest, kernel: '/k', initrd: '/i', closureImage: '/c', cmdline: '' },
    { runDir: '/r', qmpSocket: '/r/q', pidFile: '/r/p', logFile: '/r/l', stateDir: '/s' },
  );
  assert.ok(args.includes(`virtio-blk-pci,drive=${STORE_SERIAL},serial=${STORE_SERIAL}`), args.join(' '));
  assert.ok(args.includes(`virtio-blk-pci,drive=${DISK_SERIAL},serial=${DISK_SERIAL}`), args.join(' '));
  assert.is(settings.fileSystems['/nix/store']!.device, `/dev/disk/by-id/virtio-${STORE_SERIAL}`);
  assert.is(settings.fileSystems['/']!.device, `/dev/disk/by-id/virtio-${DISK_SERIAL}`);
});

t('the sizes a network may ask for (hiboss.vm) have exactly the bounds the daemon reads them with', async () => {
  const options = (await nixEval(
    `{ repo }: (import (repo + "/modules/guest-boot.nix") { config.hiboss.enable = true; lib = ${STAND_IN_LIB}; }).options.hiboss.vm`,
    { repo: REPO },
  )) as Record<string, { type: { nullOr: { min: number; max: number } }; default: null }>;
  const manifest = { ...guestManifest('acme'), closurePaths: ['/nix/store/x'] };
  for (const [option, field] of [['memoryMiB', 'memoryMiB'], ['cores', 'cores'], ['diskMiB', 'diskSizeMiB']] as const) {
    const { min, max } = options[option]!.type.nullOr;
    assert.is(options[option]!.default, null, `${option}: hiboss's default unless the network says`);
    const accepts = (value: number | null) => VmManifest.safeParse({ ...manifest, [field]: value }).success;
    assert.equal([accepts(min), accepts(max), accepts(min - 1), accepts(max + 1), accepts(null)], [true, true, false, false, true], option);
  }
});

t('check.nix holds the boot settings to the recorded real declarations (a mistake in them fails)', async () => {
  const found = (await nixEval(
    `{ dir }: import (dir + "/check.nix") {
      configs = { inherit (import (dir + "/wizard-configs.nix")) "wg_msrv-remote-v4"; };
      extra = { fileSystems."/".autoFormt = true; fileSystems."/nix/store".options = [ ]; boot.initrd.kernelModules = [ 1 ]; };
    }`,
    { dir: path.join(REPO, 'nix', 'upstream') },
  )) as string[];
  assert.equal(found.sort(), [
    'wg_msrv-remote-v4: boot.initrd.kernelModules.0: expected string, got int 1',
    'wg_msrv-remote-v4: fileSystems./.autoFormt: no such option upstream (faukah/nixpkgs@3b20077cd82f)',
    'wg_msrv-remote-v4: fileSystems./nix/store.options: expected a non-empty value, got []',
  ]);
});

t('the busybox guest, started by hiboss\'s launcher, boots by the evaluated contract; its disk keeps what it wrote', async () => {
  // What NixOS's initrd is given of each file system (stage-1's fsInfo), in mount order.
  const mounts = Object.entries(settings.fileSystems)
    .sort(([a], [b]) => a.length - b.length)
    .map(([mountPoint, fsEntry]) => `hiboss.mount=${mountPoint}:${fsEntry.device}:${fsEntry.fsType}:${(fsEntry.options ?? ['defaults']).join(',')}:${fsEntry.autoFormat ? 1 : 0}`);
  // The test kernel's modules, or built in (ext4 in Debian's cloud kernel): every initrd module the contract names exists.
  const present = new Set([...MODULES.map((module) => path.basename(module)), 'ext4']);
  for (const module of settings.boot.initrd.availableKernelModules) assert.ok(present.has(module), `${module} in the test guest's initrd`);

  const guest = await ensureGuest();
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'hbboot-'));
  // The daemon's own layout under ROOT (run/acme, state/acme).
  const paths = vmPaths({ runRoot: path.join(root, 'run'), stateRoot: path.join(root, 'state') }, 'acme');
  fs.mkdirSync(paths.runDir, { recursive: true, mode: 0o700 });
  const nix = makeStandInNix(path.join(root, 'nix'));
  nix.setRevision('9e0d4c2aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa');
  nix.setGuest(guest);
  nix.setManifest({ ...guestManifest('acme'), kernelParams: [...settings.boot.kernelParams, 'quiet', 'panic=-1', ...mounts] });
  const launcher = new FlakeLauncher({ env: { PATH: `${nix.binDir}:${process.env.PATH}` }, uplink: { interfaces: { ipv4: null, ipv6: null } } });
  const context = { name: 'acme', vm: { workspace: '3', flake: 'github:acme/net#acme', restart: 'on-failure' as const, display: 'none' as const }, paths, progress: () => {}, signal: new AbortController().signal };

  /** One boot to its first report of the root disk; the console as hiboss logged it. */
  const boot = async (): Promise<string> => {
    // QEMU truncates the log when it opens it; until then the last boot's would answer.
    fs.rmSync(consoleLog(paths), { force: true });
    const command = await launcher.prepare(context);
    const vm = start(command.file, command.args, { env: command.env ?? {} });
    try {
      // The whole line: the console is read while the guest writes it.
      return await waitForContent(consoleLog(paths), (log) => /ROOT-BOOTS \d+\r?\n/.test(log), 120_000);
    } finally {
      // SIGTERM: QEMU closes the disk cleanly (a busy machine gets time for it).
      await vm.stop(15_000);
    }
  };
  try {
    const first = await boot();
    assert.match(first, /RESOLVED \/dev\/disk\/by-id\/virtio-hiboss-disk \/dev\/vd[a-z]/);
    assert.match(first, /RESOLVED \/dev\/disk\/by-id\/virtio-hiboss-store \/dev\/vd[a-z]/);
    assert.match(first, /FORMATTED \/\r?\n/, 'the empty member\'s disk is formatted on the first boot');
    assert.not.match(first, /FORMATTED \/nix\/store/);
    assert.match(first, /MOUNTED \/\r?\n[\s\S]*MOUNTED \/nix\/store/);
    const table = /MOUNTS-BEGIN\r?\n([\s\S]*?)MOUNTS-END/.exec(first)?.[1]?.split(/\r?\n/).filter(Boolean).map((line) => line.split(' ').slice(1, 4));
    assert.equal(table?.map(([where, type, options]) => [where, type, options!.split(',')[0]]), [['/sysroot', 'ext4', 'rw'], ['/sysroot/nix/store', 'squashfs', 'ro']]);
    const store = /SYSROOT-STORE-BEGIN\r?\n([\s\S]*?)SYSROOT-STORE-END/.exec(first)?.[1]?.split(/\r?\n/).filter(Boolean);
    assert.equal(store, ['aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-nixos-system-acme', 'bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb-linux-6.1'], 'exactly the closure');
    assert.match(first, /SYSROOT-STORE-READONLY/);
    assert.match(first, /ROOT-BOOTS 1\r?\n/);
    assert.match(first, /GUEST-UP/, 'the console (console=ttyS0 last) is hiboss\'s serial log');

    const second = await boot();
    assert.not.match(second, /FORMATTED/, 'a disk with a file system is never formatted again');
    assert.match(second, /ROOT-BOOTS 2\r?\n/, 'what the first boot wrote is still there');
    assert.match(second, /SYSROOT-STORE-READONLY/);
  } finally {
    stopUplink(paths);
    fs.rmSync(root, { recursive: true, force: true });
  }
});

t.run();
