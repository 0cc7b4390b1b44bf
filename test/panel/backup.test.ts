/**
 * The panel's backups, on a headless blessed screen with a fake
 * daemon service on a private bus through the real DaemonClient: the detail's
 * backups section (not backed up, target and free space), B backs up now, R
 * asks first and restores, a BackupChanged signal refreshes the status.
 */
import fs from 'node:fs';
import path from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { DaemonClient } from '../../api/client.js';
import type { VmBackupStatus } from '../../api/backup-schema.js';
import { Panel } from '../../panel/app.js';
import { startSessionBus, type RunningBus } from '../harness/dbus.js';
import { makeSandbox, type Sandbox } from '../harness/sandbox.js';
import { daemonStatus, startFakeDaemon, vmFixture, type FakeDaemon } from '../harness/fake-daemon.js';
import { headlessScreen, type Headless } from './headless.js';

const t = suite('panel: backups');
let sandbox: Sandbox;
let bus: RunningBus;
let daemon: FakeDaemon;
let client: DaemonClient;
let head: Headless;
let panel: Panel;

function backup(over: Partial<VmBackupStatus> = {}): VmBackupStatus {
  return {
    last: new Date(Date.now() - 9 * 86_400_000).toISOString(), unbacked: true, configured: true, everyHours: 24, target: '/srv/backups',
    targetFreeBytes: 3 * 1024 ** 3, lastKind: 'full', lastBytes: 700 * 1024 * 1024, running: null, nextDue: null, lastError: null, lastErrorAt: null, recent: [],
    ...over,
  };
}

t.before.each(async () => {
  sandbox = makeSandbox('pbackup');
  bus = await startSessionBus(sandbox.env);
  daemon = await startFakeDaemon(bus.address, daemonStatus([vmFixture('scratch', { state: 'running', workspace: '9', backup: backup() })], 'scratch', '9'));
  client = await DaemonClient.connect({ busAddress: bus.address });
  head = headlessScreen(110, 40);
  const configFile = path.join(sandbox.configHome, 'hiboss', 'config.json');
  fs.mkdirSync(path.dirname(configFile), { recursive: true });
  panel = new Panel({ screen: head.screen, client, configFile, networksDir: path.join(sandbox.dataHome, 'networks'), onQuit: () => undefined });
  await panel.start();
});
t.after.each(() => {
  panel?.dispose();
  head?.destroy();
  client?.close();
  daemon?.stop();
  bus?.stop();
  sandbox?.remove();
});

t('the backups section; B backs up now; R asks, then restores the latest; BackupChanged refreshes', async () => {
  await head.waitFor(/backups {2}\(B back up now, R restore the latest\)/);
  assert.match(head.text(), /⚠ not backed up: last backup 9 days ago/);
  assert.match(head.text(), /target {4}\/srv\/backups, 3\.0 GiB free/);

  head.type('B');
  await head.waitFor(/scratch: backup started/);
  head.type('R');
  await head.waitFor(/Restore scratch from its latest backup\?/);
  head.type('n');
  await head.waitFor(/kept/);
  head.type('R');
  await head.waitFor(/Restore scratch from its latest backup\?/);
  head.type('y');
  await head.waitFor(/scratch: restore of the latest backup asked/);
  assert.equal(daemon.iface.calls.filter((c) => c[0] === 'Backup' || c[0] === 'Restore'), [['Backup', 'scratch'], ['Restore', 'scratch', '']]);

  daemon.iface.status.vms[0]!.backup = backup({ unbacked: false, last: new Date().toISOString(), lastKind: 'incremental', lastBytes: 12 * 1024 * 1024 });
  daemon.iface.BackupChanged('scratch', 'done', 'scratch: incremental backup done');
  await head.waitFor(/last backup just now \(incremental, 12\.0 MiB\)/);
  assert.not.match(head.text(), /not backed up/);
});

t("clients get BackupChanged's kinds as the schema's union: a kind the schema does not know is dropped, never passed on as a string", async () => {
  const kinds: string[] = [];
  const second = new Promise<void>((resolve) =>
    client.on('backup', ({ kind }) => {
      kinds.push(kind);
      if (kind === 'restored') resolve();
    }),
  );
  // Signals arrive in the order they were sent: the last one seen means the others were handled.
  daemon.iface.BackupChanged('scratch', 'exploded', 'not a kind');
  daemon.iface.BackupChanged('scratch', 'done', 'scratch: full backup done');
  daemon.iface.BackupChanged('scratch', 'restored', 'scratch: restored');
  await second;
  assert.equal(kinds, ['done', 'restored']);
});

t.run();
