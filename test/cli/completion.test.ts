/**
 * `hiboss completion bash|zsh|fish`: the scripts loaded into real shells as a
 * user would, completing verbs and flags from the verb table, and VM names from
 * a daemon (the harness's fake org.hiboss.Daemon1 on a private bus) through the
 * real `hiboss status --json`.
 */
import { execa } from 'execa';
import fs from 'node:fs';
import path from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { verbs } from '../../cli/verbs/index.js';
import { bounded } from '../harness/bounded.js';
import { HIBOSS } from '../harness/daemon.js';
import { startSessionBus, type RunningBus } from '../harness/dbus.js';
import { daemonStatus, startFakeDaemon, vmFixture, type FakeDaemon } from '../harness/fake-daemon.js';
import { makeSandbox, type Sandbox } from '../harness/sandbox.js';

const suiteT = suite('hiboss completion');
const t = bounded(suiteT, 60_000);
let sandbox: Sandbox;
let bus: RunningBus;
let fake: FakeDaemon | undefined;
let env: NodeJS.ProcessEnv;

suiteT.before(async () => {
  sandbox = makeSandbox('compl');
  // `hiboss` on PATH, as installed: the scripts call it for VM names.
  const bin = path.join(sandbox.root, 'bin');
  fs.mkdirSync(bin);
  fs.symlinkSync(HIBOSS, path.join(bin, 'hiboss'));
  bus = await startSessionBus(sandbox.env);
  env = { ...sandbox.env, PATH: `${bin}:${path.dirname(process.execPath)}:/usr/bin:/bin`, DBUS_SESSION_BUS_ADDRESS: bus.address };
  fs.writeFileSync(path.join(sandbox.root, 'my-settings.json'), '{}');
  // Generated once; one test loads them the way the README says (source <(…)).
  for (const shell of ['bash', 'fish', 'zsh']) {
    const r = await execa(process.execPath, [HIBOSS, 'completion', shell], { env, extendEnv: false });
    fs.writeFileSync(path.join(sandbox.root, `completion.${shell}`), r.stdout);
  }
});
suiteT.after(() => {
  fake?.stop();
  bus?.stop();
  sandbox?.remove();
});

async function withDaemon<T>(body: () => Promise<T>): Promise<T> {
  fake = await startFakeDaemon(bus.address, daemonStatus([vmFixture('alpha'), vmFixture('beta')], 'alpha'));
  try {
    return await body();
  } finally {
    fake.stop();
    fake = undefined;
  }
}

async function sh(file: string, args: string[]) {
  const r = await execa(file, args, { env, extendEnv: false, reject: false, stdin: 'ignore', timeout: 30_000, cwd: sandbox.root });
  assert.not.ok(r.timedOut, `${file} timed out`);
  return { code: r.exitCode, stdout: String(r.stdout), stderr: String(r.stderr) };
}

// The script is fixed; the words come in as arguments, never pasted into it.
const BASH_FILE = 'source "$1"';
const BASH_README = 'source <(hiboss completion bash)';
const bashComplete = (load: string) => `${load} || exit 3
shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); COMPREPLY=()
_hiboss
printf '%s\\n' "\${COMPREPLY[@]}"`;

/** What bash offers for the last word of `line` ("hiboss vm p" or, for an empty word, "hiboss vm "). */
async function bash(line: string, load = BASH_FILE): Promise<string[]> {
  const words = line.split(' ');
  const script = path.join(sandbox.root, 'completion.bash');
  const r = await sh('bash', ['--norc', '--noprofile', '-c', bashComplete(load), 'bash', script, ...words]);
  assert.is(r.code, 0, r.stderr);
  assert.is(r.stderr, '');
  return r.stdout.split('\n').filter(Boolean).sort();
}

const FISH_FILE = 'source $argv[1]';
const FISH_README = 'hiboss completion fish | source';

async function fish(line: string, load = FISH_FILE): Promise<string[]> {
  const script = path.join(sandbox.root, 'completion.fish');
  const r = await sh('fish', ['--no-config', '-c', `${load}; or exit 3\ncomplete -C $argv[2]`, script, line]);
  assert.is(r.code, 0, r.stderr);
  assert.is(r.stderr, '');
  // "candidate<TAB>description"
  return r.stdout.split('\n').filter(Boolean).map((l) => l.split('\t')[0]!).sort();
}

const verbNames = Object.keys(verbs).sort();

for (const [shell, complete] of [['bash', bash], ['fish', fish]] as const) {
  t(`${shell}: verbs from the table, subcommands, flags, flag values`, async () => {
    assert.equal(await complete('hiboss '), verbNames);
    assert.equal(await complete('hiboss st'), ['start', 'status', 'stop']);
    assert.equal(await complete('hiboss vm p'), ['pause', 'prewarm']);
    assert.equal(await complete('hiboss vm --timeout 5 res'), ['restart', 'resume']);
    assert.equal(await complete('hiboss status --j'), ['--json']);
    assert.equal(await complete('hiboss bar --format i3b'), ['i3bar', 'i3blocks', 'i3blocks-json']);
    assert.equal(await complete('hiboss completion '), ['bash', 'fish', 'zsh']);
    assert.equal(await complete('hiboss wm '), ['events', 'workspaces']);
    assert.equal(await complete('hiboss daemon --config my-s'), ['my-settings.json']);
    // No daemon: no names, and no error on the terminal.
    assert.equal(await complete('hiboss vm pause '), []);
  });

  t(`${shell}: VM names from the running daemon`, async () => {
    await withDaemon(async () => {
      assert.equal(await complete('hiboss vm pause '), ['alpha', 'beta']);
      assert.equal(await complete('hiboss vm --no-wait resume b'), ['beta']);
      assert.equal(await complete('hiboss start '), ['alpha', 'beta']);
      assert.equal(await complete('hiboss toggle a'), ['alpha']);
      // Only where a VM name goes.
      assert.equal(await complete('hiboss vm pause alpha '), []);
      assert.equal(await complete('hiboss status '), []);
    });
  });
}

t('loaded as the README says: source <(hiboss completion bash), hiboss completion fish | source', async () => {
  assert.equal(await bash('hiboss vm p', BASH_README), ['pause', 'prewarm']);
  assert.equal(await fish('hiboss vm p', FISH_README), ['pause', 'prewarm']);
});

t('bash: every flag of every verb\'s synopsis completes after "--"', async () => {
  for (const [name, entry] of Object.entries(verbs)) {
    const synopsis = (await entry.load()).usage.split('\n\n', 1)[0]!;
    const flags = [...new Set(synopsis.match(/--[a-z][a-z-]*/g) ?? [])];
    const offered = await bash(`hiboss ${name} --`);
    for (const flag of [...flags, '--help']) assert.ok(offered.includes(flag), `hiboss ${name} ${flag}: offered ${offered.join(' ')}`);
  }
});

t('zsh: the script parses, and sourced after compinit it registers _hiboss for hiboss', async () => {
  const file = path.join(sandbox.root, '_hiboss');
  const r = await sh(process.execPath, [HIBOSS, 'completion', 'zsh']);
  assert.is(r.code, 0, r.stderr);
  fs.writeFileSync(file, r.stdout);
  const parse = await sh('zsh', ['-n', file]);
  assert.is(parse.code, 0, parse.stderr);
  const loaded = await sh('zsh', ['-f', '-c', 'autoload -U compinit && compinit -u -d "$2" && source "$1" && print -r -- $_comps[hiboss]', 'zsh', file, path.join(sandbox.root, 'zcompdump')]);
  assert.is(loaded.code, 0, loaded.stderr);
  assert.is(loaded.stdout, '_hiboss');
});

// zsh completes inside its line editor only; outside it, compadd and friends are stood in for
// by functions that print what they were given (zsh itself then filters by the typed prefix).
const ZSH_COMPLETE = `autoload -U compinit && compinit -u -d "$2" && source "$1" || exit 3
compadd() { while [[ $# -gt 0 && $1 != -- ]]; do shift; done; shift; print -rl -- "$@"; }
_files() { print -r -- '<files>'; }
_describe() { print -rl -- \${\${(P)4}%%:*}; }
shift 2; words=("$@"); CURRENT=$#; _hiboss`;

async function zsh(line: string): Promise<string[]> {
  const args = [path.join(sandbox.root, 'completion.zsh'), path.join(sandbox.root, 'zcompdump'), ...line.split(' ')];
  const r = await sh('zsh', ['-f', '-c', ZSH_COMPLETE, 'zsh', ...args]);
  assert.is(r.stderr, '');
  return r.stdout.split('\n').filter(Boolean).sort();
}

t('zsh: what _hiboss offers for each position', async () => {
  assert.equal(await zsh('hiboss '), verbNames);
  assert.equal(await zsh('hiboss vm --timeout 5 '), ['hibernate', 'pause', 'prewarm', 'restart', 'resume', 'start', 'stop']);
  assert.equal(await zsh('hiboss status --'), ['--help', '--json']);
  assert.equal(await zsh('hiboss bar --format '), ['i3bar', 'i3blocks', 'i3blocks-json', 'waybar']);
  assert.equal(await zsh('hiboss daemon --config '), ['<files>']);
  assert.equal(await zsh('hiboss vm pause '), []);
  await withDaemon(async () => {
    assert.equal(await zsh('hiboss vm pause '), ['alpha', 'beta']);
    assert.equal(await zsh('hiboss restart '), ['alpha', 'beta']);
  });
});

t('an unknown shell is a usage error', async () => {
  const r = await sh(process.execPath, [HIBOSS, 'completion', 'tcsh']);
  assert.is(r.code, 2);
  assert.match(r.stderr, /bash, zsh, fish/);
  assert.is(r.stdout, '');
});

suiteT.run();
