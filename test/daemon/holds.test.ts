/**
 * Hold files on a real file system: written atomically and privately, read back
 * bounded, and every kind of untrustworthy or stale file reported, never thrown.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { holdFilePath, holdToRestore, readHold, writeHold, HoldKeeper, type HoldFile } from '../../daemon/holds.js';
import type { PolicyEvent } from '../../daemon/policy/policy.js';

const t = suite('hold files');
let root: string;
let runDir: string;

t.before.each(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'holds-'));
  runDir = path.join(root, 'hiboss', 'acme');
  fs.mkdirSync(runDir, { recursive: true, mode: 0o700 });
  fs.chmodSync(path.join(root, 'hiboss'), 0o700);
});
t.after.each(() => fs.rmSync(root, { recursive: true, force: true }));

const PAUSED: HoldFile = { version: 1, hold: 'paused', since: 1_700_000_000_000, pid: 4242 };

t('written atomically, 0600, read back as written; null removes it', () => {
  writeHold({ runDir }, PAUSED);
  const file = holdFilePath({ runDir });
  assert.is(fs.statSync(file).mode & 0o777, 0o600);
  assert.equal(fs.readdirSync(runDir), ['hold.json'], 'no temp file left behind');
  assert.equal(readHold({ runDir }), { kind: 'hold', file: PAUSED });
  writeHold({ runDir }, { ...PAUSED, hold: 'stopped', pid: null });
  assert.equal(readHold({ runDir }), { kind: 'hold', file: { ...PAUSED, hold: 'stopped', pid: null } });
  writeHold({ runDir }, null);
  assert.equal(readHold({ runDir }), { kind: 'none' });
});

t('never written through a symlinked VM directory', () => {
  const elsewhere = path.join(root, 'elsewhere');
  fs.mkdirSync(elsewhere, { mode: 0o700 });
  const linked = path.join(root, 'hiboss', 'linked');
  fs.symlinkSync(elsewhere, linked);
  assert.throws(() => writeHold({ runDir: linked }, PAUSED), /not a private directory/);
  assert.equal(fs.readdirSync(elsewhere), []);
});

t('unusable files are described, not thrown: garbage, wrong shape, too large, a FIFO, a symlink', async () => {
  const file = holdFilePath({ runDir });
  fs.writeFileSync(file, '{"version": 1, "hold": "pau');
  assert.match(JSON.stringify(readHold({ runDir })), /is not JSON/);
  fs.writeFileSync(file, JSON.stringify({ ...PAUSED, hold: 'frozen' }));
  assert.match(JSON.stringify(readHold({ runDir })), /hold\.json: hold: /);
  fs.writeFileSync(file, JSON.stringify({ ...PAUSED, extra: 'x'.repeat(5000) }));
  assert.match(JSON.stringify(readHold({ runDir })), /larger than 4096 bytes/);
  fs.rmSync(file);
  await execa('mkfifo', [file]);
  assert.match(JSON.stringify(readHold({ runDir })), /FIFO/, 'a FIFO is refused without blocking');
  fs.rmSync(file);
  fs.symlinkSync('/etc/passwd', file);
  assert.match(JSON.stringify(readHold({ runDir })), /symbolic link/);
});

t('stale holds: a pause whose QEMU is gone or another process; a stop while QEMU runs', () => {
  const hold = (file: HoldFile) => ({ kind: 'hold' as const, file });
  assert.equal(holdToRestore(hold(PAUSED), 4242), { kind: 'restore', hold: 'paused', since: PAUSED.since });
  assert.match(JSON.stringify(holdToRestore(hold(PAUSED), null)), /stale hold \(paused by the user, but its QEMU is gone\)/);
  assert.match(JSON.stringify(holdToRestore(hold(PAUSED), 99)), /paused QEMU pid 4242, now pid 99 runs/);
  const stopped: HoldFile = { ...PAUSED, hold: 'stopped', pid: null };
  assert.equal(holdToRestore(hold(stopped), null), { kind: 'restore', hold: 'stopped', since: PAUSED.since });
  assert.match(JSON.stringify(holdToRestore(hold(stopped), 77)), /stopped by the user, yet QEMU pid 77 runs/);
  assert.equal(holdToRestore({ kind: 'none' }, 1), { kind: 'none' });
});

t('the keeper: writes with the QEMU pid, restores valid holds, reports and removes the rest', () => {
  const events: PolicyEvent[] = [];
  const roots = { runRoot: path.join(root, 'hiboss'), stateRoot: path.join(root, 'state') };
  const pids = new Map<string, number>([['acme', 4242]]);
  const keeper = new HoldKeeper({ roots, post: (e) => events.push(e), pidOf: (n) => pids.get(n) ?? null, now: () => 1234.5 });
  keeper.keep('acme', 'paused');
  assert.equal(readHold({ runDir }), { kind: 'hold', file: { version: 1, hold: 'paused', since: 1235, pid: 4242 } });
  keeper.keep('family', 'stopped'); // never started: its directory is made
  keeper.restore(['acme', 'family', 'ghost']);
  assert.equal(events, [
    { type: 'hold-restored', name: 'acme', hold: 'paused' },
    { type: 'hold-restored', name: 'family', hold: 'stopped' },
  ]);
  events.length = 0;
  fs.writeFileSync(holdFilePath({ runDir }), 'not json');
  keeper.restore(['acme']);
  assert.is(events.length, 1);
  assert.match(JSON.stringify(events[0]), /"level":"warn".*hold file: .*is not JSON.*ignored/);
  assert.not.ok(fs.existsSync(holdFilePath({ runDir })), 'the unusable file is removed');
});

t.run();
