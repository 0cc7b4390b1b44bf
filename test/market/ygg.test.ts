/**
 * nix://ygg-ADDRESS/PATH: with no route to the address, the message says what
 * is missing and nothing is written; in a network namespace of the test's own
 * where lo holds a Yggdrasil address (the kernel then routes 200::/7 directly,
 * as over Yggdrasil's interface), the flake is cloned from
 * git+http://[ADDRESS]/PATH, reviewed and joined; after a new commit there,
 * `hiboss update` — the daemon's Update, the daemon in that namespace too — clones
 * it again before the build (the stand-in nix builds).
 */
import fs from 'node:fs';
import path from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { readConfig } from '../../config/file.js';
import { start } from '../harness/processes.js';
import { guestManifest, makeStandInNix } from '../harness/stand-in-nix.js';
import { makeSandbox, type Sandbox } from '../harness/sandbox.js';
import { CONFIGS_ACME, REPO, commitFiles, git, HIBOSS, makeNetwork, writeMemberConfig } from '../harness/market.js';

const t = suite('market: nix://ygg-ADDRESS');
let sandbox: Sandbox;
let configFile: string;
let revision = '';
let served = '';
let source = '';

t.before(async () => {
  sandbox = makeSandbox('ygg');
  const acme = await makeNetwork(path.join(sandbox.root, 'src'), 'acme', CONFIGS_ACME);
  revision = acme.revision;
  source = acme.dir;
  served = path.join(sandbox.root, 'served', 'net.git');
  await git(sandbox.root, 'clone', '--quiet', '--bare', acme.dir, served);
  await git(served, 'update-server-info');
  configFile = path.join(sandbox.configHome, 'hiboss', 'config.json');
  writeMemberConfig(configFile, { fetchTimeoutMs: 20_000 }, { work: { workspace: '1', flake: 'github:me/work#work' } });
});

t.after(() => sandbox.remove());

async function inNamespace(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const proc = start('unshare', ['-n', '--', process.execPath, ...args], { env: sandbox.env, extendEnv: false, stdout: 'pipe', stderr: 'pipe' });
  const result = await proc.child;
  return { code: result.exitCode ?? -1, stdout: String(result.stdout), stderr: String(result.stderr) };
}

t('no route to the address: the message says yggdrasil is missing; nothing written', async () => {
  const before = fs.readFileSync(configFile, 'utf8');
  // A namespace with no address at all: the kernel has no route to 200::/7.
  const result = await inNamespace([HIBOSS, 'join', '--yes', 'nix://ygg-200:1234::1/net#acme']);
  assert.is(result.code, 4, result.stdout + result.stderr);
  assert.match(result.stderr, /hiboss join: cannot fetch git\+http:\/\/\[200:1234::1\]\/net: this host has no route to 200:1234::1 \(.*\): is yggdrasil running and peered\?/);
  assert.match(result.stderr, /Nothing was written\./);
  assert.is(fs.readFileSync(configFile, 'utf8'), before);
});

t('an address that is not Yggdrasil\'s is refused before any traffic', async () => {
  const result = await inNamespace([HIBOSS, 'join', '--yes', 'nix://ygg-2001:db8::1/net#acme']);
  assert.is(result.code, 4);
  assert.match(result.stderr, /2001:db8::1 is not a Yggdrasil address \(those are in 200::\/7\)/);
});

t('a local stand-in address: cloned over git+http, reviewed and joined', async () => {
  const helper = path.join(REPO, 'dist', 'test', 'harness', 'ygg-netns.js');
  const spec = { address: '200:1::1', served, urlPath: 'net', args: ['join', '--yes', '--workspace', '4', 'nix://ygg-200:1::1/net#acme'] };
  const outer = await inNamespace([helper, JSON.stringify(spec)]);
  assert.is(outer.code, 0, outer.stderr);
  const result = JSON.parse(outer.stdout) as { code: number; stdout: string; stderr: string; requests: string[] };
  assert.is(result.code, 0, result.stdout + result.stderr);
  assert.ok(result.requests.some((r) => r.startsWith('/net/info/refs')), `git asked for the refs: ${result.requests.join(' ')}`);
  assert.match(result.stdout, new RegExp(`cloned git\\+http://\\[200:1::1\\]/net over Yggdrasil at commit ${revision}`));
  assert.match(result.stdout, /network layer +yggdrasil/);
  const dir = path.join(sandbox.dataHome, 'hiboss', 'fetched', 'ygg', '200_1__1_net');
  assert.equal(readConfig(configFile).vms.acme, { workspace: '4', flake: `path:${dir}#acme`, restart: 'on-failure' });
  assert.ok(fs.existsSync(path.join(dir, 'configs.json')));
  assert.not.ok(fs.existsSync(path.join(dir, '.git')), 'the tracked files only, as a flake input holds them');
});

t('hiboss update: the daemon clones the link again at its newest commit before the build', async () => {
  const nix = makeStandInNix(path.join(sandbox.root, 'nix'));
  nix.setManifest(guestManifest('acme'));
  const daemonPath = `${nix.binDir}:${process.env.PATH}`;
  const newer = await commitFiles(source, { 'NOTES.md': 'the second revision\n' }, 'second revision');
  await git(source, 'push', '--quiet', served, 'HEAD:refs/heads/main');
  await git(served, 'update-server-info');
  const helper = path.join(REPO, 'dist', 'test', 'harness', 'ygg-netns.js');
  const outer = await inNamespace([helper, JSON.stringify({ address: '200:1::1', served, urlPath: 'net', args: ['update', 'acme'], daemonPath })]);
  assert.is(outer.code, 0, outer.stderr);
  const result = JSON.parse(outer.stdout) as { code: number; stdout: string; stderr: string };
  assert.match(result.stdout, new RegExp(`acme: nix://ygg-200:1::1/net#acme: cloned git\\+http://\\[200:1::1\\]/net over Yggdrasil at commit ${newer}`));
  assert.match(result.stdout, /acme: built generation 1: /, result.stdout + result.stderr);
  assert.is(result.code, 0, result.stdout + result.stderr);
  const dir = path.join(sandbox.dataHome, 'hiboss', 'fetched', 'ygg', '200_1__1_net');
  assert.is(fs.readFileSync(path.join(dir, 'NOTES.md'), 'utf8'), 'the second revision\n');
  assert.is(readConfig(configFile).vms.acme?.flake, `path:${dir}#acme`, 'the same copy, refreshed in place');
});

t.run();
