/**
 * "Not backed up" in the bar and the panel, rendered exactly: the
 * waybar class `unbacked` (with the state's), the text mark, a tooltip line per
 * unbacked VM, the i3bar/i3blocks text; and the panel's backups section.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { VmBackupStatus } from '../../api/backup-schema.js';
import { renderI3blocksOnce, renderUpdate, type RenderContext } from '../../bar-module/render.js';
import { backupLines } from '../../panel/backup-view.js';
import { daemonStatus, vmFixture as vm } from '../harness/fake-daemon.js';

const DAY = 24 * 3_600_000;
const NOW = Date.parse('2025-03-10T12:00:00Z');
const ctx: RenderContext = { now: NOW, clock: (ms) => `T${ms}` };

function backup(over: Partial<VmBackupStatus> = {}): VmBackupStatus {
  return {
    last: new Date(NOW - 9 * DAY).toISOString(), unbacked: true, configured: true, everyHours: 24, target: '/srv/backups',
    targetFreeBytes: 5 * 1024 ** 3, lastKind: 'incremental', lastBytes: 12 * 1024 * 1024, running: null,
    nextDue: new Date(NOW - 8 * DAY).toISOString(), lastError: 'the target is full', lastErrorAt: new Date(NOW - 3_600_000).toISOString(), recent: [],
    ...over,
  };
}

const status = daemonStatus(
  [
    vm('web', { state: 'running', workspace: '2', backup: backup({ unbacked: false, last: new Date(NOW - 3_600_000).toISOString(), lastError: null }) }),
    vm('acme', { state: 'paused', workspace: '3', backup: backup() }),
  ],
  'web',
  '2',
);

const t = suite('bar and panel: not backed up');

t('waybar: class [state, unbacked], "⚠ backup" in the text, the unbacked VM named in the tooltip', () => {
  assert.is(
    renderUpdate('waybar', status, ctx),
    JSON.stringify({
      text: 'web ▶ ⚠ backup',
      alt: 'running',
      class: ['running', 'unbacked'],
      tooltip: 'hiboss — workspace 2\n› ▶ web: running · ws 2\n  ‖ acme: paused · ws 3\n⚠ acme: last backup 9 days ago',
    }),
  );
});

t('i3bar and i3blocks say it in the text; every VM backed up: nothing is added', () => {
  assert.match(renderUpdate('i3bar', status, ctx), /"full_text":"web ▶ ⚠ backup"/);
  assert.is(renderUpdate('i3blocks', status, ctx), 'web ▶ ⚠ backup');
  assert.is(renderI3blocksOnce(status, ctx).split('\n')[0], 'web ▶ ⚠ backup');
  const fine = daemonStatus([vm('web', { state: 'running', workspace: '2', backup: backup({ unbacked: false }) })], 'web', '2');
  const line = JSON.parse(renderUpdate('waybar', fine, ctx)) as { class: unknown; text: string; tooltip: string };
  assert.is(line.class, 'running');
  assert.is(line.text, 'web ▶');
  assert.not.match(line.tooltip, /backup/);
});

t('never backed up: "never backed up"', () => {
  const never = daemonStatus([vm('acme', { workspace: '3', backup: backup({ last: null, lastKind: null, lastBytes: null }) })], null, '1');
  const line = JSON.parse(renderUpdate('waybar', never, ctx)) as { class: unknown; tooltip: string };
  assert.equal(line.class, ['none', 'unbacked']);
  assert.match(line.tooltip, /⚠ acme: never backed up$/);
});

t('panel: the backups section — not backed up, target and free space, next due, the failure, the keys', () => {
  const lines = backupLines(vm('acme', { backup: backup({ recent: [{ at: new Date(NOW - 3_600_000).toISOString(), ok: false, kind: 'incremental', bytes: null, durationMs: 10, message: 'the target is full' }] }) }), NOW);
  assert.equal(lines, [
    '',
    '{bold}backups{/bold}  (B back up now, R restore the latest)',
    '{red-fg}⚠ not backed up: last backup 9 days ago{/red-fg}',
    'target    /srv/backups, 5.0 GiB free',
    'next      now (every 24 h)',
    '{red-fg}failed 1 hour ago: the target is full{/red-fg}',
    '{red-fg}✗{/red-fg} 1 hour ago     incremental the target is full',
  ]);
  assert.equal(backupLines(vm('plain'), NOW), [], 'no backup setting: no section');
});

t.run();
