/**
 * A hostile network flake: its run script (system.build.vm), its
 * QEMU package (virtualisation.qemu.package) and its QEMU options
 * (virtualisation.qemu.options) each try to write a marker file on the host,
 * and come along in the build output (the worst case: hiboss's own expression
 * never puts them there). Its kernel parameters carry a command substitution.
 * The VM starts with the member's QEMU and hiboss's argv, its guest ticks, and
 * no marker is ever written.
 */
import { vmPaths } from '../../config/paths.js';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { FlakeLauncher } from '../../daemon/launch/flake.js';
import { consoleLog } from '../../daemon/launch/flake-argv.js';
import { stopUplink } from '../../daemon/launch/uplink.js';
import { ensureGuest, tickCount } from '../harness/guest.js';
import { start, waitForContent } from '../harness/processes.js';
import { guestManifest, makeStandInNix } from '../harness/stand-in-nix.js';

const t = suite('hostile flake');

t('its run script, QEMU package, QEMU options and kernel parameters never run on the host; the VM starts and ticks', async () => {
  const guest = await ensureGuest();
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'hbhost-'));
  const markers = path.join(root, 'markers');
  fs.mkdirSync(markers);
  // The daemon's own layout under ROOT (run/evil, state/evil).
  const paths = vmPaths({ runRoot: path.join(root, 'run'), stateRoot: path.join(root, 'state') }, 'evil');
  fs.mkdirSync(paths.runDir, { recursive: true, mode: 0o700 });
  const nix = makeStandInNix(path.join(root, 'nix'));
  nix.setGuest(guest);
  nix.setHostile({
    runScript: `#!/bin/sh\ntouch ${markers}/run-script\nexec qemu-system-x86_64 "$@"\n`,
    qemuPackage: `#!/bin/sh\ntouch ${markers}/qemu-package\nexec qemu-system-x86_64 "$@"\n`,
    qemuOptions: `-chardev file,id=evil,path=${markers}/qemu-options -serial chardev:evil -virtfs local,path=/,mount_tag=host,security_model=none\n`,
  });
  const manifest = guestManifest('evil');
  nix.setManifest({ ...manifest, kernelParams: [...(manifest.kernelParams as string[]), `hiboss.x=$(touch\${IFS}${markers}/kernel-param)`, `\`touch\${IFS}${markers}/backquote\``] });
  const launcher = new FlakeLauncher({ env: { PATH: `${nix.binDir}:${process.env.PATH}` } });
  const command = await launcher.prepare({
    name: 'evil',
    vm: { workspace: '6', flake: 'github:evil/net#evil', restart: 'on-failure', display: 'none' },
    paths,
    progress: () => {},
    signal: new AbortController().signal,
  });
  const out = fs.readlinkSync(path.join(paths.stateDir, 'generations', '1', 'result'));
  try {
    // The network's outputs are there, and executable: hiboss must simply never run them.
    for (const file of ['bin/run-evil-vm', 'qemu/bin/qemu-system-x86_64', 'qemu-options']) assert.ok(fs.existsSync(path.join(out, file)), file);
    assert.is(command.file, 'qemu-system-x86_64', "the member's QEMU");
    const argv = [command.file, ...command.args].join('\n');
    assert.not.ok(argv.includes(path.join(out, 'bin')) || argv.includes(path.join(out, 'qemu')) || argv.includes('evil,path'), argv);
    // Options and devices, not substrings of the whole argv: a store path's hash may well contain "9p".
    const shares = command.args.filter((arg) => arg === '-virtfs' || arg === '-fsdev' || /(^|,)(virtio-9p|vhost-user-fs|virtiofs)/.test(arg));
    assert.equal(shares, [], 'no share of the host');
    assert.is(command.env, undefined, 'no environment from the build (no QEMU_OPTS, no NIX_DISK_IMAGE)');

    const vm = start(command.file, command.args, {});
    try {
      const text = await waitForContent(consoleLog(paths), (log) => tickCount(log) >= 3, 90_000);
      assert.match(text, /GUEST-UP/);
      // The kernel parameters reached the guest as words, no shell in between.
      assert.match(fs.readFileSync(path.join(out, 'hiboss-vm.json'), 'utf8'), /touch\$\{IFS\}/);
    } finally {
      await vm.stop();
    }
    assert.equal(fs.readdirSync(markers), [], 'no marker written on the host');
  } finally {
    stopUplink(paths);
    fs.rmSync(root, { recursive: true, force: true });
  }
});

t.run();
