/**
 * hiboss as users without Nix install it: `npm pack`, `npm install -g` of the
 * tarball into a fresh prefix, and the installed `hiboss` run through its shebang.
 * Then the systemd user unit that install prints (`hiboss systemd-unit`): checked
 * by systemd-analyze, and its ExecStart run as systemd would run it — against
 * headless sway and a private session bus — until the daemon owns its bus name.
 */
import { execa } from 'execa';
import { once } from 'node:events';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { DaemonClient } from '../../api/client.js';
import { BUS_NAME } from '../../api/names.js';
import { verbs } from '../../cli/verbs/index.js';
import { bounded } from '../harness/bounded.js';
import { REPO } from '../harness/daemon.js';
import { startSessionBus, type RunningBus } from '../harness/dbus.js';
import { start, type Started } from '../harness/processes.js';
import { makeSandbox, type Sandbox } from '../harness/sandbox.js';
import { startSway, type RunningWm } from '../harness/wm.js';

const suiteT = suite('npm package and systemd unit');
// Every test bounded: a daemon that never answers fails the test instead of hanging the file.
const t = bounded(suiteT, 60_000);
let tmp: string;
let prefix: string;
let installed: string;
let sandbox: Sandbox;

/** npm's own environment variables (set when run under `npm test`) would override --prefix and friends. */
function npmEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^npm_/i.test(k)));
}

/** A user's shell: node on PATH (the shebang's `env` finds it there), nothing of the repo. */
function userEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...sandbox.env, PATH: `${path.join(prefix, 'bin')}:${path.dirname(process.execPath)}:/usr/bin:/bin`, ...extra };
  for (const [k, v] of Object.entries(env)) if (v === undefined || /^npm_/i.test(k)) delete env[k];
  return env;
}

async function run(file: string, args: string[], env: NodeJS.ProcessEnv) {
  const r = await execa(file, args, { env, extendEnv: false, reject: false, stdin: 'ignore', timeout: 60_000, cwd: tmp });
  assert.not.ok(r.timedOut, `${file} ${args.join(' ')} timed out`);
  return { code: r.exitCode, stdout: String(r.stdout), stderr: String(r.stderr) };
}

suiteT.before(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'hb-pkg-'));
  prefix = path.join(tmp, 'prefix');
  sandbox = makeSandbox('pkg');
  // npm test built dist/ already: the prepack script (the same build) is not repeated here.
  const pack = await execa('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', tmp], {
    cwd: REPO,
    env: npmEnv(),
    extendEnv: false,
    timeout: 60_000,
  });
  const [info] = JSON.parse(String(pack.stdout)) as { filename: string; files: { path: string }[] }[];
  packed = info!.files.map((f) => f.path);
  // Tarballs come from the cache `npm ci` filled; only missing metadata goes to the registry.
  const install = await execa(
    'npm',
    ['install', '--global', '--prefix', prefix, '--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error', path.join(tmp, info!.filename)],
    { cwd: tmp, env: npmEnv(), extendEnv: false, reject: false, timeout: 120_000 },
  );
  assert.is(install.exitCode, 0, `npm install -g failed:\n${install.stderr}`);
  installed = path.join(prefix, 'lib', 'node_modules', 'hiboss');
});
suiteT.after(() => {
  sandbox?.remove();
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

let packed: string[] = [];

t('the tarball has the built CLI and the assets, not the tests', async () => {
  for (const file of [
    'bin/hiboss',
    'dist/cli/main.js',
    'dist/cli/verbs/completion.js',
    'dist/daemon/main.js',
    'packaging/systemd/hiboss.service',
    'packaging/systemd/wm-session.target',
    'bar-module/waybar-module.jsonc',
    'bar-module/style.css',
    'panel/hiboss-join.desktop',
    'README.md',
    'package.json',
  ]) {
    assert.ok(packed.includes(file), `${file} is not in the tarball`);
  }
  const unwanted = packed.filter((f) => /^dist\/(test|bench)\/|\.map$|\.ts$|^test\/|^node_modules\//.test(f));
  assert.equal(unwanted, []);
});

t('installed: hiboss --help lists every verb; the young generation is capped', async () => {
  const bin = path.join(prefix, 'bin', 'hiboss');
  assert.ok(fs.lstatSync(bin).isSymbolicLink(), 'npm links PREFIX/bin/hiboss');
  // Run as a program, so its shebang (env -S node FLAGS) is what starts node.
  const help = await run(bin, ['--help'], userEnv());
  assert.is(help.code, 0, help.stderr);
  assert.ok(help.stdout.startsWith('usage: hiboss VERB'), help.stdout);
  for (const name of Object.keys(verbs)) assert.match(help.stdout, new RegExp(`^  ${name}\\s`, 'm'));
  assert.is(help.stderr, '');
  const shebang = fs.readFileSync(path.join(installed, 'bin', 'hiboss'), 'utf8').split('\n', 1)[0];
  assert.is(shebang, '#!/usr/bin/env -S node --max-semi-space-size=2 --optimize-for-size --no-opt');
});

t('installed: hiboss status without a daemon, or without a bus, is a clear error', async () => {
  const bus = await startSessionBus(sandbox.env);
  try {
    const nodaemon = await run('hiboss', ['status'], userEnv({ DBUS_SESSION_BUS_ADDRESS: bus.address }));
    assert.is(nodaemon.code, 1);
    assert.is(nodaemon.stdout, '');
    assert.match(nodaemon.stderr, /^hiboss: the hiboss daemon is not running/);
  } finally {
    bus.stop();
  }
  const nobus = await run('hiboss', ['status'], userEnv());
  assert.is(nobus.code, 1);
  assert.match(nobus.stderr, /DBUS_SESSION_BUS_ADDRESS is not set/);
});

/** ExecStart's argv as systemd splits it: blanks separate, "…" quotes with \ escapes, %% and $$ are % and $. */
function execStartArgv(unit: string): string[] {
  const lines = unit.split('\n').filter((l) => l.startsWith('ExecStart='));
  assert.is(lines.length, 1, 'one ExecStart=');
  const words = lines[0]!.slice('ExecStart='.length).match(/"(?:[^"\\]|\\.)*"|\S+/g) ?? [];
  return words.map((w) =>
    (w.startsWith('"') ? w.slice(1, -1).replace(/\\(.)/g, '$1') : w).replaceAll('%%', '%').replaceAll('$$', '$'),
  );
}

/** `promise`, or a rejection saying `what` after `ms`. */
async function within<T>(promise: Promise<T>, ms: number, what: () => string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(what())), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

async function printedUnit(args: string[] = []): Promise<string> {
  const r = await run('hiboss', ['systemd-unit', ...args], userEnv());
  assert.is(r.code, 0, r.stderr);
  return r.stdout;
}

/** systemd-analyze verify in user mode, in a runtime dir of its own. */
async function verify(dir: string, files: string[]) {
  const runtime = path.join(dir, 'run');
  fs.mkdirSync(runtime, { mode: 0o700, recursive: true });
  return run('systemd-analyze', ['verify', '--user', ...files], { ...userEnv(), XDG_RUNTIME_DIR: runtime, SYSTEMD_LOG_COLOR: '0' });
}

t('the printed unit: the shipped one with ExecStart on this install; systemd-analyze verify is silent', async () => {
  const unit = await printedUnit();
  const shipped = fs.readFileSync(path.join(installed, 'packaging', 'systemd', 'hiboss.service'), 'utf8');
  // Only ExecStart differs from the shipped file.
  const others = (text: string) => text.split('\n').filter((l) => !l.startsWith('ExecStart='));
  assert.equal(others(unit.trimEnd()), others(shipped.trimEnd()));
  for (const line of ['PartOf=graphical-session.target', 'After=graphical-session.target', 'WantedBy=graphical-session.target', 'Restart=on-failure', 'KillMode=process']) {
    assert.ok(unit.split('\n').includes(line), `no ${line}`);
  }
  assert.equal(execStartArgv(unit), [process.execPath, '--max-semi-space-size=2', '--optimize-for-size', '--no-opt', path.join(installed, 'bin', 'hiboss'), 'daemon']);

  const dir = path.join(tmp, 'units');
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'hiboss.service'), unit);
  fs.copyFileSync(path.join(installed, 'packaging', 'systemd', 'wm-session.target'), path.join(dir, 'wm-session.target'));
  const ok = await verify(dir, [path.join(dir, 'hiboss.service'), path.join(dir, 'wm-session.target')]);
  assert.is(ok.code, 0, ok.stderr);
  // Unknown keys and bad values are only warnings (exit 0): any output is a finding.
  assert.is(ok.stderr.trim(), '');

  // The check can fail: a missing program and an unknown key are reported.
  fs.writeFileSync(path.join(dir, 'broken.service'), unit.replace(/^ExecStart=.*$/m, 'ExecStart=/nonexistent/hiboss daemon\nRestartt=always'));
  const bad = await verify(dir, [path.join(dir, 'broken.service')]);
  assert.match(bad.stderr, /\/nonexistent\/hiboss/);
  assert.match(bad.stderr, /Restartt/);
});

t('the unit\'s ExecStart, run as systemd runs it, serves org.hiboss.Daemon1; SIGTERM ends it', async () => {
  // A config path with a blank, % and $: ExecStart must quote and escape it.
  const config = path.join(sandbox.root, 'my config %n $HOME.json');
  fs.writeFileSync(config, JSON.stringify({ vms: {} }));
  const argv = execStartArgv(await printedUnit(['--config', config]));
  assert.is(argv.at(-1), config);
  let wm: RunningWm | undefined;
  let bus: RunningBus | undefined;
  let client: DaemonClient | undefined;
  let daemon: Started | undefined;
  try {
    wm = await startSway(sandbox);
    bus = await startSessionBus(sandbox.env);
    // What the user manager passes once the WM's environment is imported; its PATH is fixed.
    const env = { ...wm.env, DBUS_SESSION_BUS_ADDRESS: bus.address, PATH: '/usr/local/bin:/usr/bin:/bin' };
    client = await DaemonClient.connect({ busAddress: bus.address });
    const up = once(client, 'up');
    daemon = start(argv[0]!, argv.slice(1), { env, extendEnv: false, stdout: 'ignore', stderr: 'pipe' });
    let log = '';
    // Up means on the bus and connected to the WM (it logs that): a SIGTERM mid-start is another test.
    let connected: () => void;
    const wmConnected = new Promise<void>((resolve) => (connected = resolve));
    daemon.child.stderr!.on('data', (chunk: Buffer) => {
      log += chunk;
      if (/connected to sway/.test(log)) connected();
    });
    const exited = daemon.exited.then(() => {
      throw new Error(`the daemon exited:\n${log}`);
    });
    exited.catch(() => {}); // it does exit, at the end: only the race below cares
    await within(Promise.race([Promise.all([up, wmConnected]), exited]), 30_000, () => `no ${BUS_NAME} and sway connection within 30 s:\n${log}`);
    assert.ok(client.available);
    assert.equal((await client.status()).vms, []);
    const cmdline = fs.readFileSync(`/proc/${daemon.pid}/cmdline`, 'utf8').split('\0');
    assert.ok(cmdline.includes('--max-semi-space-size=2'), cmdline.join(' '));

    // systemd stops the service with SIGTERM to the main process (KillMode=process).
    const down = once(client, 'down');
    process.kill(daemon.pid, 'SIGTERM');
    // Bounded, so a daemon that ignores SIGTERM fails here and is killed in `finally`.
    const [result] = await within(Promise.all([daemon.child, down]), 15_000, () => `the daemon did not end on SIGTERM:\n${log}`);
    assert.is(result.exitCode, 0, `exit ${result.exitCode ?? result.signal}:\n${log}`);
  } finally {
    await daemon?.stop();
    client?.close();
    await wm?.stop();
    bus?.stop();
  }
});

suiteT.run();
