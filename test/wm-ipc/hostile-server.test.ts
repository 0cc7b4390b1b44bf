/**
 * The wm-ipc client against a scripted, often hostile, i3-ipc server: broken
 * frames, absurd lengths, bad JSON, replies out of step. Each must fail the
 * pending request with a clear error, end the session once, cost no memory and
 * crash nothing. Then reply matching: pipelined requests whose replies arrive
 * in one chunk or one byte at a time.
 */
import type net from 'node:net';
import sinon from 'sinon';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { WmClient, type WmClientEvents } from '../../wm-ipc/client.js';
import { WmConnectionError, WmIpcError, WmProtocolError } from '../../wm-ipc/errors.js';
import { encodeFrame, HEADER_BYTES, IpcFrameDecoder, MAGIC, type IpcFrame } from '../../wm-ipc/framing.js';
import { EVENT_BIT, EventType, MessageType } from '../../wm-ipc/protocol.js';
import { startFakeServer, type FakeServer } from '../harness/fake-server.js';
import { bounded, rejection } from '../harness/bounded.js';

const VERSION = { major: 1, minor: 7, patch: 0, human_readable: '1.7', loaded_config_file_name: '/tmp/cfg' };
const RECT = { x: 0, y: 0, width: 800, height: 600 };
function workspace(num: number, name: string, focused = false) {
  return { id: 10 + num, num, name, visible: focused, focused, urgent: false, rect: RECT, output: 'HEADLESS-1' };
}

const t = suite('wm-ipc client against a hostile server');
const TEST_TIMEOUT_MS = 10_000;

const test = bounded(t, TEST_TIMEOUT_MS);

let server: FakeServer;
let client: WmClient | undefined;

t.before.each(async () => {
  server = await startFakeServer();
});
t.after.each(async () => {
  sinon.restore();
  client?.close();
  client = undefined;
  await server.close();
});

/** Server side: decodes the client's request frames (one decoder per socket, nothing lost between reads). */
const readers = new WeakMap<net.Socket, { frames: IpcFrame[]; waiting: ((frame: IpcFrame) => void)[] }>();
function nextRequest(peer: net.Socket): Promise<IpcFrame> {
  let reader = readers.get(peer);
  if (!reader) {
    const state = { frames: [] as IpcFrame[], waiting: [] as ((frame: IpcFrame) => void)[] };
    const decoder = new IpcFrameDecoder();
    reader = state;
    readers.set(peer, state);
    peer.on('data', (chunk: Buffer) => {
      for (const frame of decoder.push(chunk)) {
        const waiter = state.waiting.shift();
        if (waiter) waiter(frame);
        else state.frames.push(frame);
      }
    });
  }
  const frame = reader.frames.shift();
  if (frame) return Promise.resolve(frame);
  return new Promise((resolve) => reader.waiting.push(resolve));
}

interface Session {
  client: WmClient;
  peer: net.Socket;
  /** What the client reported, in order. */
  log: string[];
  ended: Promise<WmClientEvents['end'][0]>;
  disconnected: Promise<WmIpcError>;
}

async function connect(): Promise<Session> {
  const connecting = WmClient.connect({ socketPath: server.path, reconnect: false });
  const peer = await server.nextConnection();
  client = await connecting;
  const log: string[] = [];
  const c = client;
  c.on('reconnecting', () => log.push('reconnecting'));
  const disconnected = new Promise<WmIpcError>((resolve) =>
    c.on('disconnected', (error) => {
      log.push(`disconnected ${error.name}`);
      resolve(error);
    }),
  );
  const ended = new Promise<WmClientEvents['end'][0]>((resolve) =>
    c.on('end', (end) => {
      log.push(`end ${end.reason}`);
      resolve(end);
    }),
  );
  return { client: c, peer, log, ended, disconnected };
}


/** The session ended once, as `gave-up` with `error`, after a `disconnected` with that same error. */
async function assertGaveUp(session: Session, error: Error, expectedLog: string[]): Promise<void> {
  const end = await session.ended;
  assert.is(end.reason, 'gave-up');
  assert.is(end.error, error, 'end carries the error the request failed with');
  assert.is(await session.disconnected, error);
  assert.equal(session.log, expectedLog);
  assert.is(session.client.ended, true);
  await peerClosed(session.peer);
  const late = await rejection(session.client.getVersion());
  assert.instance(late, WmConnectionError);
  assert.match(late.message, /session has ended/);
}

function peerClosed(peer: net.Socket): Promise<void> {
  return new Promise((resolve) => (peer.destroyed ? resolve() : peer.once('close', () => resolve())));
}

// ---- hostile peers --------------------------------------------------------------------

test('wrong magic: WmProtocolError on the pending request, then disconnected and end', async () => {
  const session = await connect();
  const pending = rejection(session.client.getVersion());
  assert.is((await nextRequest(session.peer)).type, MessageType.GET_VERSION);
  session.peer.write('HTTP/1.1 400 Bad Request\r\n\r\n');
  const error = await pending;
  assert.instance(error, WmProtocolError);
  assert.match(error.message, /bad magic/);
  await assertGaveUp(session, error, ['disconnected WmProtocolError', 'end gave-up']);
});

test('a 4 GiB length header: WmProtocolError at once, nothing allocated', async () => {
  const session = await connect();
  const pending = rejection(session.client.getTree());
  await nextRequest(session.peer);
  const header = Buffer.alloc(HEADER_BYTES);
  MAGIC.copy(header);
  header.writeUInt32LE(0xffffffff, MAGIC.length); // this host is little-endian (x86_64)
  header.writeUInt32LE(MessageType.GET_TREE, MAGIC.length + 4);
  const before = process.memoryUsage();
  session.peer.write(header); // and nothing more: the client must not wait for 4 GiB
  const error = await pending;
  const after = process.memoryUsage();
  assert.instance(error, WmProtocolError);
  assert.match(error.message, /frame of 4294967295 bytes exceeds the 67108864-byte bound/);
  assert.ok(after.arrayBuffers - before.arrayBuffers < 1 << 20, `arrayBuffers +${after.arrayBuffers - before.arrayBuffers}`);
  assert.ok(after.rss - before.rss < 16 << 20, `rss +${after.rss - before.rss}`);
  await assertGaveUp(session, error, ['disconnected WmProtocolError', 'end gave-up']);
});

test('a truncated frame then EOF: WmConnectionError (closed), then disconnected and end', async () => {
  const session = await connect();
  const pending = rejection(session.client.getVersion());
  await nextRequest(session.peer);
  const frame = encodeFrame(MessageType.GET_VERSION, JSON.stringify(VERSION));
  session.peer.end(frame.subarray(0, frame.length - 5));
  const error = await pending;
  assert.instance(error, WmConnectionError);
  assert.match(error.message, /closed/);
  const end = await session.ended;
  assert.is(end.reason, 'gave-up');
  assert.instance(end.error, WmConnectionError);
  assert.match(end.error!.message, /the WM closed the connection/);
  assert.is(await session.disconnected, end.error);
  assert.equal(session.log, ['disconnected WmConnectionError', 'end gave-up']);
  assert.is(session.client.ended, true);
});

test('a payload that is not JSON: WmProtocolError, then disconnected and end', async () => {
  const session = await connect();
  const pending = rejection(session.client.getVersion());
  await nextRequest(session.peer);
  session.peer.write(encodeFrame(MessageType.GET_VERSION, '{"major": 1, '));
  const error = await pending;
  assert.instance(error, WmProtocolError);
  assert.match(error.message, /payload of message type 7 is not JSON/);
  await assertGaveUp(session, error, ['disconnected WmProtocolError', 'end gave-up']);
});

test('a reply of the wrong type: that request and every later one fail, the session ends', async () => {
  const session = await connect();
  const first = rejection(session.client.getVersion());
  const second = rejection(session.client.getWorkspaces());
  await nextRequest(session.peer);
  await nextRequest(session.peer);
  session.peer.write(encodeFrame(MessageType.GET_WORKSPACES, '[]')); // the answer to the second, first
  const error = await first;
  assert.instance(error, WmProtocolError);
  assert.match(error.message, /reply of type 1 to a request of type 7/);
  const later = await second;
  assert.instance(later, WmProtocolError);
  assert.match(later.message, /replies out of step with requests/);
  await assertGaveUp(session, later, ['disconnected WmProtocolError', 'end gave-up']);
});

test('a reply nobody asked for: WmProtocolError ends the session', async () => {
  const session = await connect();
  session.peer.write(encodeFrame(MessageType.GET_VERSION, JSON.stringify(VERSION)));
  const error = await session.disconnected;
  assert.instance(error, WmProtocolError);
  assert.match(error.message, /unsolicited reply of type 7/);
  await assertGaveUp(session, error, ['disconnected WmProtocolError', 'end gave-up']);
});

test('a reply of the right type but the wrong shape fails that request only', async () => {
  const session = await connect();
  const bad = rejection(session.client.getVersion());
  await nextRequest(session.peer);
  session.peer.write(encodeFrame(MessageType.GET_VERSION, JSON.stringify({ major: 'one' })));
  const error = await bad;
  assert.instance(error, WmProtocolError);
  assert.match(error.message, /reply to message type 7 has an unexpected shape/);
  // The stream is still in step: the next request gets its own answer.
  const next = session.client.getVersion();
  await nextRequest(session.peer);
  session.peer.write(encodeFrame(MessageType.GET_VERSION, JSON.stringify(VERSION)));
  assert.equal(await next, VERSION);
  assert.equal(session.log, []);
  assert.is(session.client.ended, false);
});

test('the peer vanishes with requests in flight: each rejected with WmConnectionError', async () => {
  const session = await connect();
  const pending = [session.client.getVersion(), session.client.getTree(), session.client.command('nop')].map(rejection);
  for (let i = 0; i < 3; i++) await nextRequest(session.peer);
  session.peer.destroy();
  for (const error of await Promise.all(pending)) assert.instance(error, WmConnectionError);
  const end = await session.ended;
  assert.is(end.reason, 'gave-up');
  assert.equal(session.log, ['disconnected WmConnectionError', 'end gave-up']);
});

// ---- reply matching ---------------------------------------------------------------------

const WORKSPACES = [workspace(1, '1: mail', true), workspace(2, '2: vm-été 🖥 ✓')];
const TICK_EVENT = encodeFrame((EVENT_BIT | EventType.tick) >>> 0, JSON.stringify({ first: false, payload: 'x' }));

/** Sends three pipelined requests, checks what the server received, and returns the replies' bytes. */
async function pipelined(session: Session) {
  const results = Promise.all([
    session.client.getVersion(),
    session.client.command('workspace "2: vm-été 🖥 ✓"'),
    session.client.getWorkspaces(),
    session.client.sendTick('ping'),
  ]);
  const requests = [];
  for (let i = 0; i < 4; i++) requests.push(await nextRequest(session.peer));
  assert.equal(
    requests.map((f) => [f.type, f.payload.toString('utf8')]),
    [
      [MessageType.GET_VERSION, ''],
      [MessageType.RUN_COMMAND, 'workspace "2: vm-été 🖥 ✓"'],
      [MessageType.GET_WORKSPACES, ''],
      [MessageType.SEND_TICK, 'ping'],
    ],
  );
  const bytes = Buffer.concat([
    encodeFrame(MessageType.GET_VERSION, JSON.stringify(VERSION)),
    TICK_EVENT, // an event between replies must not be taken for one
    encodeFrame(MessageType.RUN_COMMAND, JSON.stringify([{ success: true }])),
    encodeFrame(MessageType.GET_WORKSPACES, JSON.stringify(WORKSPACES)),
    encodeFrame(MessageType.SEND_TICK, JSON.stringify({ success: true })),
  ]);
  return { results, bytes };
}

const EXPECTED = [VERSION, [{ success: true }], WORKSPACES, { success: true }];

test('pipelined requests, all replies in one chunk: each gets its own', async () => {
  const session = await connect();
  const { results, bytes } = await pipelined(session);
  session.peer.write(bytes);
  assert.equal(await results, EXPECTED);
  assert.equal(session.log, []);
});

test('pipelined requests, replies one byte at a time: each gets its own', async () => {
  const session = await connect();
  const { results, bytes } = await pipelined(session);
  // Watch the client's decoder so every byte is consumed before the next is sent:
  // the client really reads them one by one, whatever the kernel would coalesce.
  const original = IpcFrameDecoder.prototype.push;
  const chunks: number[] = [];
  let consumed: (() => void) | undefined;
  sinon.stub(IpcFrameDecoder.prototype, 'push').callsFake(function (this: IpcFrameDecoder, chunk: Buffer) {
    chunks.push(chunk.length);
    const frames = original.call(this, chunk);
    consumed?.();
    return frames;
  });
  let settled = false;
  void results.then(() => (settled = true), () => (settled = true));
  // One watch for the whole loop: a watch per byte would leave a `close` listener per byte on the peer.
  const hungUp = peerClosed(session.peer);
  for (let i = 0; i < bytes.length; i++) {
    const read = new Promise<void>((resolve) => (consumed = resolve));
    session.peer.write(bytes.subarray(i, i + 1));
    await Promise.race([read, hungUp]);
    if (session.peer.destroyed) break; // the client hung up: `results` says why
    // Nothing resolves before its last byte arrived.
    if (i < bytes.length - 1) assert.is(settled, false, `settled early at byte ${i}`);
  }
  assert.equal(await results, EXPECTED);
  assert.is(chunks.length, bytes.length);
  assert.ok(chunks.every((n) => n === 1));
  assert.equal(session.log, []);
});

test('many pipelined requests with mixed answers stay matched', async () => {
  const session = await connect();
  const n = 200;
  const calls = Array.from({ length: n }, (_, i) =>
    i % 2 === 0 ? session.client.sendTick(`t${i}`) : session.client.command(`workspace w${i}`),
  );
  const replies: Buffer[] = [];
  for (let i = 0; i < n; i++) {
    const request = await nextRequest(session.peer);
    const text = request.payload.toString('utf8');
    // Echo what was asked into the reply, so a shifted reply cannot pass.
    replies.push(
      request.type === MessageType.SEND_TICK
        ? encodeFrame(MessageType.SEND_TICK, JSON.stringify({ success: true, echo: text }))
        : encodeFrame(MessageType.RUN_COMMAND, JSON.stringify([{ success: true, echo: text }])),
    );
  }
  // Odd chunk boundaries: 7 bytes at a time.
  const all = Buffer.concat(replies);
  for (let i = 0; i < all.length; i += 7) session.peer.write(all.subarray(i, i + 7));
  const results = (await Promise.all(calls)) as unknown[];
  results.forEach((result, i) => {
    const echo = i % 2 === 0 ? (result as { echo: string }).echo : (result as { echo: string }[])[0]!.echo;
    assert.is(echo, i % 2 === 0 ? `t${i}` : `workspace w${i}`);
  });
});

t.run();
