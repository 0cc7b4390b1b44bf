/**
 * daemon/launch/flake.ts with a stand-in `nix` on PATH (test/harness/stand-in-nix.ts):
 * it records its argv and "builds" a NixOS-style run script that starts a real
 * (tiny) QEMU with $QEMU_OPTS, which must then answer QMP on the daemon's socket;
 * each build is a generation with its GC root where nix's --out-link puts it.
 */
import { execa } from 'execa';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { FlakeLauncher, nixBuildArgs, nixMetadataArgs } from '../../daemon/launch/flake.js';
import { GenerationStore } from '../../daemon/updates/generations.js';
import { makeStandInNix, runScriptFor, type StandInNix } from '../harness/stand-in-nix.js';
import type { LaunchContext, VmPaths } from '../../daemon/launch/launcher.js';
import { QmpClient } from '../../qmp/client.js';
import { start, waitForFile, waitUntilAccepting } from '../harness/processes.js';
import { errorMessage } from '../../shared/error-message.js';

const t = suite('flake launcher');

interface Sandbox {
  root: string;
  nix: StandInNix;
  paths: VmPaths;
}

let sandbox: Sandbox;

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
  fs.rmSync(sandbox.root, { recursive: true, force: true });
});

/** Builds of a tiny VM: bin/run-acme-vm starts QEMU the way NixOS's run script does. */
function buildingNix(): void {
  sandbox.nix.setRevision('9e0d4c2aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa');
  sandbox.nix.setRunScript(runScriptFor(['qemu-system-x86_64', '-M', 'q35', '-m', '64', '-nodefaults', '-display', 'none', '-nic', 'none']));
}

function context(flake: string, extra: Partial<LaunchContext> = {}): LaunchContext & { lines: string[] } {
  const lines: string[] = [];
  return {
    name: 'acme',
    vm: { workspace: '3', flake, restart: 'on-failure' },
    paths: sandbox.paths,
    progress: (line) => lines.push(line),
    signal: new AbortController().signal,
    lines,
    ...extra,
  };
}

const launcher = () => new FlakeLauncher({ env: { PATH: `${sandbox.nix.binDir}:${process.env.PATH}` } });
const gcRoot = (n: number) => path.join(sandbox.paths.stateDir, 'generations', String(n), 'result');

t('builds FLAKE#nixosConfigurations.NAME…vm and runs its run script, which answers QMP', async () => {
  buildingNix();
  const ctx = context('git+https://git.acme.example/net#acme');
  const command = await launcher().prepare(ctx);

  const rev = '9e0d4c2aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa';
  assert.equal(sandbox.nix.calls(), [
    ['flake', 'metadata', '--extra-experimental-features', 'nix-command flakes', '--json', 'git+https://git.acme.example/net'],
    [
      'build',
      '--extra-experimental-features',
      'nix-command flakes',
      '--out-link',
      gcRoot(1),
      '--print-build-logs',
      `git+https://git.acme.example/net?rev=${rev}#nixosConfigurations.acme.config.system.build.vm`,
    ],
  ]);
  assert.ok(ctx.lines.includes(`building '/nix/store/1-${rev}-nixos-vm.drv'...`), `progress streamed: ${ctx.lines}`);
  const out = path.join(sandbox.nix.control, 'store', `1-${rev}-nixos-vm`);
  assert.is(fs.readlinkSync(gcRoot(1)), out, 'the GC root nix made points at the build');
  const agent = path.join(sandbox.paths.runDir, 'qga.sock');
  assert.equal(command, {
    file: path.join(gcRoot(1), 'bin', 'run-acme-vm'),
    args: [],
    env: {
      QEMU_OPTS:
        `-name acme,process=hiboss-acme -qmp unix:${sandbox.paths.qmpSocket},server=on,wait=off -pidfile ${sandbox.paths.pidFile}` +
        ` -device virtio-serial-pci -chardev socket,id=qga0,path=${agent},server=on,wait=off` +
        ' -device virtserialport,chardev=qga0,name=org.qemu.guest_agent.0 -device pvpanic-pci' +
        ' -device virtio-balloon-pci,id=hiboss-balloon,free-page-reporting=on,deflate-on-oom=on',
      NIX_DISK_IMAGE: path.join(sandbox.paths.stateDir, 'acme.qcow2'),
    },
    generation: 1,
  });
  const recorded = new GenerationStore(sandbox.paths.stateDir).read();
  assert.is(recorded.selected, 1);
  assert.equal(
    recorded.generations.map((g) => [g.number, g.revision, g.outPath, g.outcome, g.flake]),
    [[1, rev, out, 'new', 'git+https://git.acme.example/net#acme']],
  );
  assert.ok(fs.statSync(sandbox.paths.stateDir).isDirectory(), 'state dir made for the disk image');

  const vm = start(command.file, command.args, { env: command.env ?? {} });
  let client: QmpClient | undefined;
  try {
    await waitForFile(sandbox.paths.qmpSocket, 15_000, 'QMP socket');
    // QEMU binds the socket a moment before it listens.
    await waitUntilAccepting(sandbox.paths.qmpSocket, 15_000);
    client = await QmpClient.connect(sandbox.paths.qmpSocket);
    const status = await client.execute('query-status');
    assert.is(status.status, 'running');
    assert.is(Number(fs.readFileSync(sandbox.paths.pidFile, 'utf8').trim()), vm.pid, 'QEMU wrote its pidfile (the script exec()s it)');
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
  const [metadata, build] = sandbox.nix.calls();
  assert.equal(metadata, nixMetadataArgs('/home/me/networks/acme'));
  const url = `/home/me/networks/acme?rev=9e0d4c2aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa`;
  assert.equal(build, nixBuildArgs(url, 'acme', gcRoot(1)));
  assert.is(build!.at(-1), `${url}#nixosConfigurations.acme.config.system.build.vm`);
});

t('a later start boots the selected generation without building; a changed flake is built', async () => {
  buildingNix();
  await launcher().prepare(context('github:acme/net#acme'));
  const ctx = context('github:acme/net#acme');
  const command = await launcher().prepare(ctx);
  assert.is(sandbox.nix.calls().length, 2, 'no nix call for the second start');
  assert.is(command.generation, 1);
  assert.ok(ctx.lines.some((l) => /booting generation 1 \(9e0d4c2, new\)/.test(l)), ctx.lines.join('\n'));
  const changed = await launcher().prepare(context('github:acme/other#acme'));
  assert.is(changed.generation, 2);
  assert.is(sandbox.nix.calls().length, 4);
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

t('a build that prints no run script is refused clearly', async () => {
  buildingNix();
  await launcher().prepare(context('github:acme/net#acme'));
  fs.rmSync(path.join(fs.readlinkSync(gcRoot(1)), 'bin', 'run-acme-vm'));
  try {
    await launcher().prepare(context('github:acme/net#acme'));
    assert.unreachable('should reject');
  } catch (error) {
    assert.match(errorMessage(error), /expected one bin\/run-\*-vm in .*generations\/1\/result, found none/);
  }
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
});

t('with the real nix: the locked revision read, the build a generation whose GC root nix registers, pruned roots released', async () => {
  // A flake that builds offline: its "VM" is the run script from the flake's own source.
  const flakeDir = path.join(sandbox.root, 'net');
  fs.mkdirSync(flakeDir);
  const writeFlake = (label: string) => {
    fs.writeFileSync(path.join(flakeDir, 'run-acme-vm'), `#!/bin/sh\n# ${label}\nexec qemu-system-x86_64 -M q35 -m 64 -nodefaults -display none -nic none $QEMU_OPTS\n`);
    fs.writeFileSync(
      path.join(flakeDir, 'flake.nix'),
      `{ outputs = { self }: { nixosConfigurations.acme.config.system.build.vm = derivation {
          name = "acme-vm"; system = "x86_64-linux"; builder = "/bin/sh";
          args = [ "-c" "/bin/mkdir -p $out/bin && /bin/cp \${./run-acme-vm} $out/bin/run-acme-vm && /bin/chmod +x $out/bin/run-acme-vm" ];
        }; }; }\n`,
    );
  };
  writeFlake('one');
  // No sandbox (the builder uses the host's coreutils), no binary cache (offline).
  const real = new FlakeLauncher({ env: { NIX_CONFIG: 'sandbox = false\nsubstituters =\n' } });
  const flake = `path:${flakeDir}#acme`;
  const command = await real.prepare(context(flake));
  const store = new GenerationStore(sandbox.paths.stateDir);
  const first = store.read().generations[0]!;
  assert.match(first.revision, /^sha256-/, 'a path flake is known by its narHash');
  assert.match(first.lockedUrl, /^path:.*narHash=/);
  assert.ok(first.outPath.startsWith('/nix/store/'), first.outPath);
  assert.is(fs.readlinkSync(gcRoot(1)), first.outPath);
  assert.is(command.file, path.join(gcRoot(1), 'bin', 'run-acme-vm'));
  const roots = async (outPath: string) => String((await execa('nix-store', ['--query', '--roots', outPath])).stdout);
  assert.match(await roots(first.outPath), new RegExp(`^${gcRoot(1)} -> ${first.outPath}$`, 'm'), 'nix counts the GC root');

  // The flake changes: an update builds a new generation; keeping one releases the first's root.
  writeFlake('two');
  const second = await real.build({ name: 'acme', flakeRef: flake, store, progress: () => {}, signal: new AbortController().signal, refresh: true });
  assert.ok(!('skipped' in second));
  if ('skipped' in second) return;
  assert.is.not(second.revision, first.revision);
  assert.is.not(second.outPath, first.outPath);
  store.add(second, 1);
  assert.not.ok(fs.existsSync(path.dirname(gcRoot(1))));
  assert.not.match(await roots(first.outPath), new RegExp(gcRoot(1)), 'no root of ours holds the first build');
  assert.match(await roots(second.outPath), new RegExp(`^${gcRoot(2)} -> ${second.outPath}$`, 'm'));
});

t.run();
