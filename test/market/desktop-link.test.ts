/**
 * A clicked nix:// link, as a new user's desktop runs it: the desktop file
 * installed the way the README says (xdg-desktop-menu, xdg-mime), opened with
 * Debian's `xdg-open` and GLib's `gio open`, against a real daemon started
 * with a config that is not the default one, under i3 on Xvfb. With a
 * terminal (xterm), the review opens in it and the answer typed there (real
 * key presses, xdotool) joins — into the running daemon's config. With no
 * terminal on PATH, a notification says why. desktop-file-validate is silent.
 */
import { execa } from 'execa';
import fs from 'node:fs';
import path from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { DaemonClient } from '../../api/client.js';
import { TERMINALS } from '../../cli/desktop-handoff.js';
import { readConfig } from '../../config/file.js';
import { startSessionBus, type RunningBus } from '../harness/dbus.js';
import { alive } from '../harness/inspect.js';
import { REPO, HIBOSS } from '../harness/market.js';
import { startNotificationServer, type NotificationServer } from '../harness/notifications.js';
import { start, track, waitForContent, type Started } from '../harness/processes.js';
import { makeSandbox, type Sandbox } from '../harness/sandbox.js';
import { startI3, type RunningWm } from '../harness/wm.js';
import { bound } from '../harness/bounds.js';

const DESKTOP_FILE = path.join(REPO, 'panel', 'hiboss-join.desktop');
const t = suite('market: a clicked nix:// link (xdg-open, gio open)');
let sandbox: Sandbox;
let wm: RunningWm;
let bus: RunningBus;
let notifications: NotificationServer;
let daemon: Started;
let client: DaemonClient;
let daemonConfig: string;
let env: NodeJS.ProcessEnv;

/** A PATH like the test's own, minus every terminal hiboss knows: a desktop with none installed. */
function pathWithoutTerminals(dir: string): string {
  const skip = new Set(TERMINALS.map((term) => term.name));
  fs.mkdirSync(dir);
  for (const from of (process.env.PATH ?? '').split(':').filter(Boolean)) {
    let names: string[];
    try {
      names = fs.readdirSync(from);
    } catch {
      continue;
    }
    for (const name of names) {
      if (skip.has(name) || fs.existsSync(path.join(dir, name))) continue;
      fs.symlinkSync(path.join(from, name), path.join(dir, name));
    }
  }
  return dir;
}

t.before(async () => {
  sandbox = makeSandbox('xdglink');
  wm = await startI3(sandbox);
  bus = await startSessionBus(sandbox.env);
  notifications = await startNotificationServer(bus.address);
  const bin = path.join(sandbox.root, 'bin');
  fs.mkdirSync(bin);
  fs.symlinkSync(HIBOSS, path.join(bin, 'hiboss'));
  env = { ...wm.env, DBUS_SESSION_BUS_ADDRESS: bus.address, PATH: `${bin}:${process.env.PATH}` };
  // The daemon reads a config that is not the default one: join must write there.
  daemonConfig = path.join(sandbox.root, 'elsewhere', 'config.json');
  fs.mkdirSync(path.dirname(daemonConfig), { recursive: true });
  fs.writeFileSync(daemonConfig, JSON.stringify({ vms: {} }));
  daemon = start(process.execPath, [HIBOSS, 'daemon', '--config', daemonConfig], { env, extendEnv: false, stdout: 'ignore', stderr: 'pipe' });
  client = await DaemonClient.connect({ busAddress: bus.address });
  if (!client.available) await new Promise<void>((resolve) => client.once('up', resolve));
  assert.is(await client.configPath(), daemonConfig);
  // Off workspace 1, where the first joined VM lands: the daemon must not start building it here.
  await execa('i3-msg', ['workspace', '9'], { env, extendEnv: false, stdin: 'ignore' });
  // Installed as the README says.
  for (const argv of [['xdg-desktop-menu', 'install', '--mode', 'user', DESKTOP_FILE], ['xdg-mime', 'default', 'hiboss-join.desktop', 'x-scheme-handler/nix']]) {
    await execa(argv[0]!, argv.slice(1), { env, extendEnv: false, stdin: 'ignore' });
  }
});

t.after(async () => {
  client?.close();
  await daemon?.stop();
  notifications?.stop();
  bus?.stop();
  await wm?.stop();
  sandbox?.remove();
});

t('desktop-file-validate is silent; the handler is registered for x-scheme-handler/nix', async () => {
  const validated = await execa('desktop-file-validate', [DESKTOP_FILE], { reject: false, stdin: 'ignore' });
  assert.is(validated.exitCode, 0);
  assert.is(String(validated.stdout) + String(validated.stderr), '');
  const query = await execa('xdg-mime', ['query', 'default', 'x-scheme-handler/nix'], { env, extendEnv: false, stdin: 'ignore' });
  assert.is(String(query.stdout).trim(), 'hiboss-join.desktop');
  assert.ok(fs.existsSync(path.join(sandbox.dataHome, 'applications', 'hiboss-join.desktop')));
});

/** The xterm hiboss started for `uri` (its argv holds the link), once it runs. */
async function xtermFor(uri: string, timeoutMs = 30_000): Promise<number> {
  const deadline = Date.now() + bound(timeoutMs);
  for (;;) {
    for (const entry of fs.readdirSync('/proc')) {
      if (!/^\d+$/.test(entry)) continue;
      try {
        const argv = fs.readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
        if (path.basename(argv[0] ?? '') === 'xterm' && argv.includes(uri)) return Number(entry);
      } catch {
        /* gone */
      }
    }
    if (Date.now() > deadline) throw new Error(`no xterm for ${uri}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Real key presses into that xterm's window (focused first). */
async function typeInto(pid: number, keys: string[]): Promise<void> {
  const found = await execa('xdotool', ['search', '--sync', '--onlyvisible', '--pid', String(pid)], { env, extendEnv: false, stdin: 'ignore', timeout: 30_000 });
  const id = String(found.stdout).trim().split('\n')[0]!;
  await execa('xdotool', ['windowactivate', '--sync', id], { env, extendEnv: false, stdin: 'ignore', timeout: 10_000 });
  for (const key of keys) await execa('xdotool', key.length === 1 ? ['type', key] : ['key', key], { env, extendEnv: false, stdin: 'ignore' });
}

async function gone(pid: number, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + bound(timeoutMs);
  while (alive(pid)) {
    if (Date.now() > deadline) throw new Error(`process ${pid} is still running`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

for (const [opener, argv, name] of [
  ['xdg-open', ['xdg-open'], 'acme'],
  ['gio open', ['gio', 'open'], 'office'],
] as const) {
  t(`${opener} with a terminal: the review opens in it and joins into the running daemon's config`, async () => {
    const uri = `nix://github/acme/${name}#${name}`;
    const opened = await execa(argv[0], [...argv.slice(1), uri], { env: { ...env, TERMINAL: 'xterm' }, extendEnv: false, stdin: 'ignore', reject: false, timeout: 30_000 });
    assert.is(opened.exitCode, 0, String(opened.stderr));
    const pid = await xtermFor(uri);
    track(pid);
    await typeInto(pid, ['y', 'Return']);
    await waitForContent(daemonConfig, (text) => text.includes(`github:acme/${name}#${name}`));
    assert.equal(readConfig(daemonConfig).vms[name]?.flake, `github:acme/${name}#${name}`);
    assert.not.ok(fs.existsSync(path.join(sandbox.configHome, 'hiboss', 'config.json')), 'the default config is left alone');
    await typeInto(pid, ['Return']); // "Press enter to close."
    await gone(pid);
  });
}

for (const [opener, argv] of [
  ['xdg-open', ['xdg-open']],
  ['gio open', ['gio', 'open']],
] as const) {
  t(`${opener} with no terminal installed: a notification says why`, async () => {
    const noTerminals = path.join(sandbox.root, `path-${argv[0]}`);
    const before = fs.readFileSync(daemonConfig, 'utf8');
    const calls = notifications.calls().length;
    const pathEnv: NodeJS.ProcessEnv = { ...env, PATH: `${path.join(sandbox.root, 'bin')}:${pathWithoutTerminals(noTerminals)}` };
    delete pathEnv.TERMINAL;
    await execa(argv[0], [...argv.slice(1), 'nix://github/acme/lab#lab'], { env: pathEnv, extendEnv: false, stdin: 'ignore', reject: false, timeout: 30_000 });
    const deadline = Date.now() + 15_000;
    const ours = () => notifications.calls().slice(calls).find((c) => c.summary.startsWith('hiboss join'));
    while (!ours() && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
    const call = ours();
    assert.ok(call, 'a notification came');
    assert.is(call!.summary, 'hiboss join: no terminal found');
    assert.match(call!.body, /found none \(tried \$TERMINAL, xdg-terminal-exec, x-terminal-emulator, foot/);
    assert.match(call!.body, /run in a terminal: hiboss join nix:\/\/github\/acme\/lab#lab/);
    assert.is(fs.readFileSync(daemonConfig, 'utf8'), before);
  });
}

t.run();
