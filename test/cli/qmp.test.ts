/**
 * `hiboss qmp SOCKET COMMAND [ARGS_JSON]` against a real QEMU (bare q35).
 */
import { execa } from 'execa';
import path from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { HIBOSS } from '../harness/daemon.js';
import { startQemu, type RunningQemu } from '../harness/qemu.js';
import { makeSandbox, type Sandbox } from '../harness/sandbox.js';

const t = suite('hiboss qmp on real QEMU');
let sandbox: Sandbox;
let qemu: RunningQemu | undefined;

t.before(async () => {
  sandbox = makeSandbox('cli-qmp');
  qemu = await startQemu(path.join(sandbox.runtimeDir, 'vm'));
});
t.after(async () => {
  await qemu?.process.stop();
  sandbox?.remove();
});

async function hiboss(args: string[]) {
  const r = await execa(process.execPath, [HIBOSS, ...args], { env: sandbox.env, extendEnv: false, reject: false, stdin: 'ignore', timeout: 30_000 });
  assert.not.ok(r.timedOut, `hiboss ${args.join(' ')} timed out`);
  return { code: r.exitCode, stdout: String(r.stdout), stderr: String(r.stderr) };
}

const oneLine = (text: string) => text.trimEnd().split('\n').length === 1 && text.trim() !== '';

t('query-status prints the return as one JSON line, exit 0', async () => {
  const r = await hiboss(['qmp', qemu!.qmpSocket, 'query-status']);
  assert.is(r.code, 0, r.stderr);
  assert.is(r.stderr, '');
  assert.ok(oneLine(r.stdout), r.stdout);
  const status = JSON.parse(r.stdout);
  assert.is(status.running, true);
  assert.is(status.status, 'running');
});

t('an unknown command: exit 1, "CommandNotFound: …" on stderr', async () => {
  const r = await hiboss(['qmp', qemu!.qmpSocket, 'no-such-command']);
  assert.is(r.code, 1);
  assert.is(r.stdout, '');
  assert.ok(oneLine(r.stderr), r.stderr);
  assert.match(r.stderr, /^CommandNotFound: .*no-such-command/);
});

t('a failing human-monitor-command is an error: exit 1', async () => {
  const r = await hiboss(['qmp', qemu!.qmpSocket, 'human-monitor-command', '{"command-line":"device_del nosuch"}']);
  assert.is(r.code, 1, `stdout ${r.stdout}`);
  assert.is(r.stdout, '');
  assert.match(r.stderr, /nosuch/);
  // A successful one prints QEMU's text as a JSON string.
  const ok = await hiboss(['qmp', qemu!.qmpSocket, 'human-monitor-command', '{"command-line":"info status"}']);
  assert.is(ok.code, 0, ok.stderr);
  assert.match(JSON.parse(ok.stdout), /VM status: running/);
});

t('stop, then query-status shows paused; cont runs again', async () => {
  const stop = await hiboss(['qmp', qemu!.qmpSocket, 'stop']);
  assert.is(stop.code, 0, stop.stderr);
  assert.equal(JSON.parse(stop.stdout), {});
  const paused = JSON.parse((await hiboss(['qmp', qemu!.qmpSocket, 'query-status'])).stdout);
  assert.is(paused.status, 'paused');
  assert.is(paused.running, false);
  assert.is((await hiboss(['qmp', qemu!.qmpSocket, 'cont'])).code, 0);
  assert.is(JSON.parse((await hiboss(['qmp', qemu!.qmpSocket, 'query-status'])).stdout).status, 'running');
});

t('bad ARGS_JSON: exit 2 with a one-line error, QEMU untouched', async () => {
  for (const bad of ['{not json', '[1,2]', '"text"', 'null']) {
    const r = await hiboss(['qmp', qemu!.qmpSocket, 'human-monitor-command', bad]);
    assert.is(r.code, 2, `${bad}: exit ${r.code}`);
    assert.ok(oneLine(r.stderr), `${bad}: ${r.stderr}`);
    assert.match(r.stderr, /^hiboss qmp: ARGS_JSON /);
    assert.is(r.stdout, '');
  }
  const timeout = await hiboss(['qmp', qemu!.qmpSocket, 'query-status', '--timeout', 'soon']);
  assert.is(timeout.code, 2);
  assert.ok(oneLine(timeout.stderr), timeout.stderr);
});

t('a missing socket: exit 1 with a clear error naming it', async () => {
  const missing = path.join(sandbox.root, 'no-such', 'qmp.sock');
  const r = await hiboss(['qmp', missing, 'query-status']);
  assert.is(r.code, 1);
  assert.is(r.stdout, '');
  assert.ok(oneLine(r.stderr), r.stderr);
  assert.match(r.stderr, /^hiboss qmp: /);
  assert.match(r.stderr, /ENOENT/);
  assert.ok(r.stderr.includes(missing), r.stderr);
});

t.run();
