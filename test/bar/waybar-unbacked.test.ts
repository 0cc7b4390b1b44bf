/**
 * "Not backed up" drawn by the real waybar: the module's JSON
 * carries `class: [state, "unbacked"]`, and waybar 0.9.17 applies both classes —
 * the shipped style.css's red line under the state-coloured pill shows (a
 * screenshot proves it), and goes once the VM is backed up.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { VmBackupStatus } from '../../api/backup-schema.js';
import { daemonStatus, vmFixture as vm } from '../harness/fake-daemon.js';
import { BAR_HEIGHT, countColour, findBox, hex, waitForScreen, waybarDesktopPerTest } from './waybar-util.js';

const RUNNING = hex('#a6e3a1');
const UNBACKED_LINE = hex('#f38ba8');

const t = suite('real waybar: not backed up');
const desktop = waybarDesktopPerTest(t, 'wbunbk');
const env = desktop.env;

function backup(unbacked: boolean): VmBackupStatus {
  return {
    last: new Date(Date.now() - (unbacked ? 9 : 0.1) * 86_400_000).toISOString(), unbacked, configured: true, everyHours: 24, target: '/srv/backups',
    targetFreeBytes: null, lastKind: 'full', lastBytes: 1, running: null, nextDue: null, lastError: null, lastErrorAt: null, recent: [],
  };
}

t('the red line under the pill while a VM is not backed up; gone once it is', async () => {
  const daemon = await desktop.startFakeDaemon(daemonStatus([vm('web', { state: 'running', workspace: '1', backup: backup(true) })], 'web', '1'));
  desktop.startWaybar(['custom/hiboss'], 'unbacked');

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
