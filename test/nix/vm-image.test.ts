/**
 * nix/vm-image.nix, hiboss's own expression around a network's configuration,
 * evaluated offline with nix-instantiate against a real flake whose
 * nixosConfiguration is a small stand-in (no nixpkgs here): the network's VM
 * build, QEMU package and QEMU options throw when read, so evaluating the
 * image proves hiboss never reads them; the manifest it writes passes the
 * schema the daemon reads it with (daemon/launch/vm-manifest.ts).
 */
import { execa } from 'execa';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { VmManifest } from '../../daemon/launch/vm-manifest.js';
import { REPO } from './nix-eval.js';

const t = suite('nix/vm-image.nix');

const FLAKE = `{
  outputs = { self }: {
    nixosConfigurations.acme = {
      config = {
        system.build = {
          toplevel = "/nix/store/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-nixos-system-acme";
          kernel = "/nix/store/kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk-linux-6.1";
          initialRamdisk = "/nix/store/iiiiiiiiiiiiiiiiiiiiiiiiiiiiiiii-initrd";
          vm = throw "hiboss read system.build.vm";
        };
        system.boot.loader = { kernelFile = "bzImage"; initrdFile = "initrd"; };
        boot.kernelParams = [ "console=ttyS0" "loglevel=4" ];
        hiboss.vm = { memoryMiB = 2048; cores = 2; diskMiB = 8192; };
        virtualisation = {
          memorySize = throw "hiboss read virtualisation.memorySize";
          sharedDirectories = throw "hiboss read virtualisation.sharedDirectories";
        };
      };
      pkgs = throw "hiboss used the network's pkgs although given tools";
    };
    # A configuration that imports qemu-vm.nix: virtualisation.qemu is declared.
    nixosConfigurations.qemuvm = {
      config = {
        system.build = { toplevel = "/nix/store/dddddddddddddddddddddddddddddddd-nixos-system-qemuvm"; kernel = "/k"; initialRamdisk = "/i"; };
        system.boot.loader = { kernelFile = "bzImage"; initrdFile = "initrd"; };
        boot.kernelParams = [ ];
        virtualisation = { memorySize = 1024; qemu = throw "hiboss read virtualisation.qemu"; };
      };
    };
    nixosConfigurations.bare = {
      config = {
        system.build = { toplevel = "/nix/store/bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb-nixos-system-bare"; kernel = "/k"; initialRamdisk = "/i"; };
        system.boot.loader = { kernelFile = "bzImage"; initrdFile = "initrd"; };
        boot.kernelParams = [ ];
      };
    };
  };
}
`;

/** Stand-ins of the nixpkgs tools the expression uses, recording how they are called. */
const TOOLS = `{
  closureInfo = { rootPaths }: { outPath = "/nix/store/cccccccccccccccccccccccccccccccc-closure-info"; inherit rootPaths; };
  runCommand = name: env: script: { inherit name script; manifest = env.manifest; passAsFile = env.passAsFile; tools = env.nativeBuildInputs; };
  squashfsTools = "squashfs-tools"; jq = "jq";
}`;

async function evaluate(configuration: string): Promise<{ name: string; script: string; manifest: string; passAsFile: string[]; tools: string[] }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hbimg-'));
  try {
    fs.writeFileSync(path.join(dir, 'flake.nix'), FLAKE);
    const result = await execa(
      'nix-instantiate',
      [
        '--extra-experimental-features', 'nix-command flakes', '--eval', '--strict', '--json',
        '--argstr', 'file', path.join(REPO, 'nix', 'vm-image.nix'), '--argstr', 'flake', `path:${dir}`, '--argstr', 'configuration', configuration,
        '-E', `{ file, flake, configuration }: import file { inherit flake configuration; tools = ${TOOLS}; }`,
      ],
      { reject: false },
    );
    if (result.failed) throw new Error(result.stderr);
    return JSON.parse(result.stdout);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

t('reads kernel, initrd, toplevel, kernel parameters and bounded sizes (hiboss.vm), never the VM build nor QEMU settings', async () => {
  const built = await evaluate('acme');
  assert.is(built.name, 'hiboss-vm-acme');
  assert.equal(built.tools, ['squashfs-tools', 'jq']);
  assert.equal(built.passAsFile, ['manifest']);
  const manifest = JSON.parse(built.manifest);
  assert.equal(manifest, {
    version: 1, name: 'acme', toplevel: '/nix/store/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-nixos-system-acme',
    kernelParams: ['console=ttyS0', 'loglevel=4'], memoryMiB: 2048, cores: 2, diskSizeMiB: 8192,
  });
  assert.match(built.script, /ln -s \/nix\/store\/k+-linux-6\.1\/bzImage \$out\/kernel/);
  assert.match(built.script, /ln -s \/nix\/store\/i+-initrd\/initrd \$out\/initrd/);
  assert.match(built.script, /mksquashfs \$\(cat \/nix\/store\/c+-closure-info\/store-paths\) \$out\/closure\.img -keep-as-directory -all-root/);
  // What the build adds (closureInfo's paths and size) completes a manifest the daemon accepts.
  const parsed = VmManifest.safeParse({ ...manifest, closurePaths: [manifest.toplevel], closureBytes: 1 });
  assert.ok(parsed.success, JSON.stringify(parsed.error?.issues));
});

t('a configuration that imports qemu-vm.nix is refused, saying why and what to use instead', async () => {
  const error = await evaluate('qemuvm').then(() => undefined, (e: Error) => e);
  assert.match(error?.message ?? '', /nixosConfigurations\.qemuvm imports NixOS's qemu-vm\.nix/);
  assert.match(error?.message ?? '', /hiboss\.vm\.\{memoryMiB,cores,diskMiB\}/);
  assert.not.match(error?.message ?? '', /hiboss read/, 'refused without reading its QEMU settings');
});

t('a configuration without the VM module: no sizes (hiboss\'s defaults apply)', async () => {
  const manifest = JSON.parse((await evaluate('bare')).manifest);
  assert.equal([manifest.memoryMiB, manifest.cores, manifest.diskSizeMiB], [null, null, null]);
});

t.run();
