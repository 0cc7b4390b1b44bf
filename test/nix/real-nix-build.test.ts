/**
 * The flake launcher with the real nix (2.8, offline), in its sandbox: hiboss's
 * nix/vm-image.nix built around a flake whose nixosConfiguration is a small
 * stand-in (no nixpkgs here: its `pkgs` gives closureInfo and runCommand made
 * of plain derivations, mksquashfs and jq from the host through sandbox
 * paths) carrying the real test guest's kernel and initrd. The result is
 * booted by the member's QEMU; the guest lists exactly the closure in its
 * /nix/store. The build is a generation whose GC root nix registers; an update
 * builds a second and keeping one releases the first's root. With the sandbox
 * off or relaxed (the settings the nix daemon would have), the sandbox probe
 * refuses the build; the dry run tells what a build will cost before it.
 */
import { vmPaths } from '../../config/paths.js';
import { execa } from 'execa';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { FlakeLauncher } from '../../daemon/launch/flake.js';
import { consoleLog } from '../../daemon/launch/flake-argv.js';
import { stopUplink } from '../../daemon/launch/uplink.js';
import { readVmBuild } from '../../daemon/launch/vm-manifest.js';
import { estimateBuild } from '../../daemon/launch/dry-run.js';
import { readFlakeFacts } from '../../networks/flake-facts.js';
import { GenerationStore } from '../../daemon/updates/generations.js';
import { ensureGuest, tickCount } from '../harness/guest.js';
import { start, waitForContent } from '../harness/processes.js';

const t = suite('real nix build');

const flakeText = (label: string) => `{
  outputs = { self }:
    let
      system = "x86_64-linux";
      run = name: env: script: derivation (env // { inherit name system; builder = "/bin/sh"; args = [ "-c" script ]; PATH = "/usr/bin"; });
      kernel = run "linux" { } "mkdir $out && cp \${./vmlinuz} $out/bzImage";
      initrd = run "initrd" { } "mkdir $out && cp \${./initrd.gz} $out/initrd";
      toplevel = run "nixos-system-acme" { } "mkdir $out && echo '# ${label}' > $out/init";
    in {
      nixosConfigurations.acme = {
        config = {
          system.build = { inherit toplevel kernel; initialRamdisk = initrd; vm = throw "system.build.vm read"; };
          system.boot.loader = { kernelFile = "bzImage"; initrdFile = "initrd"; };
          boot.kernelParams = [ "console=ttyS0" "quiet" "panic=-1" "hiboss.store=1" ];
          hiboss.vm = { memoryMiB = 128; diskMiB = 64; };
          virtualisation.memorySize = throw "virtualisation.memorySize read";
        };
        pkgs = {
          closureInfo = { rootPaths }: run "closure-info" { exportReferencesGraph = [ "graph" rootPaths ]; }
            "mkdir $out && grep '^/nix/store/' graph | grep -v '[.]drv$' | sort -u > $out/store-paths && echo 4096 > $out/total-nar-size";
          runCommand = run;
          squashfsTools = null;
          jq = null;
        };
      };
    };
}
`;

t('hiboss\'s expression built in the sandbox boots in the member\'s QEMU; generations and GC roots as nix keeps them', async () => {
  const guest = await ensureGuest();
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'hbreal-'));
  // The daemon's own layout under ROOT (run/acme, state/acme).
  const paths = vmPaths({ runRoot: path.join(root, 'run'), stateRoot: path.join(root, 'state') }, 'acme');
  fs.mkdirSync(paths.runDir, { recursive: true, mode: 0o700 });
  const flakeDir = path.join(root, 'net');
  fs.mkdirSync(flakeDir);
  fs.copyFileSync(guest.kernel, path.join(flakeDir, 'vmlinuz'));
  fs.copyFileSync(guest.initrd, path.join(flakeDir, 'initrd.gz'));
  fs.writeFileSync(path.join(flakeDir, 'flake.nix'), flakeText('one'));
  // The sandbox on (hiboss refuses otherwise); the host's /usr for the stand-in tools; no binary cache (offline).
  const launcher = new FlakeLauncher({ env: { NIX_CONFIG: 'sandbox = true\nextra-sandbox-paths = /usr /bin /lib /lib64\nsubstituters =\n' } });
  const flake = `path:${flakeDir}#acme`;
  const gcRoot = (n: number) => path.join(paths.stateDir, 'generations', String(n), 'result');
  try {
    const command = await launcher.prepare({ name: 'acme', vm: { workspace: '3', flake, restart: 'on-failure', display: 'none' }, paths, progress: () => {}, signal: new AbortController().signal });
    const store = new GenerationStore(paths.stateDir);
    const first = store.read().generations[0]!;
    assert.match(first.revision, /^sha256-/, 'a path flake is known by its narHash');
    assert.ok(first.outPath.startsWith('/nix/store/') && first.outPath.endsWith('-hiboss-vm-acme'), first.outPath);
    const { manifest } = readVmBuild(gcRoot(1));
    assert.is(manifest.closurePaths.length, 1);
    assert.match(manifest.closurePaths[0]!, /-nixos-system-acme$/);
    const roots = async (outPath: string) => String((await execa('nix-store', ['--query', '--roots', outPath])).stdout);
    assert.match(await roots(first.outPath), new RegExp(`^${gcRoot(1)} -> ${first.outPath}$`, 'm'), 'nix counts the GC root');

    const vm = start(command.file, command.args, {});
    try {
      const text = await waitForContent(consoleLog(paths), (log) => tickCount(log) >= 2, 90_000);
      const listed = /STORE-BEGIN\r?\n([\s\S]*?)STORE-END/.exec(text)?.[1]?.split(/\r?\n/).filter(Boolean);
      assert.equal(listed, manifest.closurePaths.map((p) => path.basename(p)), 'its /nix/store: exactly its closure');
    } finally {
      await vm.stop();
    }

    // The flake changes: an update builds a new generation; keeping one releases the first's root.
    fs.writeFileSync(path.join(flakeDir, 'flake.nix'), flakeText('two'));
    const second = await launcher.build({ name: 'acme', flakeRef: flake, store, progress: () => {}, signal: new AbortController().signal, refresh: true });
    assert.ok(!('skipped' in second));
    if ('skipped' in second) return;
    assert.is.not(second.outPath, first.outPath);
    store.add(second, 1);
    assert.not.ok(fs.existsSync(path.dirname(gcRoot(1))));
    assert.not.match(await roots(first.outPath), new RegExp(gcRoot(1)), 'no root of ours holds the first build');
    assert.match(await roots(second.outPath), new RegExp(`^${gcRoot(2)} -> ${second.outPath}$`, 'm'));
  } finally {
    stopUplink(paths);
    fs.rmSync(root, { recursive: true, force: true });
  }
});

t('the real nix with its sandbox off, or relaxed, is refused: the probe build saw the host; nothing is built', async () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'hbreal-'));
  const store = new GenerationStore(path.join(root, 'state', 'acme'));
  try {
    const flakeDir = path.join(root, 'net');
    fs.mkdirSync(flakeDir);
    fs.writeFileSync(path.join(flakeDir, 'flake.nix'), flakeText('off'));
    // Settings as the nix daemon would have them; the client's own show-config is never asked.
    const expected = { false: /the Nix sandbox is off: a test build saw the host's \/nix\/var/, relaxed: /the Nix sandbox is "relaxed": a build that asks for no sandbox \(__noChroot\) ran outside it/ };
    for (const value of ['false', 'relaxed'] as const) {
      const launcher = new FlakeLauncher({ env: { NIX_CONFIG: `sandbox = ${value}\nextra-sandbox-paths = /usr /bin /lib /lib64\nsubstituters =\n` } });
      const error = await launcher
        .build({ name: 'acme', flakeRef: `path:${flakeDir}#acme`, store, progress: () => {}, signal: new AbortController().signal })
        .then(() => undefined, (e: Error) => e);
      assert.match(error?.message ?? '', new RegExp(`^acme: refusing to build path:${flakeDir}: `));
      assert.match(error?.message ?? '', expected[value]);
    }
    assert.not.ok(fs.existsSync(path.join(root, 'state', 'acme', 'generations', '1')), 'no generation');
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
});

t('the network\'s configuration cannot read the member\'s files while it is evaluated: the build is refused, nothing built', async () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'hbreal-'));
  const store = new GenerationStore(path.join(root, 'state', 'acme'));
  try {
    const secret = path.join(root, 'secret');
    fs.writeFileSync(secret, 'MEMBER-SECRET\n');
    const flakeDir = path.join(root, 'net');
    fs.mkdirSync(flakeDir);
    for (const file of ['vmlinuz', 'initrd.gz']) fs.writeFileSync(path.join(flakeDir, file), 'never booted\n');
    // What a hostile admin would write: a host file of the member's baked into the VM's system.
    fs.writeFileSync(path.join(flakeDir, 'flake.nix'), flakeText('stolen').replace("echo '# stolen'", `echo '\${builtins.readFile ${secret}}'`));
    const launcher = new FlakeLauncher({ env: { NIX_CONFIG: 'sandbox = true\nextra-sandbox-paths = /usr /bin /lib /lib64\nsubstituters =\n' } });
    const error = await launcher
      .build({ name: 'acme', flakeRef: `path:${flakeDir}#acme`, store, progress: () => {}, signal: new AbortController().signal })
      .then(() => undefined, (e: Error) => e);
    assert.match(error?.message ?? '', new RegExp(`access to absolute path '${secret}' is forbidden in restricted mode`), error?.message);
    assert.not.ok(fs.existsSync(path.join(root, 'state', 'acme', 'generations', '1', 'result')), 'nothing built');
    const facts = await readFlakeFacts(`path:${flakeDir}`);
    assert.is(facts.kind, 'read');
    const estimate = facts.kind === 'read' ? await estimateBuild(facts.url, 'acme', { env: { NIX_CONFIG: 'substituters =\n' } }) : undefined;
    assert.match(estimate?.kind === 'unreadable' ? estimate.why : '', /forbidden in restricted mode/, 'the review\'s dry run is restricted too');
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
});

t('the real nix\'s dry run tells what the build will cost before anything is built', async () => {
  const guest = await ensureGuest();
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'hbreal-'));
  try {
    const flakeDir = path.join(root, 'net');
    fs.mkdirSync(flakeDir);
    fs.copyFileSync(guest.kernel, path.join(flakeDir, 'vmlinuz'));
    fs.copyFileSync(guest.initrd, path.join(flakeDir, 'initrd.gz'));
    // A system never built before (its label is new): it, its closure info and hiboss's image are to be built.
    fs.writeFileSync(path.join(flakeDir, 'flake.nix'), flakeText(`estimate ${process.pid} ${Date.now()}`));
    const facts = await readFlakeFacts(`path:${flakeDir}`);
    assert.is(facts.kind, 'read', JSON.stringify(facts));
    if (facts.kind !== 'read') return;
    const result = await estimateBuild(facts.url, 'acme', { env: { NIX_CONFIG: 'substituters =\n' } });
    assert.is(result.kind, 'read', JSON.stringify(result));
    if (result.kind !== 'read') return;
    assert.is(result.estimate.builds, 3);
    assert.equal([...result.estimate.buildNames].sort(), ['closure-info', 'hiboss-vm-acme', 'nixos-system-acme']);
    assert.is(result.estimate.fetches, 0, 'no binary cache here');
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
});

t.run();
