/**
 * daemon/updates/updater.ts with the stand-in nix and real files (no QEMU):
 * automatic updates (due, low priority, recorded, not retrying a revision that
 * failed), judgements recorded in the store, rollback by hand refused clearly.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { Config } from '../../config/schema.js';
import { FlakeLauncher } from '../../daemon/launch/flake.js';
import type { PolicyEvent } from '../../daemon/policy/policy.js';
import { GenerationStore } from '../../daemon/updates/generations.js';
import { Updater } from '../../daemon/updates/updater.js';
import { guestManifest, isSandboxProbe, makeStandInNix, type StandInNix } from '../harness/stand-in-nix.js';
import { bound } from '../harness/bounds.js';

const t = suite('updater');
const REV_A = 'a'.repeat(40);
const REV_B = 'b'.repeat(40);

let root: string;
let nix: StandInNix;
let events: PolicyEvent[];
let updater: Updater;
let config: Config;

function makeUpdater(updates: Record<string, unknown>): void {
  config = Config.parse({ vms: { acme: { workspace: '3', flake: 'github:acme/net#acme', updates } } });
  updater = new Updater({
    roots: { runRoot: path.join(root, 'run'), stateRoot: path.join(root, 'state') },
    config: () => config,
    post: (event) => events.push(event),
    flakeLauncher: async () => new FlakeLauncher({ env: { PATH: `${nix.binDir}:${process.env.PATH}` } }),
  });
}

const store = () => new GenerationStore(path.join(root, 'state', 'acme'));

/** Resolves with the next update-progress event that ends a build. */
function buildDone(timeoutMs = 10_000): Promise<Extract<PolicyEvent, { type: 'update-progress' }>> {
  const start = events.length;
  return new Promise((resolve, reject) => {
    const deadline = Date.now() + bound(timeoutMs);
    const look = () => {
      const found = events.slice(start).find((e) => e.type === 'update-progress' && e.kind !== 'building');
      if (found) return resolve(found as Extract<PolicyEvent, { type: 'update-progress' }>);
      if (Date.now() > deadline) return reject(new Error(`no build outcome: ${JSON.stringify(events.slice(start))}`));
      setTimeout(look, 20);
    };
    look();
  });
}

t.before.each(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'hbupd-'));
  nix = makeStandInNix(path.join(root, 'nix'));
  nix.setManifest(guestManifest('acme'));
  events = [];
});
t.after.each(() => {
  updater?.close();
  fs.rmSync(root, { recursive: true, force: true });
});

t('an automatic update that is due builds at low priority, records when it looked, and tells what changed', async () => {
  makeUpdater({ auto: true, everyHours: 1 });
  nix.setRevision(REV_A);
  const done = buildDone();
  updater.schedule(); // never looked: due now
  const built = await done;
  assert.equal({ ...built, message: undefined }, { type: 'update-progress', name: 'acme', kind: 'built', message: undefined, auto: true, restartNow: false });
  assert.match(built.message, /^acme: update built: nothing → aaaaaaa \(generation 1; used at its next start\)$/);
  assert.is(nix.lastNice(), 19, 'nix ran at the lowest priority');
  assert.ok(nix.calls().some((argv) => argv[0] === 'flake' && argv.includes('--refresh')));
  const data = store().read();
  assert.ok(data.lastCheckAt !== null && Date.now() - data.lastCheckAt < 10_000);
  assert.is(data.selected, 1);
  // Looked just now: the next look is an hour away.
  const calls = nix.calls().length;
  updater.schedule();
  await new Promise((resolve) => setTimeout(resolve, 300));
  assert.is(nix.calls().length, calls, 'not again before everyHours');
});

t('the same revision again: up to date, nothing built, no new generation', async () => {
  makeUpdater({});
  nix.setRevision(REV_A);
  let done = buildDone();
  updater.update('acme', { now: false, auto: false });
  await done;
  done = buildDone();
  updater.update('acme', { now: false, auto: false });
  const again = await done;
  assert.is(again.kind, 'up-to-date');
  assert.match(again.message, /acme: already up to date \(aaaaaaa, generation 1\)/);
  assert.equal(store().read().generations.map((g) => g.number), [1]);
  assert.is(nix.calls().filter((argv) => argv[0] === 'build' && !isSandboxProbe(argv)).length, 1, 'decided on the locked revision: nothing built');
  assert.not.ok(fs.existsSync(path.join(root, 'state', 'acme', 'generations', '2')));
});

t('a judgement is recorded; an automatic update does not retry a revision that failed', async () => {
  makeUpdater({ auto: true, everyHours: 1 });
  nix.setRevision(REV_A);
  let done = buildDone();
  updater.update('acme', { now: false, auto: false });
  await done;
  updater.carryOut({ type: 'judged', name: 'acme', generation: 1, outcome: 'healthy', reason: 'the guest agent answered 3 s after boot', rollbackTo: null });
  nix.setRevision(REV_B);
  done = buildDone();
  updater.update('acme', { now: false, auto: false });
  await done;
  store().update((data) => void (data.window = { generation: 2, bootedAt: 1, deadline: 2, previous: 1 }));
  updater.carryOut({ type: 'judged', name: 'acme', generation: 2, outcome: 'failed', reason: 'kernel panic 4 s after boot', rollbackTo: 1 });
  const data = store().read();
  assert.equal(data.generations.map((g) => [g.number, g.outcome, g.failure]), [[1, 'healthy', null], [2, 'failed', 'kernel panic 4 s after boot']]);
  assert.is(data.selected, 1, 'the previous healthy generation selected');
  assert.is(data.window, null);

  done = buildDone();
  updater.update('acme', { now: false, auto: true });
  const skipped = await done;
  assert.is(skipped.kind, 'up-to-date');
  assert.match(skipped.message, /acme: bbbbbbb failed before \(kernel panic 4 s after boot\); waiting for a newer revision/);
  assert.equal(store().read().generations.map((g) => g.number), [1, 2]);
});

t('rollback by hand: a generation that is not kept, or none healthy before, is refused with what is kept', async () => {
  makeUpdater({});
  nix.setRevision(REV_A);
  const done = buildDone();
  updater.update('acme', { now: false, auto: false });
  await done;
  assert.throws(() => updater.rollback('acme', 9), /acme: no generation 9 \(kept: 1\)/);
  assert.throws(() => updater.rollback('acme', 0), /acme: no healthy generation before generation 1 \(kept: 1\)/);
  assert.match(updater.rollback('acme', 1), /acme: generation 1 \(aaaaaaa, new\) selected/);
  assert.throws(() => updater.generations('nope'), /no VM named "nope"/);

  // The config now names another flake: the old flake's generations are not booted for it.
  updater.carryOut({ type: 'judged', name: 'acme', generation: 1, outcome: 'healthy', reason: 'answered', rollbackTo: null });
  config = Config.parse({ vms: { acme: { workspace: '3', flake: 'github:acme/other#acme' } } });
  assert.throws(() => updater.rollback('acme', 1), /acme: generation 1 was built from github:acme\/net#acme; the config names github:acme\/other#acme/);
  assert.throws(() => updater.rollback('acme', 0), /acme: no healthy generation before generation 1/);
});

t('a store file that is not JSON, or not of its schema, is refused with its path', () => {
  makeUpdater({});
  fs.mkdirSync(store().dir, { recursive: true });
  fs.writeFileSync(store().file, '{"version": 1, "sel');
  assert.throws(() => updater.generations('acme'), /generations\.json: not JSON/);
  fs.rmSync(store().file);
  fs.writeFileSync(store().file, JSON.stringify({ version: 1, selected: 'x', generations: [], window: null, lastCheckAt: null }));
  assert.throws(() => updater.generations('acme'), /generations\.json: selected: /);
});

t.run();
