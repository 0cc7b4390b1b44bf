/** `hiboss status` as a table: every cell from a status, colours as ANSI only for a terminal. */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { ansiWanted, layoutTable, statusRows, visibleWidth } from '../../cli/status-table.js';
import { daemonStatus, vmFixture as vm } from '../harness/fake-daemon.js';
import type { VmBackupStatus } from '../../api/backup-schema.js';

const t = suite('status table');
const NOW = Date.parse('2026-11-26T12:00:00Z');
const MiB = 1024 * 1024;
const backup = (over: Partial<VmBackupStatus>): VmBackupStatus => ({
  last: null, unbacked: false, configured: true, everyHours: 24, target: '/b', targetFreeBytes: null, lastKind: null,
  lastBytes: null, running: null, nextDue: null, lastError: null, lastErrorAt: null, recent: [], ...over,
});

const status = daemonStatus(
  [
    vm('acme', { state: 'paused', reason: 'paused by the user', workspace: '3', pid: 4242, heldByUser: true, hold: 'paused', color: '#c62828', rssBytes: 97 * MiB, memoryBudgetMiB: 128, uptimeMs: 125_000, backup: backup({ last: '2026-11-26T09:00:00Z' }) }),
    vm('family', { state: 'stopped', reason: 'stopped by the user', workspace: '2', heldByUser: true, hold: 'stopped', backup: backup({}) }),
    vm('scratch', { state: 'running', reason: 'workspace 9 focused', workspace: '9', pid: 77, rssBytes: 50 * MiB, uptimeMs: 3_600_000 }),
  ],
  'scratch',
  '9',
);

t('one row per VM: colour, state, hold, workspace, pid, memory/budget, uptime, last backup, reason', () => {
  assert.equal(layoutTable(statusRows(status, { now: NOW, ansi: false })), [
    '   NAME     COLOUR  STATE      HOLD     WORKSPACE  PID   MEMORY      UPTIME  LAST BACKUP  REASON',
    '   acme     red     ‖ paused   paused   3          4242  97/128 MiB  2m05s   3 hours ago  paused by the user',
    '   family   -       ■ stopped  stopped  2          -     -           -       never        stopped by the user',
    '*  scratch  -       ▶ running  -        9          77    50 MiB      1h00m   -            workspace 9 focused',
  ]);
});

t('in a terminal the colour is a 24-bit swatch; the columns stay aligned', () => {
  const lines = layoutTable(statusRows(status, { now: NOW, ansi: true }));
  assert.ok(lines[1]!.includes('\x1b[48;2;198;40;40m  \x1b[0m red'), JSON.stringify(lines[1]));
  const plain = lines.map((line) => line.replace(/\x1b\[[0-9;]*m/g, ''));
  const stateColumn = plain.map((line, i) => (i === 0 ? line.indexOf('STATE') : line.search(/[‖■▶]/)));
  assert.is(new Set(stateColumn).size, 1, plain.join('\n'));
  assert.is(visibleWidth('\x1b[48;2;1;2;3m  \x1b[0m red'), 6);
});

t('colours only for a terminal, and never with NO_COLOR', () => {
  assert.ok(ansiWanted({ isTTY: true }, {}));
  assert.not.ok(ansiWanted({ isTTY: true }, { NO_COLOR: '1' }));
  assert.not.ok(ansiWanted({}, {}));
});

t.run();
