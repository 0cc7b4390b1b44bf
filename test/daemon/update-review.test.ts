/**
 * updates.review with the stand-in nix and real files (no QEMU): an update
 * whose flake inputs changed is held — nothing built — with the inputs' old →
 * new revisions and the dry run's estimate; approving builds exactly that
 * revision. Each run's exact sequence of update-progress kinds is asserted.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { heldMessage } from '../../api/held-update.js';
import { Config } from '../../config/schema.js';
import { FlakeLauncher } from '../../daemon/launch/flake.js';
import type { PolicyEvent } from '../../daemon/policy/policy.js';
import { GenerationStore } from '../../daemon/updates/generations.js';
import { Updater } from '../../daemon/updates/updater.js';
import { errorMessage } from '../../shared/error-message.js';
import { guestManifest, isSandboxProbe, makeStandInNix, type StandInNix } from '../harness/stand-in-nix.js';

const t = suite('update review');
const REV = { a: 'a'.repeat(40), b: 'b'.repeat(40), c: 'c'.repeat(40), d: 'd'.repeat(40) };
const NIXPKGS_OLD = '5e4fbfb6b3de1aa2872b76d49fafc942626e2add';
const NIXPKGS_NEW = '1234567890abcdef1234567890abcdef12345678';

let root: string;
let nix: StandInNix;
let kinds: string[];
let ended: ((event: Extract<PolicyEvent, { type: 'update-progress' }>) => void) | null;
let updater: Updater;
let config: Config;

function makeUpdater(review: boolean | undefined): void {
  config = Config.parse({ vms: { acme: { workspace: '3', flake: 'github:acme/net#acme', updates: review === undefined ? {} : { review } } } });
  updater = new Updater({
    roots: { runRoot: path.join(root, 'run'), stateRoot: path.join(root, 'state') },
    config: () => config,
    post: (event) => {
      if (event.type !== 'update-progress') return;
      kinds.push(event.kind);
      if (event.kind !== 'building') ended?.(event);
    },
    flakeLauncher: async () => new FlakeLauncher({ env: { PATH: `${nix.binDir}:${process.env.PATH}` } }),
  });
}

/** Runs one update (or approval) and resolves with the event that ends it and the kinds it went through. */
async function run(start: () => string): Promise<{ last: Extract<PolicyEvent, { type: 'update-progress' }>; kinds: string[] }> {
  kinds = [];
  const done = new Promise<Extract<PolicyEvent, { type: 'update-progress' }>>((resolve) => (ended = resolve));
  start();
  const last = await done;
  ended = null;
  return { last, kinds };
}

const update = () => run(() => updater.update('acme', { now: false, auto: false }));
const approve = () => run(() => updater.approve('acme', false));
const store = () => new GenerationStore(path.join(root, 'state', 'acme'));
const vmBuilds = () => nix.calls().filter((argv) => argv[0] === 'build' && !isSandboxProbe(argv) && !argv.includes('--dry-run')).length;

t.before.each(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'hbrev-'));
  nix = makeStandInNix(path.join(root, 'nix'));
  nix.setManifest(guestManifest('acme'));
  kinds = [];
  ended = null;
});
t.after.each(() => {
  updater?.close();
  fs.rmSync(root, { recursive: true, force: true });
});

t('review on: same inputs build as before; changed inputs are held, nothing built; approval builds exactly that revision', async () => {
  makeUpdater(true);
  nix.setRevision(REV.a);
  assert.equal((await update()).kinds, ['building', 'built'], 'the first build: reviewed when joining');
  assert.equal(store().read().generations[0]!.inputs, [
    { name: 'nixpkgs', source: 'github:NixOS/nixpkgs', revision: NIXPKGS_OLD },
    { name: 'hiboss', source: 'https://git.hiboss.example/hiboss', revision: '0c0ffee0c0ffee0c0ffee0c0ffee0c0ffee0c0ff' },
  ], 'a generation records its inputs');

  nix.setRevision(REV.b);
  assert.equal((await update()).kinds, ['building', 'built'], 'the flake changed, its inputs did not');
  assert.is(vmBuilds(), 2);

  // nixpkgs moves: held.
  nix.setRevision(REV.c);
  nix.setNixpkgs(NIXPKGS_NEW);
  const held = await update();
  assert.equal(held.kinds, ['building', 'held']);
  assert.is(vmBuilds(), 2, 'nothing built');
  const report = updater.generations('acme');
  assert.equal(report.generations.map((g) => g.number), [2, 1]);
  assert.ok(report.held);
  const kept = report.held!;
  assert.equal({ ...kept, heldAt: 0 }, {
    flake: 'github:acme/net#acme',
    revision: REV.c,
    lockedUrl: `github:acme/net?rev=${REV.c}`,
    lastModified: 1700000000,
    fromRevision: REV.b,
    changes: [{ name: 'nixpkgs', source: 'github:NixOS/nixpkgs', from: NIXPKGS_OLD, to: NIXPKGS_NEW }],
    inputs: [
      { name: 'nixpkgs', source: 'github:NixOS/nixpkgs', revision: NIXPKGS_NEW },
      { name: 'hiboss', source: 'https://git.hiboss.example/hiboss', revision: '0c0ffee0c0ffee0c0ffee0c0ffee0c0ffee0c0ff' },
    ],
    estimate: { builds: 2, buildNames: [`nixos-system-acme-${REV.c}`, 'hiboss-vm-acme'], fetches: 40, downloadBytes: Math.round(120.5 * 2 ** 20), unpackedBytes: Math.round(512.25 * 2 ** 20) },
    estimateProblem: null,
    heldAt: 0,
  });
  assert.is(
    held.last.message,
    'acme: update held for review: bbbbbbb → ccccccc; inputs changed: nixpkgs (github:NixOS/nixpkgs) 5e4fbfb → 1234567; 2 to build, 40 to fetch (120.5 MiB download, 512.3 MiB unpacked). Approve: hiboss update --approve acme',
  );
  assert.is(held.last.message, heldMessage('acme', kept));
  assert.equal(updater.summary('acme').updateHeld, 'ccccccc', 'the status shows it');
  const dryRun = nix.calls().find((argv) => argv.includes('--dry-run'))!;
  assert.ok(dryRun.includes(`github:acme/net?rev=${REV.c}`), 'the estimate is of the held revision');

  // Looked again while held: held again, still nothing built.
  assert.equal((await update()).kinds, ['building', 'held']);
  assert.is(vmBuilds(), 2);

  // The flake moves on after the review: approving builds what was reviewed, not the newest.
  nix.setRevision(REV.d);
  const metadataBefore = nix.calls().filter((argv) => argv[0] === 'flake').length;
  const approved = await approve();
  assert.equal(approved.kinds, ['building', 'built']);
  assert.match(approved.last.message, /^acme: update built: bbbbbbb → ccccccc \(generation 3; used at its next start\)$/);
  assert.is(nix.calls().filter((argv) => argv[0] === 'flake').length, metadataBefore, 'no look for a newer revision');
  const built = store().read();
  assert.is(built.selected, 3);
  assert.is(built.generations.find((g) => g.number === 3)!.revision, REV.c);
  assert.is(built.held, null);
  assert.equal(updater.summary('acme').updateHeld, null);

  const error = await Promise.resolve().then(() => updater.approve('acme', false)).then(() => undefined, (e: unknown) => e);
  assert.match(errorMessage(error), /^acme: no update is held for review$/);
});

t('review off (the default): changed inputs are built at once', async () => {
  makeUpdater(undefined);
  assert.is(config.vms.acme!.updates!.review, false);
  nix.setRevision(REV.a);
  assert.equal((await update()).kinds, ['building', 'built']);
  nix.setRevision(REV.b);
  nix.setNixpkgs(NIXPKGS_NEW);
  assert.equal((await update()).kinds, ['building', 'built']);
  assert.is(vmBuilds(), 2);
  assert.not.ok(nix.calls().some((argv) => argv.includes('--dry-run')));
});

t('a generation from before inputs were recorded: every input counts as changed; back at the running revision, the hold is dropped', async () => {
  makeUpdater(true);
  nix.setRevision(REV.a);
  await update();
  store().update((data) => void delete data.generations[0]!.inputs);
  nix.setRevision(REV.b);
  const held = await update();
  assert.equal(held.kinds, ['building', 'held']);
  assert.equal(updater.generations('acme').held!.changes.map((c) => [c.name, c.from]), [['nixpkgs', null], ['hiboss', null]]);
  assert.match(held.last.message, /nixpkgs \(github:NixOS\/nixpkgs\) \(none\) → 5e4fbfb/);
  // The admin reverts: up to date, nothing left to review.
  nix.setRevision(REV.a);
  assert.equal((await update()).kinds, ['building', 'up-to-date']);
  assert.is(updater.generations('acme').held, null);
});

t.run();
