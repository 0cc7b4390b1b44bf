/**
 * `hiboss` argument handling: usage errors are exit 2 with one line on stderr,
 * --help is exit 0 with the verb's usage, for every verb in cli/main.ts.
 * No WM, no bus: a usage error must be found before anything is contacted.
 */
import { execa } from 'execa';
import fs from 'node:fs';
import path from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { verbs } from '../../cli/verbs/index.js';
import { HIBOSS, REPO } from '../harness/daemon.js';
import { makeSandbox, type Sandbox } from '../harness/sandbox.js';

const t = suite('hiboss usage');
let sandbox: Sandbox;

t.before(() => {
  sandbox = makeSandbox('cli-use');
});
t.after(() => sandbox?.remove());

async function hiboss(args: string[], env: NodeJS.ProcessEnv = sandbox.env) {
  const r = await execa(process.execPath, [HIBOSS, ...args], { env, extendEnv: false, reject: false, stdin: 'ignore', timeout: 30_000 });
  assert.not.ok(r.timedOut, `hiboss ${args.join(' ')} timed out`);
  return { code: r.exitCode, stdout: String(r.stdout), stderr: String(r.stderr) };
}

const oneLine = (text: string) => text.trimEnd().split('\n').length === 1 && text.trim() !== '';

/** The verb table itself, so a verb added there is covered here. */
function verbsInSource(): string[] {
  return Object.keys(verbs);
}

t('no verb: exit 2 with the verb list; --help: exit 0', async () => {
  const none = await hiboss([]);
  assert.is(none.code, 2);
  assert.ok(none.stdout.startsWith('usage: hiboss VERB'), none.stdout);
  const help = await hiboss(['--help']);
  assert.is(help.code, 0);
  assert.ok(help.stdout.startsWith('usage: hiboss VERB'), help.stdout);
  // The list printed names exactly the verbs of the table.
  const listed = help.stdout.split('\n').slice(2).map((l) => l.trim().split(/\s+/)[0]).filter(Boolean);
  assert.equal(listed.sort(), verbsInSource().sort());
});

t('an unknown verb: exit 2, one line on stderr, nothing on stdout', async () => {
  const r = await hiboss(['nosuch']);
  assert.is(r.code, 2);
  assert.ok(oneLine(r.stderr), JSON.stringify(r.stderr));
  assert.match(r.stderr, /unknown verb "nosuch"/);
  assert.is(r.stdout, '');
  // A name that exists on Object.prototype is not a verb either.
  const proto = await hiboss(['constructor']);
  assert.is(proto.code, 2);
  assert.ok(oneLine(proto.stderr), proto.stderr);
});

t('--help on every verb: exit 0, output starting "usage:"', async () => {
  const verbs = verbsInSource();
  assert.ok(verbs.length >= 10, `only ${verbs.length} verbs found: ${verbs}`);
  for (const verb of ['daemon', 'status', 'vm', 'wm', 'qmp', 'bar', 'panel', 'demo']) assert.ok(verbs.includes(verb), verb);
  for (const verb of verbs) {
    const r = await hiboss([verb, '--help']);
    assert.is(r.code, 0, `hiboss ${verb} --help: exit ${r.code}, stderr ${r.stderr}`);
    assert.ok(r.stdout.startsWith('usage:'), `hiboss ${verb} --help printed ${JSON.stringify(r.stdout.slice(0, 80))}`);
    assert.is(r.stderr, '', `hiboss ${verb} --help stderr`);
  }
});

t('hiboss vm start bad/name: exit 2 before contacting any daemon', async () => {
  const r = await hiboss(['vm', 'start', 'bad/name']);
  assert.is(r.code, 2, r.stderr);
  assert.ok(oneLine(r.stderr), r.stderr);
  assert.match(r.stderr, /^hiboss vm: invalid VM name "bad\/name"/);
  const noAction = await hiboss(['vm', 'explode', 'web']);
  assert.is(noAction.code, 2);
  assert.ok(oneLine(noAction.stderr), noAction.stderr);
});

t('hiboss wm workspaces --bogus: exit 2, one line', async () => {
  const r = await hiboss(['wm', 'workspaces', '--bogus']);
  assert.is(r.code, 2, r.stderr);
  assert.ok(oneLine(r.stderr), r.stderr);
  assert.match(r.stderr, /unknown option --bogus/);
  const sub = await hiboss(['wm', 'nosuch']);
  assert.is(sub.code, 2);
  assert.ok(oneLine(sub.stderr), sub.stderr);
  const ev = await hiboss(['wm', 'events', 'nosuch']);
  assert.is(ev.code, 2);
  assert.match(ev.stderr, /unknown event type "nosuch"/);
});

t('qmp without SOCKET/COMMAND and wm-config with a bad modifier: exit 2', async () => {
  const r = await hiboss(['qmp', '/nonexistent.sock']);
  assert.is(r.code, 2);
  assert.ok(oneLine(r.stderr), r.stderr);
  const mod = await hiboss(['wm-config', '--mod', 'Mod4; exec rm']);
  assert.is(mod.code, 2);
  assert.ok(oneLine(mod.stderr), mod.stderr);
  const ok = await hiboss(['wm-config', '--mod', 'Mod4']);
  assert.is(ok.code, 0);
  assert.match(ok.stdout, /^bindsym --no-repeat Mod4\+p nop hiboss toggle$/m);
});

t('a session bus address that leads nowhere: exit 1 with the address and why, never a silent exit', async () => {
  const stale = `unix:path=${path.join(sandbox.root, 'no-such-bus')}`;
  const r = await hiboss(['status'], { ...sandbox.env, DBUS_SESSION_BUS_ADDRESS: stale });
  assert.is(r.code, 1);
  assert.is(r.stdout, '');
  assert.ok(r.stderr.includes(`cannot reach the session bus at ${stale}`) && r.stderr.includes('ENOENT'), r.stderr);
});

t.run();
