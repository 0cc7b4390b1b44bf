/**
 * The panel on a headless blessed screen, talking to a fake daemon service on a
 * private D-Bus through the real DaemonClient: rendering from a status fixture,
 * live updates from signals, keys → method calls, delete, the wizard, and a
 * daemon that is not there yet.
 */
import fs from 'node:fs';
import path from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { DaemonClient } from '../../api/client.js';
import type { DaemonStatus } from '../../api/schema.js';
import { readConfig, writeFileAtomic } from '../../config/file.js';
import { parseConfigs } from '../../networks/index.js';
import { Panel } from '../../panel/app.js';
import { networksDirFor } from '../../panel/wizard.js';
import { startSessionBus, type RunningBus } from '../harness/dbus.js';
import { makeSandbox, type Sandbox } from '../harness/sandbox.js';
import { startFakeDaemon, vmFixture, type FakeDaemon } from '../harness/fake-daemon.js';
import { headlessScreen, type Headless } from './headless.js';

interface Ctx {
  sandbox: Sandbox;
  bus: RunningBus;
  daemon: FakeDaemon | undefined;
  client: DaemonClient;
  head: Headless;
  panel: Panel;
  configFile: string;
  networksDir: string;
  quit: number;
}

function fixture(networksDir: string): DaemonStatus {
  return {
    vms: [
      vmFixture('acme', {
        state: 'running', reason: 'focused workspace 3', workspace: '3', pid: 4242, kind: 'flake',
        flake: `path:${networksDir}/acme#acme`, uptimeMs: 125_000, memoryBudgetMiB: 2048, rssBytes: 512 * 1024 * 1024,
        cpuPercent: 12.5, lastColdBootMs: 4200, lastResumeMs: 35, restarts: 1,
      }),
      vmFixture('family', { state: 'paused', reason: 'workspace hidden', workspace: '4', pid: 77, kind: 'flake', flake: 'github:fam/net#family', heldByUser: true }),
      vmFixture('scratch', { state: 'stopped', workspace: '9' }),
    ],
    focusedWorkspace: '3',
    focusedVm: 'acme',
    wm: 'sway',
    configProblems: [],
  };
}

const t = suite<Ctx>('panel');

t.before.each(async (ctx) => {
  ctx.sandbox = makeSandbox('panel');
  ctx.bus = await startSessionBus(ctx.sandbox.env);
  ctx.configFile = path.join(ctx.sandbox.configHome, 'hiboss', 'config.json');
  ctx.networksDir = networksDirFor(ctx.sandbox.env);
  writeFileAtomic(ctx.configFile, JSON.stringify({ vms: { scratch: { workspace: '9', qemu: ['qemu-system-x86_64'] }, family: { workspace: '4', flake: 'github:fam/net#family' } } }));
  ctx.daemon = undefined;
  ctx.quit = 0;
});

t.after.each((ctx) => {
  ctx.panel?.dispose();
  ctx.head?.destroy();
  ctx.client?.close();
  ctx.daemon?.stop();
  ctx.bus.stop();
  ctx.sandbox.remove();
});

async function open(ctx: Ctx, withDaemon = true): Promise<void> {
  if (withDaemon) ctx.daemon = await startFakeDaemon(ctx.bus.address, fixture(ctx.networksDir));
  ctx.client = await DaemonClient.connect({ busAddress: ctx.bus.address });
  ctx.head = headlessScreen(110, 32);
  ctx.panel = new Panel({
    screen: ctx.head.screen,
    client: ctx.client,
    configFile: ctx.configFile,
    networksDir: ctx.networksDir,
    onQuit: () => (ctx.quit += 1),
  });
  await ctx.panel.start();
}

t('renders networks → VMs with states, and the selected VM\'s details', async (ctx) => {
  await open(ctx);
  const screen = await ctx.head.waitFor(/pid\s+4242/);
  const lines = screen.split('\n');
  // Tree: the wizard network by its name, the GitHub one by its flake, QEMU VMs last.
  const tree = lines.map((l) => l.slice(0, 44));
  const order = ['▾ acme', '▶ acme* [3] running', '▾ github:fam/net', '‖ family [4] paused', '▾ QEMU VMs', '■ scratch [9] stopped'];
  let at = -1;
  for (const item of order) {
    const found = tree.findIndex((l, i) => i > at && l.includes(item));
    assert.ok(found > at, `tree has "${item}" after the previous item:\n${screen}`);
    at = found;
  }
  for (const detail of ['state      ▶ running', 'reason     focused workspace 3', 'workspace  3', 'memory     512 MiB of 2048 MiB budget', 'CPU        12.5 %', 'uptime     2m05s', 'launcher   flake', `flake      path:${ctx.networksDir}/acme#acme`.slice(0, 50), 'cold boot  4200 ms', 'resume     35 ms', 'restarts   1']) {
    assert.ok(screen.includes(detail), `detail shows "${detail}":\n${screen}`);
  }
  assert.match(screen, /s start {2}x stop {2}p pause\/resume {2}r restart {2}g go to {2}c colour {2}e edit {2}d delete {2}n new network {2}q quit/);
});

t('signals update the screen without a key; keys call the daemon', async (ctx) => {
  await open(ctx);
  await ctx.head.waitFor(/pid\s+4242/);
  ctx.daemon!.iface.logs.set('acme', ['boot line 1', 'boot line 2']);
  // Move to family (past its network's row) and back, so the log is fetched for the selection.
  ctx.head.type('\x1b[B');
  await ctx.head.waitFor(/directory -/);
  ctx.head.type('\x1b[B');
  await ctx.head.waitFor(/held by you/);
  ctx.head.type('\x1b[A\x1b[A');
  await ctx.head.waitFor(/boot line 2/);
  assert.ok(ctx.daemon!.iface.calls.some((c) => c[0] === 'Log' && c[1] === 'acme'));

  ctx.daemon!.iface.VmLog('acme', 'live line \x1b[31mred');
  await ctx.head.waitFor(/live line \^\[\[31mred/);

  ctx.daemon!.iface.status.vms[2]!.state = 'failed';
  ctx.daemon!.iface.StateChanged('scratch', 'failed', 'QEMU exited with code 1');
  await ctx.head.waitFor(/✖ scratch \[9\] failed/);

  Object.assign(ctx.daemon!.iface.status, { focusedWorkspace: '4', focusedVm: 'family' });
  ctx.daemon!.iface.FocusChanged('4', 'family');
  await ctx.head.waitFor(/family\* \[4\]/);

  ctx.head.type('p'); // acme is running: pause
  await ctx.head.waitFor(/‖ acme .* paused/);
  ctx.head.type('p'); // now paused: resume
  await ctx.head.waitFor(/▶ acme .* running/);
  ctx.head.type('g');
  await ctx.head.waitFor(/went to workspace 3/);
  ctx.head.type('x');
  await ctx.head.waitFor(/■ acme .* stopped/);
  ctx.head.type('s');
  await ctx.head.waitFor(/acme: start requested/);
  ctx.head.type('r');
  await ctx.head.waitFor(/acme: restart requested/);
  const verbs = ctx.daemon!.iface.calls.filter((c) => !['Status', 'Log', 'Generations'].includes(c[0])).map((c) => c.join(' '));
  assert.equal(verbs, ['Pause acme', 'Resume acme', 'Act focus acme', 'Stop acme', 'Start acme', 'Restart acme']);
  ctx.head.type('q');
  await new Promise((resolve) => setImmediate(resolve));
  assert.is(ctx.quit, 1);
});

t('a flake VM\'s generations in its detail; u, U and b update and roll back through the daemon; a held update shown, A approves it', async (ctx) => {
  await open(ctx);
  const builtAt = Date.now();
  const generation = (number: number, revision: string, outcome: 'new' | 'healthy' | 'failed', failure: string | null = null) => ({
    number, flake: 'github:acme/net#acme', revision, lockedUrl: `github:acme/net/${revision}`, lastModified: null, outPath: `/nix/store/${number}-vm`,
    builtAt, outcome, failure, judgedAt: null, gcRoot: `/state/acme/generations/${number}/result`,
  });
  ctx.daemon!.iface.generations.set('acme', {
    name: 'acme',
    selected: 2,
    generations: [generation(3, 'c3c3c3c'.padEnd(40, '3'), 'failed', 'kernel panic 6 s after boot'), generation(2, 'b2b2b2b'.padEnd(40, '2'), 'healthy')],
    updating: null,
    held: {
      flake: 'github:acme/net#acme', revision: 'd4d4d4d'.padEnd(40, '4'), lockedUrl: 'github:acme/net/d4', lastModified: null, fromRevision: 'b2b2b2b'.padEnd(40, '2'),
      changes: [{ name: 'nixpkgs', source: 'github:NixOS/nixpkgs', from: '5e4fbfb'.padEnd(40, '0'), to: '1234567'.padEnd(40, '0') }],
      inputs: [], estimate: null, estimateProblem: 'offline', heldAt: 0,
    },
  });
  ctx.daemon!.iface.UpdateEvent('acme', 'rolled-back', 'acme: update to c3c3c3c failed — kernel panic 6 s after boot; rolled back to b2b2b2b');
  await ctx.head.waitFor(/generations {2}\(u update/);
  // The detail is longer than this 32-row terminal: scroll it down to the generations.
  ctx.head.type('\x1b[6~'); // PageDown
  await ctx.head.waitFor(/\* {3}2 {2}b2b2b2b {2}healthy/);
  assert.match(ctx.head.text(), /3 {2}c3c3c3c {2}failed: kernel panic 6 s after boot/);
  ctx.head.type('\x1b[6~'); // PageDown: the held update comes after the generations
  await ctx.head.waitFor(/update held for review: b2b2b2b → d4d4d4d \(A approves\)/);
  assert.match(ctx.head.text(), /nixpkgs \(github:NixOS\/nixpkgs\) 5e4fbfb → 1234567/);
  ctx.head.type('A');
  await ctx.head.waitFor(/acme: updating: building the approved revision/);
  ctx.head.type('u');
  await ctx.head.waitFor(/acme: updating/);
  ctx.head.type('U');
  ctx.head.type('b');
  await ctx.head.waitFor(/acme: generation 0 selected/);
  const verbs = ctx.daemon!.iface.calls.filter((c) => ['Update', 'ApproveUpdate', 'Rollback'].includes(c[0])).map((c) => c.join(' '));
  assert.equal(verbs, ['ApproveUpdate acme false', 'Update acme false', 'Update acme true', 'Rollback acme 0 true']);
});

t('delete asks first, then removes the VM from the config and reloads', async (ctx) => {
  await open(ctx);
  await ctx.head.waitFor(/pid\s+4242/);
  ctx.head.type('\x1b[B\x1b[B\x1b[B\x1b[B'); // down to scratch
  await ctx.head.waitFor(/reason\s+not started/);
  ctx.head.type('d');
  await ctx.head.waitFor(/Delete VM scratch\?/);
  ctx.head.type('n');
  await ctx.head.waitFor(/kept/);
  assert.ok(readConfig(ctx.configFile).vms.scratch, 'n keeps it');
  ctx.head.type('d');
  await ctx.head.waitFor(/Delete VM scratch\?/);
  ctx.head.type('y');
  await ctx.head.waitFor(/scratch removed from/);
  assert.equal(Object.keys(readConfig(ctx.configFile).vms), ['family']);
  assert.ok(ctx.daemon!.iface.calls.some((c) => c[0] === 'Reload'));
});

t('no daemon: a clear message, then the panel picks the daemon up', async (ctx) => {
  await open(ctx, false);
  await ctx.head.waitFor(/the hiboss daemon is not running/);
  assert.match(ctx.head.text(), /daemon not running/);
  ctx.head.type('p'); // no crash, a message
  await ctx.head.waitFor(/the daemon is not running/);
  ctx.daemon = await startFakeDaemon(ctx.bus.address, fixture(ctx.networksDir));
  await ctx.head.waitFor(/pid\s+4242/);
  // And it notices the daemon going away again.
  ctx.daemon.stop();
  ctx.daemon = undefined;
  await ctx.head.waitFor(/the hiboss daemon is not running/);
});

const ENTER = '\r';
const DOWN = '\x1b[B';

t('wizard: inline errors, then writes configs.json + flake.nix and binds the VM', async (ctx) => {
  await open(ctx);
  await ctx.head.waitFor(/pid\s+4242/);
  ctx.head.type('n');
  await ctx.head.waitFor(/New network — step 1\/\d+: Network name/);
  ctx.head.type('bad name!' + ENTER);
  await ctx.head.waitFor(/✖ "bad name!" is not a valid name/);
  ctx.head.type('\x15' + 'family' + ENTER); // C-u clears; "family" is a VM already
  await ctx.head.waitFor(/✖ a VM named "family" is already in/);
  ctx.head.type('\x15' + 'friends' + ENTER);
  // Layer: exactly the enum from networks/.
  const layers = await ctx.head.waitFor(/Network layer/);
  for (const layer of ['yggdrasil', 'wireguard', 'zerotier', 'tinc']) assert.match(layers, new RegExp(`\\( ?\\*? ?\\) ${layer}|\\(.\\) ${layer}`));
  ctx.head.type(DOWN + ENTER); // wireguard
  await ctx.head.waitFor(/This node's wireguard address/);
  ctx.head.type('10.77.0.300' + ENTER);
  await ctx.head.waitFor(/not an address in CIDR form/);
  ctx.head.type('\x15' + '10.77.0.2/24' + ENTER);
  await ctx.head.waitFor(/Who administers the VM/);
  ctx.head.type(ENTER); // local
  const apps = await ctx.head.waitFor(/Applications/);
  for (const app of ['syncthing', 'mumbleClient', 'mumbleServer', 'gitServer', 'nextcloud']) assert.match(apps, new RegExp(`\\[ \\] ${app}`));
  ctx.head.type(' ' + DOWN + ' ' + DOWN + DOWN + ' ' + ENTER); // syncthing, mumbleClient, gitServer
  await ctx.head.waitFor(/Syncthing shared folders/);
  ctx.head.type('/shared/docs, /shared/photos' + ENTER);
  await ctx.head.waitFor(/Mumble server/);
  ctx.head.type('voice.friends.example:64738' + ENTER);
  await ctx.head.waitFor(/Workspace to bind/);
  ctx.head.type('4' + ENTER);
  await ctx.head.waitFor(/✖ workspace "4" is already bound to VM "family"/);
  assert.not.ok(fs.existsSync(ctx.networksDir), 'nothing written on error');
  ctx.head.type('\x15' + '5' + ENTER);
  await ctx.head.waitFor(/Colour \(its windows, the bar, the panel\)/);
  ctx.head.type(ENTER); // the colour offered
  const review = await ctx.head.waitFor(/Review/);
  assert.match(review, /network layer\s+wireguard \(10\.77\.0\.2\/24\)/);
  assert.match(review, /applications\s+syncthing \(folders: \/shared\/docs, \/shared\/photos\), mumbleClient/);
  // The full line wraps in the box; the model has it whole.
  const modal = ctx.panel.modal;
  assert.ok(modal?.kind === 'wizard');
  assert.ok(modal.wizard.reviewLines().includes('applications   syncthing (folders: /shared/docs, /shared/photos), mumbleClient (server voice.friends.example:64738), gitServer'));
  ctx.head.type(ENTER);
  await ctx.head.waitFor(/Created network "friends"/);

  const dir = path.join(ctx.networksDir, 'friends');
  const configs = parseConfigs(fs.readFileSync(path.join(dir, 'configs.json'), 'utf8'));
  assert.equal(Object.keys(configs), ['friends']);
  assert.is(configs.friends!.networkLayer, 'wireguard');
  assert.is(configs.friends!.wireguard.address, '10.77.0.2/24');
  assert.equal(configs.friends!.applications.syncthing.sharedFolders, ['/shared/docs', '/shared/photos']);
  assert.is(configs.friends!.applications.mumbleClient.server, 'voice.friends.example:64738');
  assert.ok(configs.friends!.applications.gitServer.enable);
  assert.not.ok(configs.friends!.applications.nextcloud.enable);
  assert.match(fs.readFileSync(path.join(dir, 'flake.nix'), 'utf8'), /generateNixosModules/);
  // It runs the network's git server: it keeps running while its workspace is hidden.
  assert.equal(readConfig(ctx.configFile).vms.friends, { workspace: '5', flake: `path:${dir}#friends`, color: '#c62828', restart: 'on-failure', whenHidden: 'run' });
  assert.ok(ctx.daemon!.iface.calls.some((c) => c[0] === 'Reload'));
});

t('wizard: esc steps back and cancels; nothing written', async (ctx) => {
  await open(ctx);
  await ctx.head.waitFor(/pid\s+4242/);
  ctx.head.type('n');
  await ctx.head.waitFor(/Network name/);
  ctx.head.type('temp' + ENTER);
  await ctx.head.waitFor(/Network layer/);
  ctx.head.type('\x1b');
  await ctx.head.waitFor(/> temp/);
  ctx.head.type('\x1b');
  await ctx.head.waitFor(/wizard cancelled; nothing written/);
  assert.not.ok(fs.existsSync(ctx.networksDir));
  assert.equal(Object.keys(readConfig(ctx.configFile).vms).sort(), ['family', 'scratch']);
});

t.run();
