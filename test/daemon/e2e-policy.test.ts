/**
 * The daemon's policy end to end on real sway with real (bare) QEMUs: outputs,
 * rapid switching, config edits and VMs that cannot start.
 */
import fs from 'node:fs';
import path from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { WmClient } from '../../wm-ipc/client.js';
import { writeConfig, type RunningDaemon } from '../harness/daemon.js';
import { startDesktop, type DesktopSession } from '../harness/session.js';
import { pidsWithArg } from '../harness/inspect.js';
import { BARE_QEMU } from '../harness/qemu.js';
import type { Sandbox } from '../harness/sandbox.js';
import type { RunningWm } from '../harness/wm.js';

const quiet = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const t = suite('daemon policy on real sway');
let sandbox: Sandbox;
let wm: RunningWm;
let daemon: RunningDaemon;
let wmc: WmClient;
const vmDir = (name: string) => path.join(sandbox.runtimeDir, 'hiboss', name);
const stateOf = async (name: string) => (await daemon.client.status()).vms.find((vm) => vm.name === name)!;

let session: DesktopSession;
t.before.each(async () => {
  session = await startDesktop('sway', 'policy');
  ({ sandbox, wm, wmc } = session);
});
t.after.each(() => session?.end());

t('a workspace still visible on another output keeps its VM running', async () => {
  daemon = await session.startDaemon({
    // Not 2 or 3: a new output takes the next free number for its first workspace.
    vms: { left: { workspace: '7', qemu: BARE_QEMU }, right: { workspace: '8', qemu: BARE_QEMU } },
    policy: { pauseAfterMs: 150 },
  });
  await wmc.command('create_output');
  const outputs = (await wmc.getOutputs()).map((o) => o.name).sort();
  assert.equal(outputs, ['HEADLESS-1', 'HEADLESS-2']);
  await wmc.command('focus output HEADLESS-1; workspace 7');
  await daemon.client.untilState('left', (c) => c.state === 'running', 15_000);
  await wmc.command('focus output HEADLESS-2; workspace 8');
  await daemon.client.untilState('right', (c) => c.state === 'running', 15_000);
  // Well past pauseAfterMs: nothing may happen, and nothing signals "nothing happened".
  await quiet(600);
  const shown = await wmc.getWorkspaces();
  assert.equal(shown.filter((w) => w.visible).map((w) => [w.name, w.output]).sort(), [['7', 'HEADLESS-1'], ['8', 'HEADLESS-2']]);
  assert.is((await stateOf('left')).state, 'running');
  // The contrast: hide it on its own output and it is paused.
  const paused = daemon.client.waitForState('left', (c) => c.state === 'paused', 10_000);
  await wmc.command('focus output HEADLESS-1; workspace 5');
  await paused;
  assert.is((await stateOf('right')).state, 'running');
});

t('50 switches in one second: the last focus wins, one QEMU per VM, each started once', async () => {
  const names = ['a', 'b', 'c'];
  daemon = await session.startDaemon({
    vms: Object.fromEntries(names.map((name, i) => [name, { workspace: String(i + 1), qemu: BARE_QEMU }])),
    policy: { pauseAfterMs: 200 },
  });
  const order = Array.from({ length: 50 }, (_, i) => (i * 7) % 3); // a scrambled walk over the three
  for (const index of order) {
    await wmc.command(`workspace ${index + 1}`);
    await quiet(20); // 50 switches spread over one second, as a hurried user would
  }
  const last = names[order[order.length - 1]!]!;
  const others = names.filter((n) => n !== last);
  await Promise.all([
    daemon.client.untilState(last, (c) => c.state === 'running', 20_000),
    ...others.map((name) => daemon.client.untilState(name, (c) => c.state === 'paused', 20_000)),
  ]);
  for (const name of names) {
    assert.is(pidsWithArg(vmDir(name) + '/').length, 1, `${name}: exactly one QEMU`);
    const starts = daemon.log().split('\n').filter((line) => line.includes(`${name}: starting:`));
    assert.is(starts.length, 1, `${name} started once`);
  }
  assert.is((await daemon.client.status()).focusedVm, last);
});

t('a broken config edit is refused, the VM undisturbed; the fixed file is picked up without a restart', async () => {
  daemon = await session.startDaemon({ vms: { family: { workspace: '2', qemu: BARE_QEMU } } });
  await wmc.command('workspace 2');
  await daemon.client.untilState('family', (c) => c.state === 'running', 15_000);
  const pid = (await stateOf('family')).pid;

  const refused = new Promise<string[]>((resolve) => daemon.client.once('config', (c) => resolve(c.problems)));
  // As an editor saves: a new file renamed over the old one.
  const temp = path.join(path.dirname(daemon.configPath), '.config.json.swp');
  fs.writeFileSync(temp, JSON.stringify({ vms: { family: { workspace: '2', qemu: 'qemu-system-x86_64' } } }));
  fs.renameSync(temp, daemon.configPath);
  assert.equal(await refused, ['vms.family.qemu: Invalid input: expected array, received string']);
  await daemon.waitForLog(/config refused: vms\.family\.qemu/);
  const status = await daemon.client.status();
  assert.equal(status.configProblems, ['vms.family.qemu: Invalid input: expected array, received string']);
  assert.is(status.vms[0]!.state, 'running');
  assert.is(status.vms[0]!.pid, pid);

  const accepted = new Promise<boolean>((resolve) => daemon.client.once('config', (c) => resolve(c.accepted)));
  writeConfig(sandbox, { vms: { family: { workspace: '2', qemu: BARE_QEMU }, club: { workspace: '4', qemu: BARE_QEMU } } });
  assert.is(await accepted, true);
  const after = await daemon.client.status();
  assert.equal(after.vms.map((vm) => [vm.name, vm.state]), [['club', 'stopped'], ['family', 'running']]);
  assert.is(after.vms[1]!.pid, pid);
  assert.equal(after.configProblems, []);
});

t('a VM that cannot start: failed with the reason, and nothing else disturbed', async () => {
  daemon = await session.startDaemon({
    vms: { broken: { workspace: '2', qemu: ['/nonexistent/qemu-system-x86_64'], restart: 'never' }, fine: { workspace: '3', qemu: BARE_QEMU } },
  });
  await wmc.command('workspace 3');
  await daemon.client.untilState('fine', (c) => c.state === 'running', 15_000);
  const failed = daemon.client.waitForState('broken', (c) => c.state === 'failed', 15_000);
  await wmc.command('workspace 2');
  const { reason } = await failed;
  assert.match(reason, /could not start/);
  assert.match(reason, /ENOENT|nonexistent/);
  assert.match(reason, /restart is off/);
  assert.is((await stateOf('fine')).state, 'running');
});

t('argv that sets what hiboss sets is refused with its path', async () => {
  daemon = await session.startDaemon({
    vms: { sneaky: { workspace: '2', qemu: [...BARE_QEMU, '-qmp', 'tcp:0:4444'] } },
  });
  const status = await daemon.client.status();
  assert.equal(status.vms, []);
  assert.is(status.configProblems.length, 1);
  assert.match(status.configProblems[0]!, /^vms\.sneaky\.qemu\.\d+: -qmp is set by hiboss itself/);
});

t('Diagnostics: a switch that resumes a VM leaves one mark, its cont write call inside it', async () => {
  daemon = await session.startDaemon({
    vms: { a: { workspace: '1', qemu: BARE_QEMU }, b: { workspace: '2', qemu: BARE_QEMU } },
    policy: { pauseAfterMs: 100 },
  });
  await daemon.client.untilState('a', (c) => c.state === 'running', 15_000); // sway starts on workspace 1
  const bUp = daemon.client.waitForState('b', (c) => c.state === 'running', 15_000);
  // Listening before the switch: a may be paused (100 ms after it) before b is up.
  const aPaused = daemon.client.waitForState('a', (c) => c.state === 'paused', 15_000);
  await wmc.command('workspace 2');
  await bUp;
  await aPaused;
  const before = await daemon.client.diagnostics();
  assert.is(before.writeCallMs.length, before.eventToWriteMs.length);
  const aBack = daemon.client.waitForState('a', (c) => c.state === 'running', 10_000);
  await wmc.command('workspace 1');
  await aBack;
  const after = await daemon.client.diagnostics();
  assert.is(after.eventToWriteMs.length, before.eventToWriteMs.length + 1, 'one mark for the switch');
  assert.is(after.writeCallMs.length, after.eventToWriteMs.length);
  const interval = after.eventToWriteMs.at(-1)!;
  const call = after.writeCallMs.at(-1)!;
  assert.ok(call > 0 && call <= interval, `the cont call (${call} ms) is part of the interval (${interval} ms)`);
});

t.run();
