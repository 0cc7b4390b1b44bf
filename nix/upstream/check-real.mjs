#!/usr/bin/env node
// Development-time check of the generated network VMs against the REAL NixOS
// modules. Needs a cache (gitignored, never committed) holding
// nixpkgs' lib and the module files listed below; says exactly what is missing.
// Then proves the check has teeth (PROBES must fail), evaluates every
// wizard-producible config (wizard-configs.nix) and the boot contract every VM
// shares (eval-boot.nix) and, with --write, records the option facts CI checks
// against (options.json, options-boot.json).
//
//   node nix/upstream/check-real.mjs [--write] [--cache DIR]   (default DIR: .cache/nixpkgs)
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '..', '..');
const args = process.argv.slice(2);
const cacheArg = args.indexOf('--cache');
const cache = path.resolve(repo, cacheArg >= 0 ? args[cacheArg + 1] : '.cache/nixpkgs');

// Where the files come from. No nixos-25.05 copy of these modules is held by the
// code index; faukah/nixpkgs is one consistent snapshot of nixpkgs master shortly
// after the 25.05 branch-off (its lib says 25.11 "Xantusia"; nextcloud30/31, forgejo-lts),
// which that fork has reformatted with alejandra. Every module file below is read
// from that one commit; lib is the 25.05 branch point the flake's nixos-25.05 uses.
export const SOURCES = {
  lib: { repo: 'nix-community/nixpkgs.lib', commit: '07aef7aa761e3dc12736495b6d67b424e4818839', branch: 'nixos-25.05 branch point (lib/.version 25.05)' },
  nixpkgs: {
    repo: 'faukah/nixpkgs',
    commit: '3b20077cd82fd1f099e92e2792d73e3176d4869d',
    upstream: 'NixOS/nixpkgs',
    era: 'master after the nixos-25.05 branch-off (lib codeName Xantusia, 25.11 pre); alejandra-formatted fork',
  },
};
// The NixOS modules loaded (file -> sha256 prefix of the text as read from the index).
export const REAL_FILES = {
  'nixos/modules/misc/version.nix': '24fa7c4a111218f8',
  'nixos/modules/config/users-groups.nix': '17fac34afbe4ca5f',
  'nixos/modules/security/sudo.nix': 'f56c34e57c3f5c35',
  'nixos/modules/services/misc/forgejo.nix': '979d409ec7805659',
  'nixos/modules/services/networking/firewall.nix': '28946c21e7069ffc',
  'nixos/modules/services/networking/firewall-iptables.nix': '71b1a813d6ff7b3a',
  'nixos/modules/services/networking/firewall-nftables.nix': '9d5dad4642883828',
  'nixos/modules/services/networking/murmur.nix': 'f4b2c60a7620696b',
  'nixos/modules/services/networking/ssh/sshd.nix': '6224593126a07c5e',
  'nixos/modules/services/networking/syncthing.nix': 'cc9b9c624a4b234f',
  'nixos/modules/services/networking/tinc.nix': 'c4ec895533dddd77',
  'nixos/modules/services/networking/wireguard.nix': '078321bb16ee432f',
  'nixos/modules/services/networking/wireguard-networkd.nix': '7c4a029f756d686d',
  'nixos/modules/services/networking/yggdrasil.nix': 'a09c65d4b077adfe',
  'nixos/modules/services/networking/zerotierone.nix': '061165ac32d776af',
  'nixos/modules/services/ttys/getty.nix': '1b3a01ade7b10818',
  'nixos/modules/services/web-apps/nextcloud.nix': '30acca72d7fbad66',
  'nixos/modules/services/web-servers/nginx/default.nix': '8dd2b63c81a754fe',
  'nixos/modules/services/web-servers/phpfpm/default.nix': 'fed3e1ff0fa81560',
  'nixos/modules/system/boot/systemd/tmpfiles.nix': '2768c3360ae714da',
  'nixos/modules/tasks/network-interfaces.nix': '49f419d86d8d30f4',
  'nixos/modules/virtualisation/build-vm.nix': '39aabf5c457abd8e',
  'nixos/modules/virtualisation/qemu-guest-agent.nix': '69efd0c95a1bab36',
  // The desktop's sound (PipeWire with its PulseAudio server, WirePlumber, rtkit) and the
  // members' names and source filter (networking.hosts, networking.nftables).
  'nixos/modules/services/desktops/pipewire/pipewire.nix': 'dd34d535853686af',
  'nixos/modules/services/desktops/pipewire/wireplumber.nix': '268469754f77daa1',
  'nixos/modules/security/rtkit.nix': '176ec70f5c1565ff',
  'nixos/modules/config/networking.nix': '2fd3be268a532d66',
  'nixos/modules/services/networking/nftables.nix': '84180ca33448782e',
};
// Files those modules import (same commit): build-vm.nix extends the config with
// qemu-vm.nix, which imports the next three; version.nix label.nix; firewall-iptables
// helpers.nix; nginx its vhost/location options.
export const IMPORTED_FILES = {
  'nixos/modules/misc/label.nix': 'ec4952dbd6ff7671',
  'nixos/modules/virtualisation/qemu-vm.nix': '69f4ceb2e8ec8d71',
  'nixos/modules/virtualisation/disk-size-option.nix': '5addc31640b16b8b',
  'nixos/modules/profiles/qemu-guest.nix': '5606b0acf45b34e1',
  'nixos/lib/qemu-common.nix': '855bb5f361681a2e',
  'nixos/modules/services/networking/helpers.nix': '5e0be5fb4f47799f',
  'nixos/modules/services/web-servers/nginx/vhost-options.nix': '244557d257e384d9',
  'nixos/modules/services/web-servers/nginx/location-options.nix': '37b3e24998cd23da',
};
// How every VM boots (modules/guest-boot.nix): the files declaring the options
// it sets. Only their declarations are loaded (eval-boot.nix says why); the
// contract is read back through them and options-boot.json written from them.
export const BOOT_FILES = {
  'nixos/modules/system/boot/kernel.nix': 'e39ac16e26b0661d',
  'nixos/modules/tasks/filesystems.nix': '44234530c8fc9d0d',
  'nixos/modules/system/boot/stage-1.nix': '439d730e4410fd51',
  'nixos/modules/system/boot/systemd/initrd.nix': 'e15371b90fbc9213',
  'nixos/modules/system/boot/loader/grub/grub.nix': 'd07959b0c0a6cf55',
};
// What their declarations call (fileSystems' submodules: fsNeededForBoot, fsBefore).
export const BOOT_IMPORTED_FILES = {
  'nixos/lib/utils.nix': 'fc9071584766ff75',
};
const modules = Object.keys(REAL_FILES);
const bootModules = Object.keys(BOOT_FILES);

const missing = [];
const changed = [];
if (!fs.existsSync(path.join(cache, 'lib', 'default.nix'))) {
  missing.push(`lib/ (git --git-dir=<fetch github:${SOURCES.lib.repo}> archive ${SOURCES.lib.commit} lib | tar -x -C ${cache})`);
}
for (const [file, sha] of Object.entries({ ...REAL_FILES, ...IMPORTED_FILES, ...BOOT_FILES, ...BOOT_IMPORTED_FILES })) {
  const at = path.join(cache, file);
  if (!fs.existsSync(at)) missing.push(`${file} (${SOURCES.nixpkgs.repo}@${SOURCES.nixpkgs.commit}, read_file text written as is)`);
  else if (createHash('sha256').update(fs.readFileSync(at)).digest('hex').slice(0, 16) !== sha) changed.push(`${file} (expected sha256 ${sha}…)`);
}
if (missing.length) {
  console.error(`missing in ${cache}:\n  ${missing.join('\n  ')}`);
  process.exit(2);
}
if (changed.length) {
  console.error(`not the text read from ${SOURCES.nixpkgs.repo}@${SOURCES.nixpkgs.commit}:\n  ${changed.join('\n  ')}`);
  process.exit(2);
}

const nixArgs = (expr) => ['--eval', '--strict', '--json', '--argstr', 'cache', cache, '--argstr', 'files', JSON.stringify(modules), '--argstr', 'bootFiles', JSON.stringify(bootModules), '-E', expr];
const prelude = `{ cache, files, bootFiles }: let real = import ${JSON.stringify(path.join(here, 'eval-real.nix'))} { cache = /. + cache; realFiles = builtins.fromJSON files; bootFiles = builtins.fromJSON bootFiles; }; in`;
const nix = (expr) => JSON.parse(execFileSync('nix-instantiate', nixArgs(`${prelude} ${expr}`), { cwd: repo, encoding: 'utf8', maxBuffer: 64 << 20, stdio: ['ignore', 'pipe', 'pipe'] }));
const firstError = (error) => String(error.stderr).split('\n').find((line) => line.startsWith('error:')) ?? String(error.stderr).trim();

console.log(`lib: ${SOURCES.lib.repo}@${SOURCES.lib.commit}`);
console.log(`modules: ${SOURCES.nixpkgs.repo}@${SOURCES.nixpkgs.commit}: ${modules.length} modules (+${Object.keys(IMPORTED_FILES).length} files they import); the boot contract: the declarations of ${bootModules.length} more (+${Object.keys(BOOT_IMPORTED_FILES).length})`);

// The check has teeth: an unknown option, a value of the wrong type and a real
// module's assertion must each make a config fail.
const PROBES = [
  { config: 'wg_msrv-remote-v4', extra: { services: { murmur: { bindAddress: '10.77.0.2' } } }, expect: /option `services\.murmur\.bindAddress' does not exist/ },
  { config: 'wg_git-remote-v4', extra: { services: { forgejo: { settings: { server: { SSH_PORT: '22' } } } } }, expect: /services\.forgejo\.settings\.server\.SSH_PORT' is not of type `16 bit unsigned integer/ },
  { config: 'ygg_none-local-none', extra: { networking: { enableIPv6: false } }, expect: /networking\.enableIPv6 must be true for yggdrasil to work/ },
  // The boot contract (no config: the same for every VM).
  { boot: true, extra: { fileSystems: { '/': { autoFormat: 'yes' } } }, expect: /fileSystems\."\/"\.autoFormat' is not of type `boolean'/ },
  { boot: true, extra: { boot: { initrd: { systemd: { enabled: true } } } }, expect: /option `boot\.initrd\.systemd\.enabled' does not exist/ },
];
for (const probe of PROBES) {
  let outcome;
  const extra = `(builtins.fromJSON ${JSON.stringify(JSON.stringify(probe.extra))})`;
  try {
    outcome = JSON.stringify(nix(probe.boot ? `real.boot.check ${extra}` : `real.probe ${JSON.stringify(probe.config)} ${extra}`));
  } catch (error) {
    outcome = firstError(error);
  }
  if (!probe.expect.test(outcome)) {
    console.log(`self-test FAILED: ${probe.boot ? 'the boot contract' : probe.config} + ${JSON.stringify(probe.extra)} should fail with ${probe.expect}, got: ${outcome}`);
    process.exit(1);
  }
}
console.log(`self-test: ${PROBES.length} deliberate mistakes caught (unknown option, wrong type, failed assertion)`);

const results = nix('real.results');
const names = Object.keys(results);
const bad = names.filter((name) => results[name].error || results[name].failed.length || results[name].missingUnits.length);
for (const name of bad) {
  if (results[name].error) {
    // Evaluated again without tryEval, for nix's own message.
    try {
      nix(`real.one ${JSON.stringify(name)}`);
    } catch (error) {
      console.log(`${name}: ${firstError(error)}`);
    }
  } else {
    console.log(`${name}: failed assertions ${JSON.stringify(results[name].failed)}, missing units ${JSON.stringify(results[name].missingUnits)}`);
  }
}
const warned = names.filter((name) => !results[name].error && results[name].warnings.length).length;
console.log(`${names.length} configs evaluated against the real modules: ${names.length - bad.length} ok, ${bad.length} failed (${warned} with warnings)`);

let boot;
try {
  boot = nix('real.boot.check { }');
} catch (error) {
  console.log(`the boot contract: ${firstError(error)}`);
  process.exit(1);
}
console.log(`the boot contract: ${boot.checked.length} values read back through the real declarations; the real fileSystems submodules make of them:`);
for (const [mount, fs] of Object.entries(boot.fileSystems)) console.log(`  ${mount}: ${fs.device} ${fs.fsType} [${fs.options.join(',')}]`);

if (args.includes('--write')) {
  const facts = nix('real.facts');
  const out = {
    ...SOURCES,
    realFiles: [...modules, ...Object.keys(IMPORTED_FILES)],
    note: 'Regenerated by node nix/upstream/check-real.mjs --write. declaredIn "stub": nix/upstream/stub-nixos.nix (the rest of NixOS), not read from nixpkgs.',
    options: facts,
  };
  fs.writeFileSync(path.join(here, 'options.json'), `${JSON.stringify(out, null, 1)}\n`);
  const stubbed = facts.filter((fact) => fact.declaredIn.includes('stub')).length;
  console.log(`wrote nix/upstream/options.json (${facts.length} options, ${stubbed} of them stubbed)`);
  const bootFacts = nix('real.boot.facts');
  const bootOut = {
    ...SOURCES,
    realFiles: [...bootModules, ...Object.keys(BOOT_IMPORTED_FILES)],
    note: 'Regenerated by node nix/upstream/check-real.mjs --write: the options modules/guest-boot.nix (and modules/guest-shares.nix\'s boot.kernelModules) set, from the declarations of these real files (nix/upstream/eval-boot.nix). check.nix reads this file with options.json.',
    options: bootFacts,
  };
  fs.writeFileSync(path.join(here, 'options-boot.json'), `${JSON.stringify(bootOut, null, 1)}\n`);
  console.log(`wrote nix/upstream/options-boot.json (${bootFacts.length} options, from ${bootModules.length} real files)`);
}
process.exit(bad.length ? 1 : 0);
