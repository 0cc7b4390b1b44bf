/**
 * daemon/launch/flake.ts with a stand-in `nix` on PATH (test/harness/stand-in-nix.ts):
 * it records its argv and "builds" what nix/vm-image.nix makes — a manifest, the
 * real test guest's kernel and initrd, a real squashfs closure image — and hiboss
 * starts the member's QEMU with an argv of its own, which must then answer QMP
 * on the daemon's socket and boot the guest; each build is a generation with its
 * GC root where nix's --out-link puts it.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { FlakeLauncher } from '../../daemon/launch/flake.js';
import { consoleLog, diskImage } from '../../daemon/launch/flake-argv.js';
import { nixBuildArgs, nixMetadataArgs, VM_IMAGE_EXPRESSION } from '../../daemon/launch/nix-cli.js';
import { nixSetupKey, sandboxProbeArgs, SANDBOX_PROBE_EXPRESSION } from '../../daemon/launch/sandbox-probe.js';
import { defaultRouteInterfaces, passtArgs, stopUplink } from '../../daemon/launch/uplink.js';
import { GenerationStore } from '../../daemon/updates/generations.js';
import { guestManifest, isSandboxProbe, makeStandInNix, type StandInNix } from '../harness/stand-in-nix.js';
import type { LaunchContext, VmPaths } from '../../daemon/launch/launcher.js';
import { QmpClient } from '../../qmp/client.js';
import { start, waitForContent, waitForFile, waitUntilAccepting } from '../harness/processes.js';
import { ensureGuest, tickCount, type Guest } from '../harness/guest.js';
import { errorMessage } from '../../shared/error-message.js';

const t = suite('flake launcher');

interface Sandbox {
  root: string;
  nix: StandInNix;
  paths: VmPaths;
}

let sandbox: Sandbox;
let guest: Guest;

t.before(async () => {
  guest = await ensureGuest();
});

t.before.each(() => {
  // Short root: the QMP socket path must fit in 107 bytes.
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'hbnix-'));
  const runDir = path.join(root, 'run');
  fs.mkdirSync(runDir, { mode: 0o700 });
  sandbox = {
    root,
    nix: makeStandInNix(path.join(root, 'nix')),
    paths: {
      runDir,
      qmpSocket: path.join(runDir, 'qmp.sock'),
      pidFile: path.join(runDir, 'qemu.pid'),
      logFile: path.join(runDir, 'qemu.log'),
      stateDir: path.join(root, 'state', 'acme'),
    },
  };
});
t.after.each(() => {
  stopUplink(sandbox.paths);
  fs.rmSync(sandbox.root, { recursive: true, force: true });
});

/** Builds of the test guest: its kernel and initrd, a closure of two store paths, the knobs in `cmdline`. */
function buildingNix(cmdline = ''): void {
  sandbox.nix.setRevision('9e0d4c2aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa');
  sandbox.nix.setGuest(guest);
  sandbox.nix.setManifest(guestManifest('acme', cmdline));
}

function context(flake: string, extra: Partial<LaunchContext> = {}): LaunchContext & { lines: string[] } {
  const lines: string[] = [];
  return {
    name: 'acme',
    vm: { workspace: '3', flake, restart: 'on-failure', display: 'none' },
    paths: sandbox.paths,
    progress: (line) => lines.push(line),
    signal: new AbortController().signal,
    lines,
    ...extra,
  };
}

const nixEnv = () => ({ PATH: `${sandbox.nix.binDir}:${process.env.PATH}`, NIX_CONF_DIR: sandbox.nix.confDir });
const launcher = () => new FlakeLauncher({ env: nixEnv() });
const gcRoot = (n: number) => path.join(sandbox.paths.stateDir, 'generations', String(n), 'result');

t('builds hiboss\'s expression around FLAKE#NAME and boots its data in the member\'s QEMU: QMP answers, the guest sees only its closure', async () => {
  buildingNix('hiboss.store=1');
  const ctx = context('git+https://git.acme.example/net#acme');
  const command = await launcher().prepare(ctx);

  const rev = '9e0d4c2aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa';
  const url = `git+https://git.acme.example/net?rev=${rev}`;
  const key = nixSetupKey('nix', { ...process.env, ...nixEnv() });
  assert.equal(sandbox.nix.calls(), [
    // The sandbox probe, then its escape twin (refused): the Nix that builds is sandboxed.
    sandboxProbeArgs(key, false),
    sandboxProbeArgs(key, true),
    ['flake', 'metadata', '--extra-experimental-features', 'nix-command flakes', '--option', 'accept-flake-config', 'false', '--json', 'git+https://git.acme.example/net'],
    [
      'build', '--extra-experimental-features', 'nix-command flakes', '--option', 'accept-flake-config', 'false',
      // --file evaluates impurely: restricted to the store and hiboss's nix/ (no file of the member's).
      '--option', 'restrict-eval', 'true', '-I', `hiboss-nix=${path.dirname(VM_IMAGE_EXPRESSION)}`,
      '--out-link', gcRoot(1), '--print-build-logs',
      '--file', VM_IMAGE_EXPRESSION, '--argstr', 'flake', url, '--argstr', 'configuration', 'acme',
    ],
  ]);
  assert.ok(fs.existsSync(VM_IMAGE_EXPRESSION), `hiboss's expression ships at ${VM_IMAGE_EXPRESSION}`);
  assert.not.ok(sandbox.nix.calls().flat().includes('--impure'));
  assert.ok(ctx.lines.includes(`building '/nix/store/1-${rev}-hiboss-vm-acme.drv'...`), `progress streamed: ${ctx.lines}`);
  const out = path.join(sandbox.nix.control, 'store', `1-${rev}-hiboss-vm-acme`);
  assert.is(fs.readlinkSync(gcRoot(1)), out, 'the GC root nix made points at the build');
  assert.ok(ctx.lines.includes(`built generation 1: ${out} (closure of 2 store paths, 117.7 MiB)`), ctx.lines.join('\n'));

  assert.is(command.file, 'qemu-system-x86_64', "the member's QEMU, from PATH");
  assert.is(command.generation, 1);
  const args = command.args;
  const after = (option: string) => args[args.indexOf(option) + 1];
  assert.is(after('-kernel'), path.join(sandbox.nix.storeDir, 'guest-kernel'));
  assert.is(after('-initrd'), path.join(sandbox.nix.storeDir, 'guest-initrd'));
  assert.is(after('-append'), 'init=/nix/store/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-nixos-system-acme/init console=ttyS0 quiet panic=-1 hiboss.store=1');
  assert.is(after('-m'), '128');
  assert.ok(args.includes(`file=${path.join(out, 'closure.img')},if=none,id=hiboss-store,format=raw,readonly=on`), args.join(' '));
  assert.not.ok(args.some((arg) => /virtfs|9p|virtiofs|vhost-user-fs/.test(arg)), 'no share of the host');
  assert.ok(fs.statSync(diskImage(sandbox.paths)).isFile(), "the member's disk made");
  assert.is(fs.statSync(diskImage(sandbox.paths)).mode & 0o777, 0o600);
  const recorded = new GenerationStore(sandbox.paths.stateDir).read();
  assert.is(recorded.selected, 1);
  assert.equal(
    recorded.generations.map((g) => [g.number, g.revision, g.outPath, g.outcome, g.flake]),
    [[1, rev, out, 'new', 'git+https://git.acme.example/net#acme']],
  );

  const vm = start(command.file, command.args, { env: command.env ?? {} });
  let client: QmpClient | undefined;
  try {
    await waitForFile(sandbox.paths.qmpSocket, 15_000, 'QMP socket');
    // QEMU binds the socket a moment before it listens.
    await waitUntilAccepting(sandbox.paths.qmpSocket, 15_000);
    client = await QmpClient.connect(sandbox.paths.qmpSocket);
    const status = await client.execute('query-status');
    assert.is(status.status, 'running');
    assert.is(Number(fs.readFileSync(sandbox.paths.pidFile, 'utf8').trim()), vm.pid, 'QEMU wrote its pidfile');
    const text = await waitForContent(consoleLog(sandbox.paths), (log) => tickCount(log) >= 2, 90_000);
    const listed = /STORE-BEGIN\r?\n([\s\S]*?)STORE-END/.exec(text)?.[1]?.split(/\r?\n/).filter(Boolean);
    assert.equal(listed, ['aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-nixos-system-acme', 'bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb-linux-6.1'], 'its /nix/store: exactly its closure');
    assert.match(text, /STORE-MOUNTED/);
    assert.match(text, /STORE-READONLY/);
    const closed = new Promise<void>((resolve) => client!.once('close', () => resolve()));
    await client.execute('quit');
    await closed;
    await vm.exited;
  } finally {
    client?.close();
    await vm.stop();
  }
});

t('without "#", NAME is the VM name', async () => {
  buildingNix();
  await launcher().prepare(context('/home/me/networks/acme'));
  const [metadata, build] = sandbox.nix.calls().filter((argv) => !isSandboxProbe(argv));
  assert.equal(metadata, nixMetadataArgs('/home/me/networks/acme'));
  const url = `/home/me/networks/acme?rev=9e0d4c2aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa`;
  assert.equal(build, nixBuildArgs(url, 'acme', gcRoot(1)));
  assert.equal(build!.slice(-2), ['configuration', 'acme']);
});

t('a later start boots the selected generation without building; a changed flake is built', async () => {
  buildingNix();
  await launcher().prepare(context('github:acme/net#acme'));
  const calls = sandbox.nix.calls().length;
  assert.is(calls, 4, 'the probes, metadata and build of the first start');
  const ctx = context('github:acme/net#acme');
  const command = await launcher().prepare(ctx);
  assert.is(sandbox.nix.calls().length, calls, 'no nix call for the second start');
  assert.is(command.generation, 1);
  assert.ok(ctx.lines.some((l) => /booting generation 1 \(9e0d4c2, new\)/.test(l)), ctx.lines.join('\n'));
  const changed = await launcher().prepare(context('github:acme/other#acme'));
  assert.is(changed.generation, 2);
  assert.is(sandbox.nix.calls().length, calls + 2, 'metadata and build: the setup was probed already');
});

t('a build whose GC root was removed is built again', async () => {
  buildingNix();
  await launcher().prepare(context('github:acme/net#acme'));
  fs.rmSync(gcRoot(1));
  const command = await launcher().prepare(context('github:acme/net#acme'));
  assert.is(command.generation, 2);
});

t('a failed build rejects with the tail of its log', async () => {
  buildingNix();
  const noise = Array.from({ length: 40 }, (_, i) => `log line ${i}`).join('\n');
  sandbox.nix.failBuilds(`${noise}\nerror: builder for '/nix/store/xyz-etc.drv' failed with exit code 1\n`);
  const error = await launcher().prepare(context('github:acme/net#acme')).then(
    () => undefined,
    (e: Error) => e,
  );
  assert.instance(error, Error);
  assert.match(error!.message, /acme: nix build of github:acme\/net#acme failed \(exit code 1\)/);
  assert.match(error!.message, /builder for '\/nix\/store\/xyz-etc\.drv' failed with exit code 1$/);
  assert.match(error!.message, /log line 39/);
  assert.not.match(error!.message, /log line 10\n/, 'only the tail');
  assert.not.ok(fs.existsSync(path.dirname(gcRoot(1))), 'no generation directory left');
  assert.is(new GenerationStore(sandbox.paths.stateDir).read().generations.length, 0);
});

t('a flake whose revision cannot be read says so', async () => {
  buildingNix();
  sandbox.nix.failMetadata("error: unable to download 'https://api.github.com/repos/acme/net/commits/HEAD': Couldn't resolve host name\n");
  const error = await launcher().prepare(context('github:acme/net#acme')).then(() => undefined, (e: Error) => e);
  assert.match(error?.message ?? '', /acme: cannot read the revision of github:acme\/net \(exit code 1\); last lines:\n.*Couldn't resolve host name/);
});

t('a build without hiboss\'s files, or whose files point outside the store, is refused clearly', async () => {
  buildingNix();
  await launcher().prepare(context('github:acme/net#acme'));
  const out = fs.readlinkSync(gcRoot(1));
  fs.rmSync(path.join(out, 'hiboss-vm.json'));
  let error = await launcher().prepare(context('github:acme/net#acme')).then(() => undefined, (e: Error) => e);
  assert.match(error?.message ?? '', /acme: generation 1: .*generations\/1\/result has no hiboss-vm\.json: not a hiboss VM build/);
  // An initrd that is the member's own file (their SSH key, say) would be loaded into the guest.
  fs.writeFileSync(path.join(out, 'hiboss-vm.json'), JSON.stringify({ ...guestManifest('acme'), closurePaths: ['/nix/store/x'] }));
  const secret = path.join(sandbox.root, 'id_ed25519');
  fs.writeFileSync(secret, 'secret');
  fs.rmSync(path.join(out, 'initrd'));
  fs.symlinkSync(secret, path.join(out, 'initrd'));
  error = await launcher().prepare(context('github:acme/net#acme')).then(() => undefined, (e: Error) => e);
  assert.match(error?.message ?? '', /initrd points outside the store .*id_ed25519.*: refused/);
  // Sizes beyond the bounds, a kernel parameter that would be two words.
  fs.rmSync(path.join(out, 'initrd'));
  fs.symlinkSync(path.join(sandbox.nix.storeDir, 'guest-initrd'), path.join(out, 'initrd'));
  for (const [bad, expected] of [
    [{ memoryMiB: 1 << 30 }, /memoryMiB/],
    [{ cores: 1000 }, /cores/],
    [{ kernelParams: ['console=ttyS0 -device'] }, /kernelParams\.0: a kernel parameter is printable ASCII without spaces/],
    [{ qemuOptions: ['-device', 'x'] }, /Unrecognized key.*qemuOptions|qemuOptions/],
  ] as const) {
    fs.writeFileSync(path.join(out, 'hiboss-vm.json'), JSON.stringify({ ...guestManifest('acme'), closurePaths: ['/nix/store/x'], ...bad }));
    error = await launcher().prepare(context('github:acme/net#acme')).then(() => undefined, (e: Error) => e);
    assert.match(error?.message ?? '', expected);
  }
});

t('a build whose manifest is out of bounds is no generation', async () => {
  buildingNix();
  sandbox.nix.setManifest({ ...guestManifest('acme'), memoryMiB: 1 << 30 });
  const error = await launcher().prepare(context('github:acme/net#acme')).then(() => undefined, (e: Error) => e);
  assert.match(error?.message ?? '', /acme: the build of github:acme\/net#acme is not a VM hiboss can boot: .*memoryMiB/);
  assert.is(new GenerationStore(sandbox.paths.stateDir).read().generations.length, 0);
  assert.not.ok(fs.existsSync(path.dirname(gcRoot(1))), 'its GC root released');
});

t('the uplink: passt without the gateway mapped, bound to the default route\'s interface; offline, no NIC', async () => {
  const proc = path.join(sandbox.root, 'proc-net');
  fs.mkdirSync(proc);
  fs.writeFileSync(path.join(proc, 'route'), 'Iface\tDestination\tGateway\tFlags\tRefCnt\tUse\tMetric\tMask\n' +
    'wlan0\t0000A8C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\nwlan0\t00000000\t0100A8C0\t0003\t0\t0\t600\t00000000\n');
  assert.equal(defaultRouteInterfaces(proc), { ipv4: 'wlan0', ipv6: null });
  assert.equal(passtArgs(sandbox.paths, { ipv4: 'wlan0', ipv6: null }, { uid: 1000, gid: 100 }), [
    '--quiet', '--runas', '1000:100', '--socket', path.join(sandbox.paths.runDir, 'uplink.sock'), '--pid', path.join(sandbox.paths.runDir, 'uplink.pid'),
    '--one-off', '--no-map-gw', '--outbound-if4', 'wlan0', '--ipv4-only',
  ]);
  buildingNix();
  const ctx = context('github:acme/net#acme');
  const offline = await new FlakeLauncher({ env: { PATH: `${sandbox.nix.binDir}:${process.env.PATH}` }, uplink: { interfaces: { ipv4: null, ipv6: null } } }).prepare(ctx);
  assert.not.ok(offline.args.includes('-netdev'), offline.args.join(' '));
  assert.ok(ctx.lines.some((line) => /no default route: the VM starts without an uplink/.test(line)));
});

t('a Nix whose builds are not sandboxed (off, relaxed) is refused before anything is fetched or built; the setup that passed is not probed again', async () => {
  buildingNix();
  const probes = () => sandbox.nix.calls().filter((argv) => argv.includes(SANDBOX_PROBE_EXPRESSION)).length;
  const before = sandbox.nix.calls().length;
  const expected = { false: /the Nix sandbox is off: a test build saw the host's \/nix\/var/, relaxed: /the Nix sandbox is "relaxed": a build that asks for no sandbox \(__noChroot\) ran outside it and saw the host's \/nix\/var/ };
  for (const value of [false, 'relaxed'] as const) {
    sandbox.nix.setSandbox(value);
    const error = await launcher().prepare(context('github:acme/net#acme')).then(() => undefined, (e: Error) => e);
    assert.match(error?.message ?? '', /^acme: refusing to build github:acme\/net: /);
    assert.match(error?.message ?? '', expected[String(value) as 'false' | 'relaxed']);
    assert.match(error?.message ?? '', /Set "sandbox = true" in the nix.conf your Nix builds with \(the nix daemon's/);
  }
  assert.equal(sandbox.nix.calls().slice(before).map((argv) => (isSandboxProbe(argv) ? 'probe' : argv[0])), ['probe', 'probe', 'probe'], 'nothing but the check ran');
  assert.not.ok(fs.existsSync(gcRoot(1)), 'no generation');
  // Back on: probed once; the next build of the same setup is not probed again.
  sandbox.nix.setSandbox(true);
  const at = probes();
  await launcher().build({ name: 'acme', flakeRef: 'github:acme/net#acme', store: new GenerationStore(sandbox.paths.stateDir), progress: () => {}, signal: new AbortController().signal });
  assert.is(probes() - at, 2);
  await launcher().build({ name: 'acme', flakeRef: 'github:acme/net#acme', store: new GenerationStore(sandbox.paths.stateDir), progress: () => {}, signal: new AbortController().signal });
  assert.is(probes() - at, 2, 'this setup passed: not probed again');
});

t('abort stops the build (the nix process is ended)', async () => {
  buildingNix();
  sandbox.nix.blockBuilds(true);
  const controller = new AbortController();
  const ctx = context('github:acme/net#acme', {
    signal: controller.signal,
    progress: (line) => {
      if (line === 'building slowly') controller.abort();
    },
  });
  let nixPid: number | undefined;
  try {
    const error = await launcher().prepare(ctx).then(
      () => undefined,
      (e: Error) => e,
    );
    assert.match(error?.message ?? '', /acme: building github:acme\/net#acme \(generation 1\): cancelled/);
    nixPid = sandbox.nix.lastPid();
    assert.throws(() => process.kill(nixPid!, 0), /ESRCH/, 'stand-in nix is gone');
  } finally {
    if (nixPid) {
      try {
        process.kill(nixPid, 'SIGKILL');
      } catch {
        /* already gone, as asserted */
      }
    }
  }
});

t('unsafe flake references are refused before anything runs', async () => {
  buildingNix();
  const cases: Array<[string, RegExp]> = [
    ['--option=x', /starts with "-"/],
    ['github:acme/net;rm -rf ~', /contains ";"/],
    ['github:acme/$(id)', /contains "\$"/],
    ['github:acme/net#acme.evil', /must name one nixosConfigurations entry/],
    ['#acme', /nothing before "#"/],
    [`github:acme/${'x'.repeat(2100)}`, /longer than 2048/],
    ['git+https://x/net?ref=a&rev=b', /contains "&"/],
  ];
  for (const [flake, expected] of cases) {
    try {
      await launcher().prepare(context(flake));
      assert.unreachable(`accepted ${flake}`);
    } catch (error) {
      assert.match(errorMessage(error), expected, flake);
      assert.match(errorMessage(error), /^acme: /);
    }
  }
  assert.equal(sandbox.nix.calls(), [], 'nix never ran');
  assert.not.ok(fs.existsSync(diskImage(sandbox.paths)));
});

t.run();
