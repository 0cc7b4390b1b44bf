/**
 * `hiboss status` and `hiboss vm …` against the real daemon (bin/hiboss daemon)
 * in headless sway on a private session bus, with two bare QEMU VMs.
 */
import { execa } from 'execa';
import fs from 'node:fs';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { DaemonStatus, VmState } from '../../api/schema.js';
import { HIBOSS, sessionEnv, type RunningDaemon } from '../harness/daemon.js';
import { desktopPerTest } from '../harness/fixtures.js';
import { alive } from '../harness/inspect.js';
import { BARE_QEMU } from '../harness/qemu.js';

const t = suite('hiboss status / vm with the real daemon');
const session = desktopPerTest(t, 'sway', 'cli-dmn');
let daemon: RunningDaemon | undefined;

const config = {
  vms: {
    alpha: { workspace: '1', qemu: [...BARE_QEMU], color: '#2e7d32' },
    beta: { workspace: '2', qemu: [...BARE_QEMU] },
  },
  policy: { pauseAfterMs: 60_000, powerdownTimeoutMs: 500 },
};

async function hiboss(args: string[], env = sessionEnv(session.wm, session.bus)) {
  const r = await execa(process.execPath, [HIBOSS, ...args], { env, extendEnv: false, reject: false, stdin: 'ignore', timeout: 60_000 });
  assert.not.ok(r.timedOut, `hiboss ${args.join(' ')} timed out`);
  return { code: r.exitCode, stdout: String(r.stdout), stderr: String(r.stderr) };
}

async function statusJson(): Promise<DaemonStatus> {
  const r = await hiboss(['status', '--json']);
  assert.is(r.code, 0, r.stderr);
  assert.not.ok(r.stdout.includes('\n'), 'one JSON line');
  return JSON.parse(r.stdout) as DaemonStatus;
}

/** Resolves once `name` is in `state`, whether it got there before or after the call. */
async function reach(d: RunningDaemon, name: string, state: VmState, timeoutMs = 30_000): Promise<void> {
  await d.client.untilState(name, (c) => c.state === state, timeoutMs);
}

t('status --json lists both VMs; vm pause holds, vm resume runs; the table names both', async () => {
  daemon = await session.startDaemon(config);
  await session.wmc.command('workspace 1');
  await reach(daemon, 'alpha', 'running');

  const status = await statusJson();
  assert.equal(status.vms.map((vm) => vm.name).sort(), ['alpha', 'beta']);
  const alpha = status.vms.find((vm) => vm.name === 'alpha')!;
  const beta = status.vms.find((vm) => vm.name === 'beta')!;
  assert.is(alpha.state, 'running');
  assert.is(alpha.workspace, '1');
  assert.type(alpha.pid, 'number');
  assert.ok(alive(alpha.pid!), `alpha's pid ${alpha.pid} is not alive`);
  assert.ok(fs.readFileSync(`/proc/${alpha.pid}/cmdline`, 'utf8').startsWith('qemu-system-x86_64'));
  assert.is(alpha.heldByUser, false);
  assert.is(beta.state, 'stopped');
  assert.is(beta.workspace, '2');
  assert.is(beta.pid, null);
  assert.is(status.focusedVm, 'alpha');

  const pause = await hiboss(['vm', 'pause', 'alpha']);
  assert.is(pause.code, 0, pause.stderr);
  assert.match(pause.stdout, /^alpha: paused/);
  const paused = (await statusJson()).vms.find((vm) => vm.name === 'alpha')!;
  assert.is(paused.state, 'paused');
  assert.is(paused.heldByUser, true);
  assert.is(paused.pid, alpha.pid, 'pausing keeps the same QEMU');
  assert.is(paused.hold, 'paused');
  // The table: colour (its name: stdout is no terminal), state, the hold, memory of its budget.
  const heldTable = await hiboss(['status']);
  const heldRow = heldTable.stdout.split('\n').find((l) => /^\*\s+alpha\s/.test(l));
  assert.match(heldRow ?? heldTable.stdout, /^\*\s+alpha\s+green\s+‖ paused\s+paused\s+1\s+\d+\s+(\d+|-)\/64 MiB\s+\S+\s+-\s+paused by the user$/);
  assert.not.match(heldTable.stdout, /\x1b\[/, 'no escape sequences into a pipe');

  const resume = await hiboss(['vm', 'resume', 'alpha']);
  assert.is(resume.code, 0, resume.stderr);
  assert.match(resume.stdout, /^alpha: running/);
  const resumed = (await statusJson()).vms.find((vm) => vm.name === 'alpha')!;
  assert.is(resumed.state, 'running');
  assert.is(resumed.heldByUser, false);

  const table = await hiboss(['status']);
  assert.is(table.code, 0, table.stderr);
  const rows = table.stdout.split('\n');
  assert.match(rows[0]!, /NAME\s+COLOUR\s+STATE\s+HOLD\s+WORKSPACE\s+PID\s+MEMORY\s+UPTIME\s+LAST BACKUP\s+REASON/);
  const alphaRow = rows.find((l) => /^\*\s+alpha\s/.test(l));
  const betaRow = rows.find((l) => /^\s+beta\s/.test(l));
  assert.ok(alphaRow, table.stdout);
  assert.ok(betaRow, table.stdout);
  assert.match(alphaRow!, /running/);
  assert.match(alphaRow!, new RegExp(`\\s${alpha.pid}\\s`));
  assert.match(betaRow!, /stopped/);
});

t('vm on an unknown VM: exit 1 with the daemon\'s refusal', async () => {
  daemon = await session.startDaemon(config);
  const r = await hiboss(['vm', 'pause', 'gamma']);
  assert.is(r.code, 1, r.stdout);
  assert.match(r.stderr, /^hiboss vm pause: .*gamma/);
});

t('no daemon on the bus: status and vm exit 1 saying the daemon is not running', async () => {
  const r = await hiboss(['status']);
  assert.is(r.code, 1);
  assert.is(r.stdout, '');
  assert.match(r.stderr, /daemon is not running/);
  const json = await hiboss(['status', '--json']);
  assert.is(json.code, 1);
  assert.match(json.stderr, /daemon is not running/);
  const vm = await hiboss(['vm', 'pause', 'alpha']);
  assert.is(vm.code, 1);
  assert.match(vm.stderr, /daemon is not running/);
  // After a daemon has come and gone, the same.
  daemon = await session.startDaemon(config);
  assert.is((await hiboss(['status'])).code, 0);
  await daemon.stop();
  daemon = undefined;
  const gone = await hiboss(['status']);
  assert.is(gone.code, 1);
  assert.match(gone.stderr, /daemon is not running/);
  // No session bus at all: a clear error too.
  const env = sessionEnv(session.wm, session.bus);
  delete env.DBUS_SESSION_BUS_ADDRESS;
  const nobus = await hiboss(['status'], env);
  assert.is(nobus.code, 1);
  assert.match(nobus.stderr, /DBUS_SESSION_BUS_ADDRESS/);
});

t.run();
