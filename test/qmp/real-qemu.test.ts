/**
 * The QMP client against real QEMU (a bare q35 machine, no guest): negotiation,
 * the order of events and replies, errors of every kind, and a QEMU that
 * freezes (SIGSTOP) or dies (SIGKILL) with commands in flight.
 */
import { once } from 'node:events';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { QmpClient } from '../../qmp/client.js';
import {
  QmpCommandError,
  QmpConnectError,
  QmpDisconnectedError,
  QmpError,
  QmpHmpError,
  QmpTimeoutError,
} from '../../qmp/errors.js';
import type { EventMessage } from '../../qmp/protocol.js';
import { startQemu, type RunningQemu } from '../harness/qemu.js';
import { bounded, rejection } from '../harness/bounded.js';

const t = suite('qmp client on real QEMU');
const TEST_TIMEOUT_MS = 15_000;

const test = bounded(t, TEST_TIMEOUT_MS);

let dir: string;
let qemu: RunningQemu | undefined;
let client: QmpClient | undefined;

t.before.each(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hiboss-qmp-'));
  qemu = await startQemu(dir);
  client = await connectWhenListening(qemu.qmpSocket);
});

/**
 * QEMU creates the socket file (bind) a moment before it listens, and startQemu()
 * waits only for the file: a connect in between is refused. There is no event for
 * "listening", so retry ECONNREFUSED a bounded number of times, 10 ms apart.
 */
async function connectWhenListening(socketPath: string): Promise<QmpClient> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await QmpClient.connect(socketPath);
    } catch (error) {
      const code = ((error as Error).cause as { code?: string } | undefined)?.code;
      if (code !== 'ECONNREFUSED' || attempt >= 100) throw error;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }
}

t.after.each(async () => {
  client?.close();
  client = undefined;
  if (qemu) {
    signal(qemu.process.pid, 'SIGCONT'); // a test may have left it frozen: SIGTERM must reach it
    await qemu.process.stop(2000);
    qemu = undefined;
  }
  fs.rmSync(dir, { recursive: true, force: true });
});

function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(what)), ms)));
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    /* already gone */
  }
}


/** query-status without the fields that come and go between versions (7.2 adds `singlestep`). */
function status(info: unknown): unknown {
  const { running, status } = info as { running: unknown; status: unknown };
  return { running, status };
}

function isTimestamp(ts: unknown): boolean {
  const { seconds, microseconds } = ts as { seconds: number; microseconds: number };
  return Number.isInteger(seconds) && seconds > 1_600_000_000 && Number.isInteger(microseconds) && microseconds >= 0 && microseconds < 1_000_000;
}

test('negotiation: a QEMU 7 greeting, capabilities negotiated, the VM running', async () => {
  const c = client!;
  assert.is(c.greeting.QMP.version.qemu.major, 7);
  assert.ok(Array.isArray(c.greeting.QMP.capabilities));
  assert.ok(c.greeting.QMP.capabilities.includes('oob'), `capabilities: ${c.greeting.QMP.capabilities}`);
  // Commands other than qmp_capabilities work only once negotiation succeeded.
  assert.equal(status(await c.execute('query-status')), { running: true, status: 'running' });
  const version = await c.execute('query-version');
  assert.equal(version.qemu, c.greeting.QMP.version.qemu);
  assert.is(c.closed, false);
});

test('QMP is single-client: a second client gets no greeting (QmpConnectError) until the first leaves', async () => {
  const second = await rejection(QmpClient.connect(qemu!.qmpSocket, { connectTimeoutMs: 300 }));
  assert.instance(second, QmpConnectError);
  assert.match(second.message, /no QMP greeting within 300 ms/);
  assert.equal(status(await client!.execute('query-status')), { running: true, status: 'running' });
  const closed = once(client!, 'close');
  client!.close();
  assert.equal(await closed, [undefined], 'a local close carries no error');
  client = await connectWhenListening(qemu!.qmpSocket);
  assert.equal(status(await client.execute('query-status')), { running: true, status: 'running' });
});

test('stop/cont: STOP before the stop reply, RESUME before the cont reply', async () => {
  const c = client!;
  const seen: string[] = [];
  const events: EventMessage[] = [];
  c.on('event', (event) => {
    events.push(event);
    seen.push(`event ${event.event}`);
  });
  await c.execute('stop').then((value) => {
    seen.push('stop resolved');
    assert.equal(value, {});
  });
  assert.equal(seen, ['event STOP', 'stop resolved']);
  assert.equal(status(await c.execute('query-status')), { running: false, status: 'paused' });

  await c.execute('cont').then((value) => {
    seen.push('cont resolved');
    assert.equal(value, {});
  });
  assert.equal(seen, ['event STOP', 'stop resolved', 'event RESUME', 'cont resolved']);
  assert.equal(status(await c.execute('query-status')), { running: true, status: 'running' });

  for (const event of events) {
    assert.ok(isTimestamp(event.timestamp), JSON.stringify(event.timestamp));
  }
  const stopAt = events[0]!.timestamp.seconds * 1e6 + events[0]!.timestamp.microseconds;
  const resumeAt = events[1]!.timestamp.seconds * 1e6 + events[1]!.timestamp.microseconds;
  assert.ok(resumeAt >= stopAt);
});

test('typed events: onEvent/nextEvent deliver STOP with its timestamp', async () => {
  const c = client!;
  const stop = c.nextEvent('STOP', 5000);
  await c.execute('stop');
  const event = await stop; // already delivered before `stop` resolved
  assert.is(event.event, 'STOP');
  assert.equal(event.data, {});
  assert.ok(isTimestamp(event.timestamp));
});

test('HMP: a successful command returns its text; "Error:" and unknown commands reject with QmpHmpError', async () => {
  const c = client!;
  assert.match(await c.hmp('info status'), /^VM status: running\r?\n$/);

  const missing = await rejection(c.hmp('device_del nosuch'));
  assert.instance(missing, QmpHmpError);
  assert.instance(missing, QmpCommandError);
  assert.instance(missing, QmpError);
  assert.match(missing.message, /Error:/);
  assert.match(missing.message, /nosuch/);
  assert.is((missing as QmpHmpError).commandLine, 'device_del nosuch');
  assert.is((missing as QmpHmpError).errorClass, 'HmpError');

  const unknown = await rejection(c.hmp('no-such-hmp-command'));
  assert.instance(unknown, QmpHmpError);
  assert.match(unknown.message, /unknown command: 'no-such-hmp-command'/);

  // The session is intact after both.
  assert.equal(status(await c.execute('query-status')), { running: true, status: 'running' });
});

test('an unknown command is a QmpCommandError of class CommandNotFound', async () => {
  const c = client!;
  const error = await rejection(c.executeRaw('no-such-command'));
  assert.instance(error, QmpCommandError);
  assert.is((error as QmpCommandError).errorClass, 'CommandNotFound');
  assert.is((error as QmpCommandError).command, 'no-such-command');
  assert.match((error as QmpCommandError).desc, /no-such-command/);
  // Bad arguments are a GenericError, with the session intact too.
  const bad = await rejection(c.executeRaw('query-status', { bogus: 1 }));
  assert.instance(bad, QmpCommandError);
  assert.is((bad as QmpCommandError).errorClass, 'GenericError');
  assert.equal(status(await c.execute('query-status')), { running: true, status: 'running' });
});

test('falsy returns reach their own callers; later replies are not shifted', async () => {
  const c = client!;
  // QEMU runs them in order; each "" / false must land on the caller that sent it.
  const results = await Promise.all([
    c.hmp('stop'),
    c.execute('query-status').then(status),
    c.executeRaw('qom-get', { path: '/machine', property: 'usb' }),
    c.hmp('cont'),
    c.execute('query-status').then(status),
    c.hmp('info status'),
    c.executeRaw('query-status').then(status),
  ]);
  assert.equal(results, [
    '',
    { running: false, status: 'paused' },
    false,
    '',
    { running: true, status: 'running' },
    'VM status: running\r\n',
    { running: true, status: 'running' },
  ]);
});

test('QEMU killed mid-command: pending commands rejected, close emitted, new commands refused', async () => {
  const c = client!;
  const pid = qemu!.process.pid;
  process.kill(pid, 'SIGSTOP'); // frozen: the commands below stay unanswered
  const closed = once(c, 'close');
  const pending = [c.execute('query-status'), c.hmp('info status'), c.executeRaw('query-version')];
  process.kill(pid, 'SIGKILL');
  for (const promise of pending) {
    const error = await rejection(promise);
    assert.instance(error, QmpDisconnectedError);
    assert.match(error.message, /closed|failed/);
  }
  const [closeError] = await closed;
  // A peer that vanishes is an EOF (no error) or a socket error (ECONNRESET): never a protocol error.
  assert.ok(closeError === undefined || closeError instanceof QmpDisconnectedError, String(closeError));
  assert.is(c.closed, true);
  await qemu!.process.exited;

  const late = await rejection(c.execute('query-status'));
  assert.instance(late, QmpDisconnectedError);
  assert.match(late.message, /not connected/);
});

test('quit: SHUTDOWN {guest: false, reason: host-qmp-quit}, the reply, then close', async () => {
  const c = client!;
  const seen: string[] = [];
  let shutdownData: unknown;
  c.on('event', (event) => {
    seen.push(`event ${event.event}`);
    if (event.event === 'SHUTDOWN') shutdownData = event.data;
  });
  const closed = new Promise<unknown>((resolve) =>
    c.once('close', (error) => {
      seen.push('close');
      resolve(error);
    }),
  );
  const reply = await c.execute('quit');
  seen.push('quit resolved');
  assert.equal(reply, {});
  // QEMU 7.2 often *resets* the socket as it exits after quit (a plain python client sees
  // ECONNRESET too), so the close is either a clean EOF or a QmpDisconnectedError for
  // ECONNRESET, never anything else.
  const closeError = (await closed) as QmpError | undefined;
  if (closeError !== undefined) {
    assert.instance(closeError, QmpDisconnectedError);
    assert.is((closeError.cause as NodeJS.ErrnoException).code, 'ECONNRESET', String(closeError));
  }
  assert.equal(seen, ['event SHUTDOWN', 'quit resolved', 'close']);
  assert.equal(shutdownData, { guest: false, reason: 'host-qmp-quit' });
  await qemu!.process.exited;
});

test('per-command timeout: QmpTimeoutError; the late reply is dropped with a warning; the next command gets its own', async () => {
  const c = client!;
  const warnings: string[] = [];
  c.on('warning', (message) => warnings.push(message));
  const pid = qemu!.process.pid;
  process.kill(pid, 'SIGSTOP');
  const started = Date.now();
  const error = await rejection(c.executeRaw('query-status', undefined, { timeoutMs: 200 }));
  const elapsed = Date.now() - started;
  assert.instance(error, QmpTimeoutError);
  assert.is((error as QmpTimeoutError).command, 'query-status');
  assert.is((error as QmpTimeoutError).timeoutMs, 200);
  assert.ok(elapsed >= 190 && elapsed < 2000, `timed out after ${elapsed} ms`);
  assert.is(c.closed, false, 'a timeout does not end the session');

  const warned = once(c, 'warning');
  process.kill(pid, 'SIGCONT');
  // Sent right away: its reply comes after the late one, and must not be confused with it.
  const next = c.hmp('info status');
  const [warning] = await within(warned, 5000, 'no warning about the late reply');
  assert.match(warning, /^dropped a reply with unknown id "hb-\d+"$/);
  assert.is(await next, 'VM status: running\r\n');
  assert.equal(status(await c.execute('query-status')), { running: true, status: 'running' });
  assert.is(warnings.length, 1, warnings.join('; '));
});

t.run();
