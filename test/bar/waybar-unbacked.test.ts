/**
 * "Not backed up" drawn by the real waybar (issue #12): the module's JSON
 * carries `class: [state, "unbacked"]`, and waybar 0.9.17 applies both classes —
 * the shipped style.css's red line under the state-coloured pill shows (a
 * screenshot proves it), and goes once the VM is backed up.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { VmBackupStatus } from '../../api/backup-schema.js';
import { makeSandbox, type Sandbox } from '../harness/sandbox.js';
import { startSessionBus, type RunningBus } from '../harness/dbus.js';
import { start, track, type Started } from '../harness/processes.js';
import { startSway, type RunningWm } from '../harness/wm.js';
import { daemonStatus, startFakeDaemon, vmFixture as vm, type FakeDaemon } from '../harness/fake-daemon.js';
import { BAR_HEIGHT, countColour, descendants, findBox, hex, waitForScreen, writeWaybarFiles } from './waybar-util.js';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const HIBOSS = path.join(REPO, 'bin/hiboss');
const RUNNING = hex('#a6e3a1');
const UNBACKED_LINE = hex('#f38ba8');

const t = suite('real waybar: not backed up');
let sandbox: Sandbox;
let bus: RunningBus;
let wm: RunningWm;
let daemon: FakeDaemon | undefined;
let waybar: Started | undefined;

t.before.each(async () => {
  sandbox = makeSandbox('wbunbk');
  bus = await startSessionBus(sandbox.env);
  wm = await startSway(sandbox);
});
t.after.each(async () => {
  if (waybar) {
    for (const pid of descendants(waybar.pid)) track(pid);
    try {
      process.kill(waybar.pid, 'SIGINT');
    } catch {
      /* gone */
    }
    await Promise.race([waybar.exited, new Promise((resolve) => setTimeout(resolve, 3000).unref())]);
    await waybar.stop();
    waybar = undefined;
  }
  daemon?.stop();
  daemon = undefined;
  await wm?.stop();
  bus?.stop();
  sandbox?.remove();
});

function env(): NodeJS.ProcessEnv {
  return { ...wm.env, DBUS_SESSION_BUS_ADDRESS: bus.address, NO_AT_BRIDGE: '1', GTK_A11Y: 'none' };
}

function backup(unbacked: boolean): VmBackupStatus {
  return {
    last: new Date(Date.now() - (unbacked ? 9 : 0.1) * 86_400_000).toISOString(), unbacked, configured: true, everyHours: 24, target: '/srv/backups',
    targetFreeBytes: null, lastKind: 'full', lastBytes: 1, running: null, nextDue: null, lastError: null, lastErrorAt: null, recent: [],
  };
}

t('the red line under the pill while a VM is not backed up; gone once it is', async () => {
  daemon = await startFakeDaemon(bus.address, daemonStatus([vm('web', { state: 'running', workspace: '1', backup: backup(true) })], 'web', '1'));
  const { config, style } = writeWaybarFiles(sandbox.root, REPO, HIBOSS, ['custom/hiboss'], 'unbacked');
  const fd = fs.openSync(path.join(sandbox.root, 'waybar.log'), 'a') as 3;
  waybar = start('waybar', ['-c', config, '-s', style], { env: env(), extendEnv: false, stdout: fd, stderr: fd });
  fs.closeSync(fd);

  const flagged = await waitForScreen(env(), (img) => countColour(img, RUNNING, BAR_HEIGHT) > 200 && countColour(img, UNBACKED_LINE, BAR_HEIGHT) > 60, 'the green pill with the red line');
  const pill = findBox(flagged, RUNNING, BAR_HEIGHT)!;
  const line = findBox(flagged, UNBACKED_LINE, BAR_HEIGHT)!;
  assert.ok(line.top > pill.bottom - 4 && line.bottom - line.top <= 3, `a line along the pill's bottom: pill ${JSON.stringify(pill)}, line ${JSON.stringify(line)}`);
  assert.ok(line.right - line.left >= (pill.right - pill.left) / 2, 'as wide as the pill');

  daemon.iface.status.vms[0]!.backup = backup(false);
  daemon.iface.BackupChanged('web', 'done', 'web: full backup done');
  await waitForScreen(env(), (img) => countColour(img, RUNNING, BAR_HEIGHT) > 200 && countColour(img, UNBACKED_LINE, BAR_HEIGHT) === 0, 'the pill without the line');
});

t.run();
