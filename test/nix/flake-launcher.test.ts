/**
 * daemon/launch/flake.ts with a stand-in `nix` on PATH: it records its argv
 * and "builds" a NixOS-style run script that starts a real (tiny) QEMU with
 * $QEMU_OPTS, which must then answer QMP on the daemon's socket.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { FlakeLauncher, nixBuildArgs } from '../../daemon/launch/flake.js';
import type { LaunchContext, VmPaths } from '../../daemon/launch/launcher.js';
import { QmpClient } from '../../qmp/client.js';
import { start, waitForFile, waitUntilAccepting } from '../harness/processes.js';

const t = suite('flake launcher');

interface Sandbox {
  root: string;
  bin: string;
  argvFile: string;
  pidFile: string;
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
    bin: path.join(root, 'bin'),
    argvFile: path.join(root, 'nix-argv'),
    pidFile: path.join(root, 'nix-pid'),
    paths: {
      runDir,
      qmpSocket: path.join(runDir, 'qmp.sock'),
      pidFile: path.join(runDir, 'qemu.pid'),
      logFile: path.join(runDir, 'qemu.log'),
      stateDir: path.join(root, 'state', 'acme'),
    },
  };
  fs.mkdirSync(sandbox.bin);
});
t.after.each(() => {
  fs.rmSync(sandbox.root, { recursive: true, force: true });
});

/** Writes the stand-in nix; `body` runs after it has recorded its argv and pid. */
function standInNix(body: string): void {
  const script = `#!/bin/sh
printf '%s\\n' "$@" > '${sandbox.argvFile}'
echo $$ > '${sandbox.pidFile}'
${body}
`;
  fs.writeFileSync(path.join(sandbox.bin, 'nix'), script, { mode: 0o755 });
}

/** A stand-in that builds a VM: bin/run-acme-vm starts QEMU the way NixOS's run script does. */
function buildingNix(): string {
  const out = path.join(sandbox.root, 'store', 'abc123-nixos-vm');
  standInNix(`echo "evaluating derivation 'acme'" >&2
echo "building '/nix/store/abc123-nixos-vm.drv'..." >&2
mkdir -p '${out}/bin'
cat > '${out}/bin/run-acme-vm' <<'SCRIPT'
#!/bin/sh
exec qemu-system-x86_64 -M q35 -m 64 -nodefaults -display none -nic none $QEMU_OPTS
SCRIPT
chmod +x '${out}/bin/run-acme-vm'
echo '${out}'`);
  return out;
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

const launcher = () => new FlakeLauncher({ env: { PATH: `${sandbox.bin}:${process.env.PATH}` } });

t('builds FLAKE#nixosConfigurations.NAME…vm and runs its run script, which answers QMP', async () => {
  const out = buildingNix();
  const ctx = context('git+https://git.acme.example/net#acme');
  const command = await launcher().prepare(ctx);

  assert.equal(fs.readFileSync(sandbox.argvFile, 'utf8').split('\n').slice(0, -1), [
    'build',
    '--extra-experimental-features',
    'nix-command flakes',
    '--no-link',
    '--print-out-paths',
    '--print-build-logs',
    'git+https://git.acme.example/net#nixosConfigurations.acme.config.system.build.vm',
  ]);
  assert.ok(ctx.lines.includes("building '/nix/store/abc123-nixos-vm.drv'..."), `progress streamed: ${ctx.lines}`);
  assert.equal(command, {
    file: path.join(out, 'bin', 'run-acme-vm'),
    args: [],
    env: {
      QEMU_OPTS: `-name acme,process=hiboss-acme -qmp unix:${sandbox.paths.qmpSocket},server=on,wait=off -pidfile ${sandbox.paths.pidFile}`,
      NIX_DISK_IMAGE: path.join(sandbox.paths.stateDir, 'acme.qcow2'),
    },
  });
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
  const argv = fs.readFileSync(sandbox.argvFile, 'utf8').trim().split('\n');
  assert.is(argv.at(-1), '/home/me/networks/acme#nixosConfigurations.acme.config.system.build.vm');
  assert.equal(argv, nixBuildArgs('/home/me/networks/acme', 'acme'));
});

t('a failed build rejects with the tail of its log', async () => {
  const noise = Array.from({ length: 40 }, (_, i) => `echo "log line ${i}" >&2`).join('\n');
  standInNix(`${noise}
echo "error: builder for '/nix/store/xyz-etc.drv' failed with exit code 1" >&2
exit 1`);
  const error = await launcher().prepare(context('github:acme/net#acme')).then(
    () => undefined,
    (e: Error) => e,
  );
  assert.instance(error, Error);
  assert.match(error!.message, /acme: nix build of github:acme\/net#acme failed \(exit code 1\)/);
  assert.match(error!.message, /builder for '\/nix\/store\/xyz-etc\.drv' failed with exit code 1$/);
  assert.match(error!.message, /log line 39/);
  assert.not.match(error!.message, /log line 10\n/, 'only the tail');
});

t('a build that prints no run script is refused clearly', async () => {
  const out = path.join(sandbox.root, 'store', 'not-a-vm');
  standInNix(`mkdir -p '${out}/bin'; echo '${out}'`);
  try {
    await launcher().prepare(context('github:acme/net#acme'));
    assert.unreachable('should reject');
  } catch (error) {
    assert.match((error as Error).message, /expected one bin\/run-\*-vm in .*not-a-vm, found none/);
  }
});

t('abort stops the build (the nix process is ended)', async () => {
  standInNix(`echo "building slowly" >&2
exec sleep 600`);
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
    assert.match(error?.message ?? '', /acme: build of github:acme\/net#acme cancelled/);
    nixPid = Number(fs.readFileSync(sandbox.pidFile, 'utf8'));
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
      assert.match((error as Error).message, expected, flake);
      assert.match((error as Error).message, /^acme: /);
    }
  }
  assert.not.ok(fs.existsSync(sandbox.argvFile), 'nix never ran');
});

t.run();
