/**
 * The pure policy: backups. Driven by ./driver.ts (fake clock: the
 * policy's own clock decides when a backup is due and when a VM becomes
 * "unbacked" — no test sleeps). Exact action sequences.
 */
import * as assert from 'uvu/assert';
import { decide, type Action, type PolicyEvent } from '../../../daemon/policy/policy.js';
import { chooseBackupKind, type KindFacts } from '../../../daemon/policy/backup.js';
import { T0, vm, newSuite, Driver, clock } from './driver.js';

const backups = newSuite('policy: backups');
const HOUR = 3_600_000;
const FIRST = 300_000; // firstBackupAfterMs's default

const ACME = { ...vm('acme', '3'), backup: { everyHours: 24, target: '/srv/backups' } };
const FAMILY = { ...vm('family', '4'), backup: { everyHours: 24, target: '/srv/backups' } };

/** Backup actions and notifications, one line each; log lines and VM state changes apart. */
function line(action: Action): string | null {
  switch (action.type) {
    case 'backup-run':
      return `backup-run ${action.name} ${action.live ? 'live' : 'offline'}`;
    case 'backup-cancel':
      return `backup-cancel ${action.name}: ${action.reason}`;
    case 'backup-restore':
      return `backup-restore ${action.name} ${action.id ?? 'latest'}`;
    case 'backup-changed':
      return `backup-changed ${action.kind}: ${action.message}`;
    case 'notify':
      return `notify ${action.summary}: ${action.body}`;
    case 'start':
    case 'powerdown':
      return `${action.type} ${action.name}`;
    default:
      return null;
  }
}

/** The backup lines since the last take, each with its time in ms since T0. */
let cursor = 0;
function take(d: Driver): string[] {
  const entries = d.log.slice(cursor);
  cursor = d.log.length;
  const lines: string[] = [];
  for (const entry of entries) {
    const text = line(entry.action);
    if (text !== null) lines.push(`${entry.at} ${text}`);
  }
  return lines;
}
backups.before.each(() => {
  cursor = 0;
});

function known(d: Driver, name: string, over: Partial<Extract<PolicyEvent, { type: 'backup-known' }>> = {}): void {
  d.send({ type: 'backup-known', name, configuredSince: T0, lastGood: null, lastFailure: null, ...over });
}

/** The answer a request gets (the driver keeps answers of user verbs only). */
function answer(d: Driver, event: PolicyEvent) {
  const { answer: reply } = decide(d.state, event, Date.now());
  d.send(event);
  return reply;
}

backups('the first backup soon after the daemon first sees the setting, then every everyHours; offline while stopped, live while up', () => {
  const d = new Driver([ACME]);
  d.startUp('1');
  known(d, 'acme');
  assert.is(d.wakeAt, T0 + FIRST);
  clock.tick(FIRST - 1);
  assert.equal(take(d), []);
  clock.tick(1);
  assert.equal(take(d), [`${FIRST} backup-run acme offline`, `${FIRST} backup-changed started: acme: backup started`]);
  clock.tick(4000);
  d.send({ type: 'backup-done', name: 'acme', point: { id: '20250101T000500000Z', at: T0 + FIRST, kind: 'full', bytes: 1000 }, message: 'full backup done' });
  assert.equal(take(d), [`${FIRST + 4000} backup-changed done: full backup done`]);
  assert.is(d.wakeAt, T0 + FIRST + 24 * HOUR, 'the next one a day after the copy');

  d.switchTo('3');
  d.observe('acme', 'running');
  take(d);
  clock.tick(T0 + FIRST + 24 * HOUR - Date.now());
  assert.equal(take(d), [`${FIRST + 24 * HOUR} backup-run acme live`, `${FIRST + 24 * HOUR} backup-changed started: acme: backup started`]);
});

backups('never twice at once; one job at a time for all VMs; a request is queued behind another VM\'s job', () => {
  const d = new Driver([ACME, FAMILY]);
  d.startUp('1');
  known(d, 'acme');
  known(d, 'family');
  clock.tick(FIRST);
  assert.equal(take(d), [`${FIRST} backup-run acme offline`, `${FIRST} backup-changed started: acme: backup started`], 'family waits');
  assert.equal(answer(d, { type: 'backup-request', name: 'acme' }), { ok: false, kind: 'InvalidArgument', message: `a backup of acme is already running (since ${new Date(T0 + FIRST).toISOString()}): one at a time` });
  assert.equal(answer(d, { type: 'backup-request', name: 'family' }), { ok: true, message: 'family: backup queued (a backup of acme runs; one at a time)' });
  assert.equal(take(d), []);
  d.send({ type: 'backup-done', name: 'acme', point: { id: '20250101T000500000Z', at: T0 + FIRST, kind: 'full', bytes: 1 }, message: 'done' });
  assert.equal(take(d), [`${FIRST} backup-changed done: done`, `${FIRST} backup-run family offline`, `${FIRST} backup-changed started: family: backup started`]);
  assert.equal(answer(d, { type: 'backup-request', name: 'nope' }), { ok: false, kind: 'NoSuchVm', message: 'no VM named "nope"' });
});

backups('a VM without a backup setting: run and restore are refused with what to add', () => {
  const d = new Driver([vm('plain', '2')]);
  d.startUp('1');
  assert.equal(answer(d, { type: 'backup-request', name: 'plain' }), { ok: false, kind: 'InvalidArgument', message: 'plain has no backup setting (add "backup": { "target": … } to it in config.json)' });
  assert.equal(answer(d, { type: 'restore-request', name: 'plain', id: null }), { ok: false, kind: 'InvalidArgument', message: 'plain has no backup setting: nothing to restore from' });
});

backups('unbacked after everyHours × 1.25 by the policy clock (failures meanwhile); notified then, and once a day after', () => {
  const spec = { ...vm('acme', '3'), backup: { everyHours: 8, target: '/srv/backups' } };
  const d = new Driver([spec]);
  d.bootFocused('3');
  known(d, 'acme', { lastGood: { id: '20250101T000000000Z', at: T0, kind: 'full', bytes: 1 } });
  take(d);
  clock.tick(8 * HOUR);
  assert.equal(take(d), [`${8 * HOUR} backup-run acme live`, `${8 * HOUR} backup-changed started: acme: backup started`]);
  clock.tick(1000);
  d.send({ type: 'backup-failed', name: 'acme', reason: 'the target is full' });
  assert.equal(take(d), [
    `${8 * HOUR + 1000} backup-changed failed: acme: backup failed: the target is full`,
    `${8 * HOUR + 1000} notify hiboss: backup of acme failed: the target is full`,
  ]);
  assert.is(d.wakeAt, T0 + 9 * HOUR + 1000, 'retried after a quarter of the period (an hour at most)');
  clock.tick(HOUR);
  assert.equal(take(d), [`${9 * HOUR + 1000} backup-run acme live`, `${9 * HOUR + 1000} backup-changed started: acme: backup started`]);
  d.send({ type: 'backup-failed', name: 'acme', reason: 'the target is full' });
  take(d);
  assert.is(d.wakeAt, T0 + 10 * HOUR, 'the deadline: 8 h × 1.25');
  clock.tick(T0 + 10 * HOUR - 1 - Date.now());
  assert.equal(take(d), []);
  assert.is(d.state.backups.vms.acme!.unbacked, false);
  clock.tick(1);
  assert.equal(take(d), [
    `${10 * HOUR} backup-changed unbacked: acme: last backup 10 hours ago`,
    `${10 * HOUR} notify hiboss: acme is not backed up: acme: last backup 10 hours ago`,
  ]);
  assert.is(d.state.backups.vms.acme!.unbacked, true);
  // Failing on: no second notification the same day …
  for (let i = 0; i < 23; i++) {
    clock.tick(HOUR);
    d.send({ type: 'backup-failed', name: 'acme', reason: 'still full' });
  }
  assert.ok(!take(d).some((l) => l.includes('is not backed up')), 'once a day');
  clock.tick(T0 + 34 * HOUR - Date.now());
  assert.ok(take(d).includes(`${34 * HOUR} notify hiboss: acme is not backed up: acme: last backup 34 hours ago`), 'a day later');
  // … and a good backup ends it.
  d.send({ type: 'backup-done', name: 'acme', point: { id: '20250102T100000000Z', at: Date.now(), kind: 'incremental', bytes: 1 }, message: 'done' });
  assert.is(d.state.backups.vms.acme!.unbacked, false);
  assert.ok(take(d).includes(`${34 * HOUR} backup-changed done: done`));
});

backups('never backed up: unbacked once configured longer than everyHours', () => {
  const spec = { ...vm('acme', '3'), backup: { everyHours: 2, target: '/srv/backups' } };
  const d = new Driver([spec]);
  d.bootFocused('3');
  known(d, 'acme', { configuredSince: T0 - HOUR });
  take(d);
  clock.tick(FIRST);
  d.send({ type: 'backup-failed', name: 'acme', reason: 'no space' });
  clock.tick(30 * 60_000); // retried after a quarter of 2 h
  d.send({ type: 'backup-failed', name: 'acme', reason: 'no space' });
  take(d);
  clock.tick(T0 + HOUR - Date.now());
  assert.equal(take(d), [
    `${HOUR} backup-changed unbacked: acme: never backed up (configured 2 hours ago)`,
    `${HOUR} notify hiboss: acme is not backed up: acme: never backed up (configured 2 hours ago)`,
  ]);
});

backups('an offline backup holds the disk: the VM that must start cancels it, and starts once it is let go', () => {
  const d = new Driver([ACME]);
  d.startUp('1');
  known(d, 'acme');
  clock.tick(FIRST);
  assert.equal(take(d)[0], `${FIRST} backup-run acme offline`);
  d.switchTo('3');
  assert.equal(take(d), [`${FIRST} backup-cancel acme: the VM is starting`], 'no start while the disk is held');
  assert.is(d.vm('acme').state, 'stopped');
  d.switchTo('1');
  d.switchTo('3');
  assert.equal(take(d), [], 'cancelled once');
  d.send({ type: 'backup-failed', name: 'acme', reason: 'cancelled: the VM is starting', cancelled: true });
  assert.equal(take(d), [`${FIRST} backup-changed failed: acme: backup failed: cancelled: the VM is starting`, `${FIRST} start acme`]);
  d.observe('acme', 'running');
  clock.tick(60_000);
  assert.equal(take(d), [`${FIRST + 60_000} backup-run acme live`, `${FIRST + 60_000} backup-changed started: acme: backup started`], 'again a minute later, live');
});

backups('a hibernated VM is backed up from its disk file; bringing it back (focus) cancels that backup first', () => {
  const d = new Driver([ACME]);
  d.startUp('1');
  d.send({ type: 'observed', name: 'acme', state: 'hibernated', reason: 'found on disk', image: { bytes: 1, savedAt: T0 } });
  known(d, 'acme');
  take(d);
  clock.tick(FIRST);
  assert.equal(take(d), [`${FIRST} backup-run acme offline`, `${FIRST} backup-changed started: acme: backup started`]);
  d.switchTo('3');
  assert.equal(take(d), [`${FIRST} backup-cancel acme: the VM is starting`]);
  assert.equal(d.opsFor('acme').split(' ').filter((op) => op === 'restore'), [], 'its memory is not restored while the disk is held');
  d.send({ type: 'backup-failed', name: 'acme', reason: 'cancelled: the VM is starting', cancelled: true });
  assert.ok(d.opsFor('acme').endsWith('restore'), 'then restored from its image');
});

backups('restore: the VM is powered down, restored, started again; a backup meanwhile is refused', () => {
  const d = new Driver([ACME]);
  d.bootFocused('3');
  known(d, 'acme', { lastGood: { id: '20250101T000000000Z', at: T0, kind: 'full', bytes: 1 } });
  take(d);
  const reply = answer(d, { type: 'restore-request', name: 'acme', id: '20250101T000000000Z' });
  assert.equal(reply, { ok: true, message: 'acme: restore of 20250101T000000000Z: the VM is stopped (ACPI powerdown), its current disk kept aside, the backup written in its place, then it starts again' });
  assert.equal(take(d), ['0 backup-changed restoring: acme: restore of 20250101T000000000Z asked', '0 powerdown acme']);
  assert.equal(answer(d, { type: 'backup-request', name: 'acme' }), { ok: false, kind: 'InvalidArgument', message: 'acme is being restored: back it up once that is done' });
  assert.equal(answer(d, { type: 'restore-request', name: 'acme', id: null }), { ok: false, kind: 'InvalidArgument', message: 'acme is already being restored' });
  clock.tick(2000);
  d.observe('acme', 'stopped', 'the guest shut down');
  assert.equal(take(d), ['2000 backup-restore acme 20250101T000000000Z']);
  d.user('start', 'acme');
  assert.equal(take(d), [], 'not while its disk is written');
  clock.tick(3000);
  d.send({ type: 'restore-done', name: 'acme', id: '20250101T000000000Z', message: 'acme: restored 20250101T000000000Z' });
  assert.equal(take(d), ['5000 backup-changed restored: acme: restored 20250101T000000000Z', '5000 start acme']);
});

backups('a failed restore leaves the disk and starts the VM again (it was up)', () => {
  const d = new Driver([ACME]);
  d.bootFocused('3');
  known(d, 'acme');
  d.send({ type: 'restore-request', name: 'acme', id: null });
  d.observe('acme', 'stopped', 'the guest shut down');
  take(d);
  d.send({ type: 'restore-failed', name: 'acme', reason: 'no backup of acme in /srv/backups/acme' });
  assert.equal(take(d), [
    '0 backup-changed restore-failed: acme: restore failed: no backup of acme in /srv/backups/acme',
    '0 notify hiboss: restore of acme failed: no backup of acme in /srv/backups/acme (the current disk is in place)',
    '0 start acme',
  ]);
});

backups('full or incremental: only when every fact proves the incremental correct, and always why', () => {
  const disk = { file: '/d/acme.qcow2', format: 'qcow2', virtualSize: 1 << 30 };
  const facts: KindFacts = { disk, bitmap: { state: 'ok', dirtyBytes: 4096 }, last: { id: '20250101T000000000Z', disk }, bitmapPoint: '20250101T000000000Z' };
  assert.equal(chooseBackupKind(facts), { kind: 'incremental', why: 'incremental: 4096 bytes changed since 20250101T000000000Z' });
  const why = (over: Partial<KindFacts>) => chooseBackupKind({ ...facts, ...over }).why;
  assert.is(why({ last: null }), 'full: no earlier backup on this target');
  assert.is(why({ bitmap: { state: 'absent' } }), 'full: the disk has no change bitmap (replaced by hand, or restored)');
  assert.is(why({ bitmap: { state: 'inconsistent' } }), 'full: the change bitmap was left inconsistent (QEMU did not close the disk cleanly)');
  assert.is(why({ bitmapPoint: null }), 'full: the change bitmap does not start at the last backup 20250101T000000000Z');
  assert.is(why({ disk: { ...disk, format: 'raw' } }), 'full: the disk is raw, which cannot keep a change bitmap (every backup is full)');
  assert.is(why({ last: { id: '20250101T000000000Z', disk: { ...disk, format: 'raw' } } }), 'full: the disk changed format (was raw)');
  assert.is(why({ last: { id: '20250101T000000000Z', disk: { ...disk, file: '/old.qcow2' } } }), 'full: the disk changed (the last backup was of /old.qcow2)');
  assert.is(why({ last: { id: '20250101T000000000Z', disk: { ...disk, virtualSize: 1 } } }), `full: the disk was resized (1 → ${1 << 30} bytes)`);
});

backups.run();
