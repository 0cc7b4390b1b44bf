/**
 * The panel end to end: `bin/hiboss panel` in a real terminal (tmux, on a
 * private socket), against the real daemon with real QEMU guests, in headless
 * sway on a private bus. tmux has no "screen changed" event, so the screen is
 * read with capture-pane in a short, bounded loop (harness/tmux.ts, and every
 * wait has its own deadline).
 */
import { execa } from 'execa';
import fs from 'node:fs';
import path from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { readConfig } from '../../config/file.js';
import { parseConfigs } from '../../networks/index.js';
import { WmClient } from '../../wm-ipc/client.js';
import { HIBOSS, startDaemon, type RunningDaemon } from '../harness/daemon.js';
import { startSessionBus, type RunningBus } from '../harness/dbus.js';
import { ensureGuest, guestQemuArgv, tickCount } from '../harness/guest.js';
import { pidsWithArg } from '../harness/inspect.js';
import { start } from '../harness/processes.js';
import { makeSandbox, type Sandbox } from '../harness/sandbox.js';
import { startSway, type RunningWm } from '../harness/wm.js';
import { startTmux, type Tmux } from '../harness/tmux.js';

const quiet = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const t = suite('panel e2e: tmux + real daemon + real guests in sway');
let sandbox: Sandbox;
let wm: RunningWm;
let bus: RunningBus;
let daemon: RunningDaemon;
let wmc: WmClient;
let tmux: Tmux | undefined;

t.before(async () => {
  const guest = await ensureGuest();
  sandbox = makeSandbox('panele2e');
  wm = await startSway(sandbox);
  bus = await startSessionBus(sandbox.env);
  wmc = await WmClient.connect({ socketPath: wm.socketPath });
  daemon = await startDaemon(sandbox, wm, bus, {
    vms: {
      alpha: { workspace: '2', qemu: guestQemuArgv(guest, path.join(sandbox.root, 'alpha.serial')) },
      beta: { workspace: '3', qemu: guestQemuArgv(guest, path.join(sandbox.root, 'beta.serial')) },
    },
    // Hidden VMs stay running for the whole test: any pause seen here is the panel's key.
    policy: { pauseAfterMs: 600_000 },
  });
  tmux = await startTmux(sandbox, daemon.env, [process.execPath, HIBOSS, 'panel', '--config', daemon.configPath]);
});

t.after(async () => {
  tmux?.kill();
  wmc?.close();
  await daemon?.stop();
  for (const pid of pidsWithArg(sandbox.root)) process.kill(pid, 'SIGKILL');
  await wm?.stop();
  bus?.stop();
  sandbox?.remove();
});

t('the tree lists the VMs with their live states', async () => {
  const screen = await tmux!.waitFor(/■ beta \[3\] stopped/);
  assert.match(screen, /▾ QEMU VMs/);
  assert.match(screen, /■ alpha \[2\] stopped/);
  assert.match(screen, /s start {2}x stop {2}p pause\/resume/);
});

t('a switch made in sway shows up without a key press', async () => {
  await wmc.command('workspace 2');
  await tmux!.waitFor(/▶ alpha\* \[2\] running/, 40_000);
  await wmc.command('workspace 3');
  const screen = await tmux!.waitFor(/▶ beta\* \[3\] running/, 40_000);
  assert.match(screen, /▶ alpha \[2\] running/, 'alpha keeps running (pauseAfterMs is long), without the focus mark');
  assert.match(screen, /workspace 3/);
});

t('p pauses the real VM selected in the tree', async () => {
  await tmux!.waitFor(/pid\s+\d+/); // alpha (the first VM) is selected and has its details
  const before = await daemon.client.status();
  assert.is(before.vms.find((vm) => vm.name === 'alpha')!.state, 'running');
  await tmux!.keys('p');
  await tmux!.waitFor(/‖ alpha \[2\] paused/, 15_000);
  const status = await daemon.client.status();
  const alpha = status.vms.find((vm) => vm.name === 'alpha')!;
  assert.is(alpha.state, 'paused');
  assert.ok(alpha.heldByUser, 'a pause from the panel is the user\'s');
  // The guest itself stopped counting.
  const serial = path.join(sandbox.root, 'alpha.serial');
  const frozen = tickCount(fs.readFileSync(serial, 'utf8'));
  await quiet(700); // three ticks' worth of silence; nothing signals "no output"
  assert.is(tickCount(fs.readFileSync(serial, 'utf8')), frozen);
  assert.is(status.vms.find((vm) => vm.name === 'beta')!.state, 'running');
});

t('the wizard writes a configs.json that validates and a flake.nix that parses; the daemon takes the VM', async () => {
  await tmux!.keys('n');
  await tmux!.waitFor(/New network — step 1\/\d+: Network name/);
  await tmux!.keys('-l', 'friends');
  await tmux!.keys('Enter');
  await tmux!.waitFor(/Network layer/);
  await tmux!.keys('Enter'); // yggdrasil
  await tmux!.waitFor(/Who administers the VM/);
  await tmux!.keys('Enter'); // local
  await tmux!.waitFor(/\[ \] syncthing/);
  await tmux!.keys('Space');
  await tmux!.waitFor(/\[x\] syncthing/);
  await tmux!.keys('Enter');
  await tmux!.waitFor(/Syncthing shared folders/);
  await tmux!.keys('-l', '/shared/docs');
  await tmux!.keys('Enter');
  await tmux!.waitFor(/Workspace to bind/);
  await tmux!.keys('-l', '3');
  await tmux!.keys('Enter');
  await tmux!.waitFor(/workspace "3" is already bound to VM "beta"/);
  await tmux!.keys('BSpace');
  await tmux!.keys('-l', '7');
  await tmux!.keys('Enter');
  await tmux!.waitFor(/step \d+\/\d+: Colour/);
  await tmux!.keys('Enter'); // the first free colour: red
  await tmux!.waitFor(/step \d+\/\d+: Review/);
  await tmux!.keys('Enter');
  await tmux!.waitFor(/Created network "friends"/);
  // The daemon re-read its config: the new network and its VM are in the tree.
  await tmux!.waitFor(/■ █ friends \[7\] stopped/); // with its colour's swatch

  const dir = path.join(sandbox.dataHome, 'hiboss', 'networks', 'friends');
  const configs = parseConfigs(fs.readFileSync(path.join(dir, 'configs.json'), 'utf8'));
  assert.is(configs.friends!.networkLayer, 'yggdrasil');
  assert.equal(configs.friends!.applications.syncthing.sharedFolders, ['/shared/docs']);
  const parsed = await execa('nix-instantiate', ['--parse', path.join(dir, 'flake.nix')], { reject: false });
  assert.is(parsed.exitCode, 0, parsed.stderr);
  assert.equal(readConfig(daemon.configPath).vms.friends, { workspace: '7', flake: `path:${dir}#friends`, color: '#c62828', restart: 'on-failure' });
  const status = await daemon.client.status();
  assert.ok(status.vms.some((vm) => vm.name === 'friends' && vm.flake === `path:${dir}#friends`));
});

t('join refuses hostile URIs; a good one is added and shows up in the panel', async () => {
  const before = fs.readFileSync(daemon.configPath, 'utf8');
  const join = async (...args: string[]) => {
    const proc = start(process.execPath, [HIBOSS, 'join', ...args], { env: daemon.env, extendEnv: false, stdout: 'pipe', stderr: 'pipe' });
    const result = await proc.child;
    return { code: result.exitCode, stdout: String(result.stdout), stderr: String(result.stderr) };
  };
  for (const [uri, message] of [
    ['nix://github/acme/net#acme$(reboot)', 'contains "$"'],
    ['nix://github/acme/net#acme\x07', 'control character (U+0007)'],
    ['nix://github/acme/net#' + 'a'.repeat(3000), 'at most 2048 are accepted'],
    ['-oProxyCommand=x', 'starts with "-"'],
    ['javascript:alert(1)', 'contains "("'],
    ['mailto:me@example.org', 'unknown scheme "mailto:"'],
  ] as const) {
    const refused = await join('--print-review', '--', uri);
    assert.is(refused.code, 2, `${uri.slice(0, 60)}: ${refused.stderr}`);
    assert.ok(refused.stderr.includes(message), refused.stderr);
    assert.is(refused.stdout, '', 'no review for a refused URI');
  }
  assert.is(fs.readFileSync(daemon.configPath, 'utf8'), before);

  const joined = await join('--yes', '--workspace', '8', 'nix://github/acme/net#acme');
  assert.is(joined.code, 0, joined.stderr);
  assert.match(joined.stdout, /The daemon re-read its config\./);
  await tmux!.waitFor(/■ acme \[8\] stopped/);
  assert.match(await tmux!.capture(), /▾ github:acme\/net/);
});

t.run();
