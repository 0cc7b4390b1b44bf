/**
 * What a build will cost, before it is built: the plan of `nix build
 * --dry-run` read into BuildEstimate (every wording Nix prints, hostile
 * lines bounded), and `hiboss join --print-review` showing it with the
 * stand-in nix of the update tests. The real nix's dry run is in
 * real-nix-build.test.ts.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { describeEstimate, parseDryRun } from '../../daemon/launch/dry-run.js';
import { writeFileAtomic } from '../../config/file.js';
import { start } from '../harness/processes.js';
import { makeSandbox } from '../harness/sandbox.js';
import { makeStandInNix } from '../harness/stand-in-nix.js';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const HIBOSS = path.join(REPO, 'bin', 'hiboss');
const t = suite('dry run');
const hash = (c: string) => c.repeat(32);

t('the plan in each wording nix prints', () => {
  assert.equal(
    parseDryRun(
      [
        'these 3 derivations will be built:',
        `  /nix/store/${hash('a')}-nixos-system-acme.drv`,
        `  /nix/store/${hash('b')}-closure-info.drv`,
        `  /nix/store/${hash('c')}-hiboss-vm-acme.drv`,
        'these 12 paths will be fetched (45.50 MiB download, 200.25 MiB unpacked):',
        `  /nix/store/${hash('d')}-linux-6.1`,
        '',
      ].join('\n'),
    ),
    { builds: 3, buildNames: ['nixos-system-acme', 'closure-info', 'hiboss-vm-acme'], fetches: 12, downloadBytes: Math.round(45.5 * 2 ** 20), unpackedBytes: Math.round(200.25 * 2 ** 20) },
  );
  const single = parseDryRun(`this derivation will be built:\n  /nix/store/${hash('a')}-hiboss-vm-acme.drv\nthis path will be fetched (0.01 MiB download, 0.03 MiB unpacked):\n  /nix/store/${hash('d')}-x\n`);
  assert.equal(single, { builds: 1, buildNames: ['hiboss-vm-acme'], fetches: 1, downloadBytes: Math.round(0.01 * 2 ** 20), unpackedBytes: Math.round(0.03 * 2 ** 20) });
  assert.is(describeEstimate(single as Exclude<typeof single, string>), '1 derivation to build (hiboss-vm-acme); 1 path to fetch: 0.0 MiB download, 0.0 MiB unpacked');
  // Newer Nix renders sizes with their own unit.
  assert.equal(parseDryRun('these 2 paths will be fetched (1.5 GiB download, 3.0 GiB unpacked):\n'), { builds: 0, buildNames: [], fetches: 2, downloadBytes: 1.5 * 2 ** 30, unpackedBytes: 3 * 2 ** 30 });
  // Everything there already: nothing printed.
  const none = parseDryRun('');
  assert.equal(none, { builds: 0, buildNames: [], fetches: 0, downloadBytes: 0, unpackedBytes: 0 });
  assert.is(describeEstimate(none as Exclude<typeof none, string>), 'nothing to build; nothing to fetch');
});

t('hostile or huge plans: names bounded and checked, the count kept, too much text refused', () => {
  const many = ['these 500 derivations will be built:', ...Array.from({ length: 500 }, (_, i) => `  /nix/store/${hash('a')}-p${i}.drv`)].join('\n');
  const estimate = parseDryRun(many);
  assert.ok(typeof estimate !== 'string');
  if (typeof estimate === 'string') return;
  assert.is(estimate.builds, 500);
  assert.equal(estimate.buildNames, ['p0', 'p1', 'p2', 'p3', 'p4', 'p5', 'p6', 'p7']);
  assert.match(describeEstimate(estimate), /^500 derivations to build \(p0, p1, p2, p3, p4, p5, p6, p7, …\); nothing to fetch$/);
  // A name with an escape sequence is no store path: not kept.
  const evil = parseDryRun(`this derivation will be built:\n  /nix/store/${hash('a')}-x\x1b[2J.drv\n`);
  assert.equal(evil, { builds: 1, buildNames: [], fetches: 0, downloadBytes: 0, unpackedBytes: 0 });
  assert.match(String(parseDryRun('x'.repeat(1024 * 1024 + 1))), /printed more than 1048576 bytes/);
  assert.match(String(parseDryRun('these 99999999 derivations will be built:')), /unexpected plan line "these 99999999 derivations will be built:"/);
  assert.match(String(parseDryRun('these 2 paths will be fetched (lots of MiB):')), /unexpected plan line/);
});

t('hiboss join --print-review shows the inputs at their locked revisions and the build cost, nothing built', async () => {
  const sandbox = makeSandbox('dryrun');
  const nix = makeStandInNix(path.join(sandbox.root, 'nix'));
  try {
    nix.setRevision('9e0d4c2aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa');
    const configFile = path.join(sandbox.configHome, 'hiboss', 'config.json');
    writeFileAtomic(configFile, JSON.stringify({ vms: {} }));
    const env = { ...sandbox.env, PATH: `${nix.binDir}:${process.env.PATH}` };
    const proc = start(process.execPath, [HIBOSS, 'join', '--print-review', '--config', configFile, 'github:acme/net#acme'], { env, extendEnv: false, stdout: 'pipe', stderr: 'pipe' });
    const result = await proc.child;
    const stdout = String(result.stdout);
    assert.is(result.exitCode, 0, String(result.stderr));
    assert.match(stdout, /^hiboss join: review \(the flake was fetched to read its lock file; nothing has been built\)\n/);
    assert.ok(stdout.includes('  inputs         "nixpkgs" "github:NixOS/nixpkgs" @ "5e4fbfb6b3de1aa2872b76d49fafc942626e2add"\n'), stdout);
    assert.ok(
      stdout.includes('  build cost     2 derivations to build (nixos-system-acme-9e0d4c2aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa, hiboss-vm-acme); 40 paths to fetch: 120.5 MiB download, 512.3 MiB unpacked\n'),
      stdout,
    );
    const calls = nix.calls();
    assert.equal(calls.map((argv) => argv.includes('--dry-run') ? 'dry-run' : `${argv[0]} ${argv[1]}`), ['flake metadata', 'dry-run']);
    assert.ok(calls[1]!.includes('github:acme/net?rev=9e0d4c2aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa'), 'the dry run of the locked revision the review shows');
    assert.not.ok(fs.existsSync(path.join(nix.control, 'counter')), 'nothing built');

    // A dry run that fails: the review says why, and can still be read.
    nix.setDryRun(null);
    fs.writeFileSync(path.join(nix.control, 'dry-run'), 'these 99999999 derivations will be built:\n');
    const odd = await start(process.execPath, [HIBOSS, 'join', '--print-review', '--config', configFile, 'github:acme/net#acme'], { env, extendEnv: false, stdout: 'pipe', stderr: 'pipe' }).child;
    assert.match(String(odd.stdout), /\n {2}build cost {5}unknown: nix build --dry-run: unexpected plan line "these 99999999 derivations will be built:"\n/);
  } finally {
    sandbox.remove();
  }
});

t.run();
