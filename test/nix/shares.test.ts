/**
 * Host directories the member maps into a flake VM (config.json `shares`):
 * refused clearly when they are not plain directories of the member's (a
 * symlink on the way, a file, missing, the Nix store or what holds it), and,
 * through the real flake launcher and QEMU 7.2, a guest with Debian's real 9p
 * modules (test/harness/share-guest.ts) that mounts every share read-write
 * as a hostile guest would: the read-only share reads but does not write, the
 * writable one writes, a symlink in a share does not reach the host, no tag
 * but the member's mounts, and no 9p device exists without shares.
 */
import { vmPaths } from '../../config/paths.js';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { Config } from '../../config/schema.js';
import { consoleLog } from '../../daemon/launch/flake-argv.js';
import { FlakeLauncher } from '../../daemon/launch/flake.js';
import type { LaunchContext, VmPaths } from '../../daemon/launch/launcher.js';
import { checkShares, shareArgs, shareProblem, sharesFile } from '../../daemon/launch/shares.js';
import { stopUplink } from '../../daemon/launch/uplink.js';
import { errorMessage } from '../../shared/error-message.js';
import { start, waitForContent } from '../harness/processes.js';
import { ensureShareGuest } from '../harness/share-guest.js';
import { guestManifest, makeStandInNix } from '../harness/stand-in-nix.js';

const t = suite('shares');

const vmWith = (shares: unknown) => Config.safeParse({ vms: { acme: { workspace: '3', flake: 'github:acme/net#acme', shares } } });

t('config.json: read-only by default; bad paths, too many, a QEMU VM refused with the reason', () => {
  const ok = vmWith([{ host: '/home/me/photos', guest: '/mnt/photos' }]);
  assert.ok(ok.success);
  assert.equal(ok.success && ok.data.vms.acme!.shares, [{ host: '/home/me/photos', guest: '/mnt/photos', writable: false }]);
  const refused = (shares: unknown) => {
    const parsed = vmWith(shares);
    return parsed.success ? 'accepted' : parsed.error.issues.map((i) => `${i.path.slice(3).join('.')}: ${i.message}`).join('; ');
  };
  assert.match(refused([{ host: 'photos', guest: '/mnt/p' }]), /0\.host: an absolute path/);
  assert.match(refused([{ host: '/home/me/../../etc', guest: '/mnt/p' }]), /0\.host: no "\.\." in the path/);
  assert.match(refused([{ host: '/home/me/\x1b[2J', guest: '/mnt/p' }]), /0\.host: .*control/);
  assert.match(refused([{ host: '/home/me/p', guest: '/nix/store' }]), /0\.guest: not under \/nix/);
  assert.match(refused([{ host: '/home/me/p', guest: '/mnt/a b' }]), /0\.guest: an absolute path of/);
  assert.match(refused([{ host: '/home/me/p', guest: '/mnt/../etc' }]), /0\.guest: /);
  assert.match(refused([{ host: '/a', guest: '/mnt/p' }, { host: '/b', guest: '/mnt/p' }]), /each share has its own guest path/);
  assert.match(refused(Array.from({ length: 9 }, (_, i) => ({ host: `/h${i}`, guest: `/mnt/${i}` }))), /at most 8|<=8|too big/i);
  assert.match(refused([{ host: '/home/me/p', guest: '/mnt/p', exec: true }]), /Unrecognized key/);
  const qemu = Config.safeParse({ vms: { q: { workspace: '1', qemu: ['qemu-system-x86_64'], shares: [{ host: '/a', guest: '/mnt/a' }] } } });
  assert.not.ok(qemu.success);
  assert.match(JSON.stringify(!qemu.success && qemu.error.issues), /only flake VMs take shares/);
});

t('on the host: missing, a file, a symlink on the way, the Nix store and what holds it are refused', () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'hbshare-'));
  try {
    fs.mkdirSync(path.join(root, 'dir'));
    fs.writeFileSync(path.join(root, 'file'), '');
    fs.symlinkSync(path.join(root, 'dir'), path.join(root, 'link'));
    fs.mkdirSync(path.join(root, 'dir', 'sub'));
    assert.is(shareProblem(path.join(root, 'dir')), null);
    assert.is(shareProblem(path.join(root, 'missing')), `${path.join(root, 'missing')} does not exist`);
    assert.is(shareProblem(path.join(root, 'file')), `${path.join(root, 'file')} is not a directory`);
    assert.match(String(shareProblem(path.join(root, 'link', 'sub'))), new RegExp(`^${path.join(root, 'link')} is a symlink`));
    for (const store of ['/nix/store', '/nix', '/', '/nix/store/abc']) assert.match(String(shareProblem(store, ['/nix/store'])), /Nix store: a VM sees only its own closure$/, store);
    assert.throws(() => checkShares('acme', [{ host: path.join(root, 'dir'), guest: '/mnt/a', writable: false }, { host: path.join(root, 'link'), guest: '/mnt/b', writable: false }]), /acme: cannot share .*link \(shares\[1\]\): .* is a symlink/);
    assert.equal(shareArgs([], { runDir: root } as VmPaths), [], 'no shares: no 9p device, no fw_cfg entry');
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
});

t('a guest with the real 9p modules: read-only stays unwritten, writable writes, nothing else of the host', async () => {
  const guest = await ensureShareGuest();
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'hbshare-'));
  // The daemon's own layout under ROOT (run/acme, state/acme).
  const paths = vmPaths({ runRoot: path.join(root, 'run'), stateRoot: path.join(root, 'state') }, 'acme');
  fs.mkdirSync(paths.runDir, { recursive: true, mode: 0o700 });
  const nix = makeStandInNix(path.join(root, 'nix'));
  nix.setGuest(guest);
  nix.setManifest(guestManifest('acme', '', { memoryMiB: 256 }));
  const host = (name: string) => path.join(root, 'host', name);
  for (const dir of ['ro', 'rw', 'outside']) fs.mkdirSync(host(dir), { recursive: true });
  fs.writeFileSync(path.join(host('ro'), 'hello.txt'), 'hello-ro\n');
  fs.writeFileSync(path.join(host('rw'), 'hello.txt'), 'hello-rw\n');
  fs.writeFileSync(path.join(host('outside'), 'secret'), 'HOST-SECRET\n');
  fs.symlinkSync('../outside/secret', path.join(host('ro'), 'leak'));
  const launcher = new FlakeLauncher({ env: { PATH: `${nix.binDir}:${process.env.PATH}` }, storeDir: nix.storeDir, uplink: { interfaces: { ipv4: null, ipv6: null } } });
  const context: LaunchContext = {
    name: 'acme',
    vm: {
      workspace: '3', flake: 'github:acme/net#acme', restart: 'on-failure', display: 'none', audio: false,
      shares: [{ host: host('ro'), guest: '/mnt/ro', writable: false }, { host: host('rw'), guest: '/mnt/rw', writable: true }],
    },
    paths,
    progress: () => {},
    signal: new AbortController().signal,
  };
  try {
    const command = await launcher.prepare(context);
    const fsdevs = command.args.filter((_, i) => command.args[i - 1] === '-fsdev');
    assert.equal(fsdevs, [`local,id=hiboss0,path=${host('ro')},security_model=none,readonly=on`, `local,id=hiboss1,path=${host('rw')},security_model=none`]);
    assert.not.ok(command.args.some((arg) => arg.includes('/nix/store') && /fsdev|virtfs|9p/.test(arg)), 'never the host store');
    assert.equal(JSON.parse(fs.readFileSync(sharesFile(paths), 'utf8')), [{ tag: 'hiboss0', path: '/mnt/ro', writable: false }, { tag: 'hiboss1', path: '/mnt/rw', writable: true }]);
    assert.is(fs.statSync(sharesFile(paths)).mode & 0o777, 0o600);

    const vm = start(command.file, command.args, {});
    let text: string;
    try {
      text = await waitForContent(consoleLog(paths), (log) => log.includes('SHARES-DONE'), 120_000);
    } finally {
      await vm.stop();
    }
    const line = (prefix: string) => new RegExp(`^${prefix}.*$`, 'm').exec(text)?.[0]?.trim() ?? `(no ${prefix} in:\n${text})`;
    assert.is(line('SHARE-MOUNTED hiboss0'), 'SHARE-MOUNTED hiboss0 /mnt/ro false');
    assert.is(line('SHARE-LIST hiboss0'), 'SHARE-LIST hiboss0 hello.txt leak');
    assert.is(line('SHARE-READ hiboss0'), 'SHARE-READ hiboss0 hello-ro');
    assert.is(line('SHARE-WRITE hiboss0'), 'SHARE-WRITE hiboss0 refused', 'the guest mounted it read-write: the host refused');
    assert.not.ok(fs.existsSync(path.join(host('ro'), 'from-guest.txt')));
    assert.is(line('SHARE-MOUNTED hiboss1'), 'SHARE-MOUNTED hiboss1 /mnt/rw true');
    assert.is(line('SHARE-READ hiboss1'), 'SHARE-READ hiboss1 hello-rw');
    assert.is(line('SHARE-WRITE hiboss1'), 'SHARE-WRITE hiboss1 ok');
    assert.is(fs.readFileSync(path.join(host('rw'), 'from-guest.txt'), 'utf8'), 'guest-wrote\n');
    assert.not.ok(text.includes('HOST-SECRET'), 'a symlink in a share resolves in the guest, not on the host');
    assert.match(line('SHARE-LEAK hiboss0'), /No such file or directory/);
    assert.is(line('PROBE'), 'PROBE-REFUSED', 'a tag the member did not offer mounts nothing');
    assert.is(line('MOUNTS-9P'), 'MOUNTS-9P hiboss0 /mnt/ro;hiboss1 /mnt/rw;');

    // A share that became a symlink since: the next start is refused, nothing started.
    fs.rmSync(host('rw'), { recursive: true });
    fs.symlinkSync(host('outside'), host('rw'));
    const error = await launcher.prepare(context).then(() => undefined, (e: unknown) => e);
    assert.match(errorMessage(error), /^acme: cannot share .*\/rw \(shares\[1\]\): .*\/rw is a symlink/);
  } finally {
    stopUplink(paths);
    fs.rmSync(root, { recursive: true, force: true });
  }
});

t.run();
