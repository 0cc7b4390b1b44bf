/**
 * The QMP client against a scripted, often hostile, QMP server: bad greetings,
 * overlong lines, bad JSON, replies nobody asked for, an error without an id,
 * and the awkward-but-legal messages (events with data, falsy returns).
 */
import { once } from 'node:events';
import type net from 'node:net';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { MAX_LINE_BYTES, QmpClient } from '../../qmp/client.js';
import {
  QmpCommandError,
  QmpConnectError,
  QmpDisconnectedError,
  QmpError,
  QmpProtocolError,
} from '../../qmp/errors.js';
import type { EventMessage } from '../../qmp/protocol.js';
import { startFakeServer, type FakeServer } from '../harness/fake-server.js';
import { bounded, rejection } from '../harness/bounded.js';

const GREETING = {
  QMP: { version: { qemu: { micro: 22, minor: 2, major: 7 }, package: 'fake' }, capabilities: ['oob'] },
};

const t = suite('qmp client against a hostile server');
const TEST_TIMEOUT_MS = 10_000;

const test = bounded(t, TEST_TIMEOUT_MS);

let server: FakeServer;
let client: QmpClient | undefined;

t.before.each(async () => {
  server = await startFakeServer();
});
t.after.each(async () => {
  client?.close();
  client = undefined;
  await server.close();
});

/** Sends a line as QEMU does (CRLF). */
function send(peer: net.Socket, message: unknown): void {
  peer.write((typeof message === 'string' ? message : JSON.stringify(message)) + '\r\n');
}

/**
 * Reads the next command the client sent. Keeps one line buffer per socket: the
 * harness's readLine() loses whatever follows the first line of a chunk when no
 * reader is waiting (pipelined commands arrive in one chunk).
 */
const readers = new WeakMap<net.Socket, { lines: string[]; waiting: ((line: string) => void)[] }>();
function nextLine(peer: net.Socket): Promise<string> {
  let reader = readers.get(peer);
  if (!reader) {
    const state = { lines: [] as string[], waiting: [] as ((line: string) => void)[], buffer: '' };
    reader = state;
    readers.set(peer, reader);
    peer.setEncoding('utf8');
    peer.on('data', (text: string) => {
      state.buffer += text;
      for (let nl = state.buffer.indexOf('\n'); nl !== -1; nl = state.buffer.indexOf('\n')) {
        const line = state.buffer.slice(0, nl);
        state.buffer = state.buffer.slice(nl + 1);
        const waiter = state.waiting.shift();
        if (waiter) waiter(line);
        else state.lines.push(line);
      }
    });
  }
  const line = reader.lines.shift();
  if (line !== undefined) return Promise.resolve(line);
  return new Promise((resolve) => reader.waiting.push(resolve));
}

async function nextCommand(peer: net.Socket): Promise<{ execute: string; id: string; arguments?: unknown }> {
  return JSON.parse(await nextLine(peer));
}

/** A client that got through greeting and negotiation, and the server side of its socket. */
async function negotiated(): Promise<{ client: QmpClient; peer: net.Socket }> {
  const connecting = QmpClient.connect(server.path, { connectTimeoutMs: 5000, commandTimeoutMs: 5000 });
  const peer = await server.nextConnection();
  send(peer, GREETING);
  const caps = await nextCommand(peer);
  assert.is(caps.execute, 'qmp_capabilities');
  send(peer, { return: {}, id: caps.id });
  client = await connecting;
  return { client, peer };
}


function peerClosed(peer: net.Socket): Promise<void> {
  return new Promise((resolve) => (peer.destroyed ? resolve() : peer.once('close', () => resolve())));
}

// ---- greeting ---------------------------------------------------------------------

test('no greeting at all: QmpConnectError after the connect timeout, socket closed', async () => {
  const connecting = QmpClient.connect(server.path, { connectTimeoutMs: 300 });
  const peer = await server.nextConnection();
  const started = Date.now();
  const error = await rejection(connecting);
  assert.instance(error, QmpConnectError);
  assert.match(error.message, /no QMP greeting within 300 ms/);
  assert.ok(Date.now() - started >= 250);
  await peerClosed(peer); // the client hung up: no half-open session left behind
});

test('the server hangs up before greeting: QmpConnectError', async () => {
  const connecting = QmpClient.connect(server.path, { connectTimeoutMs: 5000 });
  (await server.nextConnection()).end();
  const error = await rejection(connecting);
  assert.instance(error, QmpConnectError);
  assert.match(error.message, /closed before the greeting/);
});

test('a non-QMP greeting (JSON of another shape): QmpConnectError', async () => {
  const connecting = QmpClient.connect(server.path, { connectTimeoutMs: 5000 });
  const peer = await server.nextConnection();
  send(peer, { hello: 'world', version: 1 });
  const error = await rejection(connecting);
  assert.instance(error, QmpConnectError);
  assert.match(error.message, /did not greet like QMP/);
  await peerClosed(peer);
});

test('a non-JSON greeting (another protocol): QmpConnectError', async () => {
  const connecting = QmpClient.connect(server.path, { connectTimeoutMs: 5000 });
  const peer = await server.nextConnection();
  send(peer, 'SSH-2.0-OpenSSH_9.2p1');
  const error = await rejection(connecting);
  assert.instance(error, QmpConnectError);
  assert.match(error.message, /not JSON/);
  await peerClosed(peer);
});

test('negotiation refused: QmpConnectError carrying the server\'s error', async () => {
  const connecting = QmpClient.connect(server.path, { connectTimeoutMs: 5000 });
  const peer = await server.nextConnection();
  send(peer, GREETING);
  const caps = await nextCommand(peer);
  send(peer, { error: { class: 'GenericError', desc: 'Capability negotiation refused' }, id: caps.id });
  const error = await rejection(connecting);
  assert.instance(error, QmpConnectError);
  assert.match(error.message, /negotiation failed: qmp_capabilities: GenericError: Capability negotiation refused/);
  await peerClosed(peer);
});

test('no socket at all: QmpConnectError', async () => {
  const error = await rejection(QmpClient.connect(`${server.path}.missing`));
  assert.instance(error, QmpConnectError);
  assert.match(error.message, /ENOENT/);
});

// ---- after negotiation --------------------------------------------------------------

test('a line over 10 MB: the client stops reading and closes with QmpProtocolError, memory bounded', async () => {
  const { client, peer } = await negotiated();
  const closed = once(client, 'close');
  const failed = rejection(client.execute('query-status')); // observed now: it fails mid-stream
  await nextCommand(peer);

  // Stream an endless line, honouring backpressure, until the client hangs up.
  const chunk = Buffer.alloc(256 * 1024, 'a');
  const cap = 100 * 1024 * 1024;
  const before = process.memoryUsage();
  let peak = 0;
  let written = 0;
  let hungUp = false;
  peer.once('close', () => (hungUp = true));
  peer.write('{"return": "');
  while (!hungUp && written < cap) {
    const more = peer.write(chunk);
    written += chunk.length;
    const now = process.memoryUsage();
    peak = Math.max(peak, now.rss - before.rss);
    if (!more) {
      await new Promise<void>((resolve) => {
        const done = () => {
          peer.off('drain', done);
          peer.off('close', done);
          resolve();
        };
        peer.on('drain', done);
        peer.on('close', done);
      });
    }
  }
  const error = await failed;
  assert.instance(error, QmpProtocolError);
  assert.match(error.message, /line longer than 10485760 bytes/);
  const [closeError] = await closed;
  assert.instance(closeError, QmpProtocolError);
  assert.ok(hungUp, `the client kept reading: ${written} bytes written`);
  assert.ok(written >= MAX_LINE_BYTES, `closed after only ${written} bytes`);
  assert.ok(written < cap / 2, `closed only after ${written} bytes`);
  assert.ok(peak < 40 * 1024 * 1024, `rss grew by ${(peak / 1048576).toFixed(1)} MB`);
  assert.is(client.closed, true);
});

test('a long but legal reply (9 MB) is delivered whole', async () => {
  const { client, peer } = await negotiated();
  const pending = client.executeRaw('x-big');
  const { id } = await nextCommand(peer);
  const text = 'é'.repeat(4 * 1024 * 1024) + 'end'; // 8 MB of UTF-8, split across many reads
  send(peer, { return: text, id });
  const value = (await pending) as string;
  assert.is(value.length, text.length);
  assert.ok(value === text);
});

test('bad JSON after negotiation: pending command rejected with QmpProtocolError, session over', async () => {
  const { client, peer } = await negotiated();
  const closed = once(client, 'close');
  const pending = client.execute('query-status');
  const { id } = await nextCommand(peer);
  send(peer, `{"return": {}, "id": "${id}"`);
  const error = await rejection(pending);
  assert.instance(error, QmpProtocolError);
  assert.match(error.message, /not JSON/);
  const [closeError] = await closed;
  assert.is(closeError, error, 'the same error ends the session');
  await peerClosed(peer);
  const after = await rejection(client.execute('query-status'));
  assert.instance(after, QmpDisconnectedError);
});

test('a message of an unknown shape: QmpProtocolError', async () => {
  const { client, peer } = await negotiated();
  const pending = client.execute('query-status');
  await nextCommand(peer);
  send(peer, { surprise: true });
  const error = await rejection(pending);
  assert.instance(error, QmpProtocolError);
  assert.match(error.message, /unknown message/);
});

test('a reply with an unknown id is dropped with a warning; the real reply still matches', async () => {
  const { client, peer } = await negotiated();
  const warnings: string[] = [];
  client.on('warning', (message) => warnings.push(message));
  const pending = client.execute('query-status');
  const { id } = await nextCommand(peer);
  const warned = once(client, 'warning');
  send(peer, { return: { running: false, status: 'paused' }, id: 'not-ours' });
  assert.equal(await warned, ['dropped a reply with unknown id "not-ours"']);
  send(peer, { return: { running: true, status: 'running' }, id });
  assert.equal(await pending, { running: true, status: 'running' });
  assert.equal(warnings, ['dropped a reply with unknown id "not-ours"']);
  assert.is(client.closed, false);
});

test('an error without an id ends the session: every pending command rejected', async () => {
  const { client, peer } = await negotiated();
  const closed = once(client, 'close');
  const first = client.execute('query-status');
  const second = client.hmp('info status');
  await nextCommand(peer);
  await nextCommand(peer);
  send(peer, { error: { class: 'GenericError', desc: 'JSON parse error, invalid keyword' } });
  for (const promise of [first, second]) {
    const error = await rejection(promise);
    assert.instance(error, QmpProtocolError);
    assert.match(error.message, /error without id \(GenericError: JSON parse error, invalid keyword\): session ended/);
  }
  const [closeError] = await closed;
  assert.instance(closeError, QmpProtocolError);
  await peerClosed(peer);
  assert.instance(await rejection(client.execute('query-status')), QmpDisconnectedError);
});

test('an error with an id is that command\'s QmpCommandError only', async () => {
  const { client, peer } = await negotiated();
  const first = client.executeRaw('nope');
  const second = client.execute('query-status');
  const a = await nextCommand(peer);
  const b = await nextCommand(peer);
  send(peer, { error: { class: 'CommandNotFound', desc: "The command nope has not been found" }, id: a.id });
  send(peer, { return: { running: true, status: 'running' }, id: b.id });
  const error = await rejection(first);
  assert.instance(error, QmpCommandError);
  assert.is((error as QmpCommandError).errorClass, 'CommandNotFound');
  assert.equal(await second, { running: true, status: 'running' });
});

test('events arrive with their data and timestamp intact, typed ones too', async () => {
  const { client, peer } = await negotiated();
  const raw: EventMessage[] = [];
  client.on('event', (event) => raw.push(event));
  const warnings: string[] = [];
  client.on('warning', (message) => warnings.push(message));
  const shutdown = client.nextEvent('SHUTDOWN', 5000);
  const custom = {
    event: 'BLOCK_JOB_COMPLETED',
    data: { device: 'drive0', len: 0, offset: 0, speed: 0, type: 'mirror', nested: { list: [1, 'two', null], flag: false } },
    timestamp: { seconds: 1700000000, microseconds: 123456 },
  };
  send(peer, custom);
  send(peer, { event: 'SHUTDOWN', data: { guest: true, reason: 'guest-shutdown' }, timestamp: { seconds: 1700000001, microseconds: 7 } });
  send(peer, { event: 'SHUTDOWN', data: { reason: 42 }, timestamp: { seconds: 1700000002, microseconds: 0 } }); // bad shape
  send(peer, { event: 'POWERDOWN', timestamp: { seconds: 1700000003, microseconds: 0 } }); // no data at all
  // A command round trip as the barrier: everything sent before it has been handled.
  const pending = client.execute('query-status');
  const { id } = await nextCommand(peer);
  send(peer, { return: { running: true, status: 'running' }, id });
  await pending;

  assert.equal(await shutdown, {
    event: 'SHUTDOWN',
    data: { guest: true, reason: 'guest-shutdown' },
    timestamp: { seconds: 1700000001, microseconds: 7 },
  });
  assert.equal(raw[0], custom);
  assert.equal(raw.map((e) => e.event), ['BLOCK_JOB_COMPLETED', 'SHUTDOWN', 'SHUTDOWN', 'POWERDOWN']);
  assert.is(raw[3]!.data, undefined);
  // The malformed SHUTDOWN reached the raw listeners, and only a warning from the typed one.
  assert.is(warnings.length, 0, 'nextEvent unsubscribed after the first SHUTDOWN');
  const typed: unknown[] = [];
  client.onEvent('SHUTDOWN', (event) => typed.push(event.data));
  const warned = once(client, 'warning');
  send(peer, { event: 'SHUTDOWN', data: { reason: 42 }, timestamp: { seconds: 1700000004, microseconds: 0 } });
  const [warning] = await warned;
  assert.match(warning, /^SHUTDOWN event with unexpected data/);
  assert.equal(typed, []);
  assert.is(client.closed, false);
});

test('falsy returns ("", false, 0, null) answered out of order reach their own callers', async () => {
  const { client, peer } = await negotiated();
  const calls = [
    client.hmp('stop'),
    client.executeRaw('x-false'),
    client.executeRaw('x-zero'),
    client.executeRaw('x-null'),
    client.execute('query-status'),
  ];
  const ids: string[] = [];
  for (let i = 0; i < calls.length; i++) ids.push((await nextCommand(peer)).id);
  assert.is(new Set(ids).size, calls.length, 'ids are unique');
  // Replies in reverse order, all in one write.
  const answers: unknown[] = ['', false, 0, null, { running: false, status: 'paused' }];
  peer.write(
    ids
      .map((id, i) => JSON.stringify({ return: answers[i], id }) + '\r\n')
      .reverse()
      .join(''),
  );
  assert.equal(await Promise.all(calls), answers);
});

test('the server hangs up with commands in flight: QmpDisconnectedError, close without error', async () => {
  const { client, peer } = await negotiated();
  const closed = once(client, 'close');
  const pending = client.execute('query-status');
  await nextCommand(peer);
  peer.end();
  const error = await rejection(pending);
  assert.instance(error, QmpDisconnectedError);
  assert.instance(error, QmpError);
  assert.equal(await closed, [undefined]);
});

test('after the session ended, nextEvent and execute reject at once', async () => {
  const { client, peer } = await negotiated();
  const waiting = client.nextEvent('SHUTDOWN', 5000); // pending when the session ends
  const closed = once(client, 'close');
  peer.end();
  await closed;
  const during = await rejection(waiting);
  assert.instance(during, QmpDisconnectedError);
  // Asked only after the close: must not wait for an event that can never come.
  const started = Date.now();
  const after = await rejection(client.nextEvent('SHUTDOWN', 5000));
  assert.instance(after, QmpDisconnectedError);
  assert.ok(Date.now() - started < 1000, `nextEvent took ${Date.now() - started} ms to give up`);
  assert.instance(await rejection(client.hmp('info status')), QmpDisconnectedError);
});

t.run();
