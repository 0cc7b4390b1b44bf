/**
 * The sound server's native protocol as the daemon decodes it, without a
 * server: values and their bounds, framing, the capture-stream listing, events,
 * and a connection to a socket that answers wrongly. The real PulseAudio is in
 * e2e-sound.test.ts (every switch, lock, mixer and restart goes through this code).
 */
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { NativeConnection } from '../../daemon/sound/native/connection.js';
import {
  COMMAND,
  COOKIE_BYTES,
  DESCRIPTOR_BYTES,
  FrameReader,
  MAX_FRAME_BYTES,
  frame,
  parseAuthReply,
  parseMessage,
  parseSourceOutputs,
  requests,
} from '../../daemon/sound/native/protocol.js';
import { MAX_CHANNELS, TAG, TagReader, TagWriter, TagstructError } from '../../daemon/sound/native/tagstruct.js';

const t = suite('pulse native protocol');

const u32 = (value: number) => {
  const bytes = Buffer.alloc(5);
  bytes[0] = TAG.u32;
  bytes.writeUInt32BE(value, 1);
  return bytes;
};
const usec = () => Buffer.concat([Buffer.of(TAG.usec), Buffer.alloc(8)]);

/** One listed capture stream, as protocol-native.c writes it for version ≥ 22. */
function sourceOutput(index: number, mute: boolean, properties: Record<string, string>): Buffer {
  return Buffer.concat([
    u32(index),
    new TagWriter().string('hiboss-audio').bytes(),
    u32(3),
    u32(7),
    u32(1),
    Buffer.of(TAG.sampleSpec, 3, 2, 0, 0, 0xac, 0x44),
    Buffer.of(TAG.channelMap, 2, 1, 2),
    usec(),
    usec(),
    new TagWriter().string('speex-float-1').string('protocol-native.c').proplist(properties).bool(false).bytes(),
    Buffer.of(TAG.cvolume, 2, 0, 1, 0, 0, 0, 1, 0, 0),
    new TagWriter().bool(mute).bool(true).bool(true).bytes(),
    Buffer.of(TAG.formatInfo, TAG.u8, 1),
    new TagWriter().proplist({}).bytes(),
  ]);
}

t('values written are read back as written', () => {
  const bytes = new TagWriter().u32(0xfffffffe).bool(true).bool(false).string('héllo').string(null).arbitrary(Buffer.of(1, 2)).proplist({ 'application.name': 'hiboss' }).bytes();
  const values = new TagReader(bytes).all();
  assert.equal(values, [
    { kind: 'u32', value: 0xfffffffe },
    { kind: 'bool', value: true },
    { kind: 'bool', value: false },
    { kind: 'string', value: 'héllo' },
    { kind: 'string', value: null },
    { kind: 'arbitrary', value: Buffer.of(1, 2) },
    { kind: 'proplist', value: Object.assign(Object.create(null), { 'application.name': 'hiboss' }) },
  ]);
});

t('malformed values are refused with what and where', () => {
  const refuses = (bytes: Buffer, pattern: RegExp) => {
    const error = (() => {
      try {
        new TagReader(bytes).all();
        return null;
      } catch (e) {
        return e as Error;
      }
    })();
    assert.instance(error, TagstructError, `refused: ${pattern}`);
    assert.match(error!.message, pattern);
  };
  refuses(Buffer.of(TAG.u32, 0, 0), /truncated: 4 bytes wanted at byte 1/);
  refuses(Buffer.of(0x7a), /unknown tag 0x7a at byte 0/);
  refuses(Buffer.of(TAG.string, 0x61, 0x62), /unterminated string/);
  refuses(Buffer.of(TAG.channelMap, MAX_CHANNELS + 1), /33 channels/);
  refuses(Buffer.concat([Buffer.of(TAG.arbitrary), Buffer.from([0xff, 0xff, 0xff, 0xff])]), /truncated/);
  // A property whose announced length is not its value's.
  refuses(Buffer.concat([Buffer.of(TAG.proplist), new TagWriter().string('k').u32(5).arbitrary(Buffer.of(0x61, 0)).string(null).bytes()]), /length 5 but 2 bytes/);
  assert.throws(() => new TagWriter().string('a\0b'), /cannot contain NUL/);
});

t('frames: cut across chunks, audio channels skipped, an oversized one refused before it is buffered', () => {
  const reader = new FrameReader();
  const one = frame(Buffer.from('first'));
  const two = frame(Buffer.from('second'));
  const audio = Buffer.concat([Buffer.alloc(DESCRIPTOR_BYTES), Buffer.from('pcm')]);
  audio.writeUInt32BE(3, 0);
  audio.writeUInt32BE(4, 4);
  const stream = Buffer.concat([one, audio, two]);
  const got = [...stream].flatMap((byte) => reader.push(Buffer.of(byte))).map((b) => b.toString());
  assert.equal(got, ['first', 'second']);
  assert.is(reader.buffered, 0);
  // Cut anywhere: a chunk holding one message and part of the next, then the rest.
  for (let cut = 1; cut < stream.length; cut++) {
    const cutReader = new FrameReader();
    const parts = [stream.subarray(0, cut), stream.subarray(cut, cut + 7), stream.subarray(cut + 7)];
    assert.equal(parts.flatMap((part) => cutReader.push(part)).map((b) => b.toString()), ['first', 'second'], `cut at ${cut}`);
    assert.is(cutReader.buffered, 0);
  }
  const huge = Buffer.alloc(DESCRIPTOR_BYTES);
  huge.writeUInt32BE(MAX_FRAME_BYTES + 1, 0);
  assert.throws(() => new FrameReader().push(huge), /a message of 4194305 bytes/);
});

t('requests: command, tag, arguments', () => {
  assert.equal(new TagReader(requests.setSourceOutputMute(7, 12, true)).all(), [
    { kind: 'u32', value: COMMAND.setSourceOutputMute },
    { kind: 'u32', value: 7 },
    { kind: 'u32', value: 12 },
    { kind: 'bool', value: true },
  ]);
  const auth = new TagReader(requests.auth(0, Buffer.alloc(COOKIE_BYTES))).all();
  assert.equal(auth.slice(0, 3), [
    { kind: 'u32', value: COMMAND.auth },
    { kind: 'u32', value: 0 },
    { kind: 'u32', value: 35 },
  ]);
  assert.throws(() => requests.auth(0, Buffer.alloc(3)), /3 bytes, not 256/);
});

t('messages: replies, errors, subscription events; the version agreed', () => {
  const reply = parseMessage(Buffer.concat([u32(COMMAND.reply), u32(4), u32(35)]));
  assert.is(reply.kind, 'reply');
  assert.is(parseAuthReply(reply.kind === 'reply' ? reply.body : Buffer.alloc(0)), 35);
  // The server's version word carries shared-memory flags in its high bits.
  assert.is(parseAuthReply(u32((0x80000000 | 40) >>> 0)), 35);
  assert.throws(() => parseAuthReply(u32(21)), /speaks protocol version 21; at least 22/);
  assert.equal(parseMessage(Buffer.concat([u32(COMMAND.error), u32(9), u32(5)])), { kind: 'error', tag: 9, code: 5 });
  // source-output (3) | change (0x10), stream #2
  assert.equal(parseMessage(Buffer.concat([u32(COMMAND.subscribeEvent), u32(0xffffffff), u32(0x13), u32(2)])), { kind: 'event', facility: 'source-output', type: 'change', index: 2 });
  assert.equal(parseMessage(Buffer.concat([u32(61), u32(0xffffffff)])), { kind: 'other', command: 61 });
  assert.throws(() => parseMessage(Buffer.concat([u32(COMMAND.subscribeEvent), u32(0xffffffff), u32(0x33), u32(2)])), /unknown type/);
});

t('the capture-stream listing: each stream field by field, then the one schema', () => {
  const body = Buffer.concat([sourceOutput(0, false, { 'application.process.id': '4242', 'media.name': 'hiboss-audio' }), sourceOutput(5, true, {})]);
  const outputs = parseSourceOutputs(body);
  assert.equal(
    outputs.map((o) => [o.index, o.mute, o.properties['application.process.id']]),
    [
      [0, false, '4242'],
      [5, true, undefined],
    ],
  );
  assert.equal(parseSourceOutputs(Buffer.alloc(0)), []);
  // A stream cut short, or one whose mute is not a boolean, is refused.
  assert.throws(() => parseSourceOutputs(body.subarray(0, body.length - 3)), /truncated|expected/);
  const wrong = sourceOutput(1, true, {});
  const at = wrong.lastIndexOf(TAG.formatInfo) - 3; // the mute flag
  wrong[at] = TAG.u8;
  assert.throws(() => parseSourceOutputs(wrong), /expected bool/);
  // A property over the schema's bound.
  assert.throws(() => parseSourceOutputs(sourceOutput(1, true, { 'application.name': 'x'.repeat(5000) })));
});

t('a connection to a socket that answers with nonsense ends, and says why', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hiboss-pulse-'));
  const socketPath = path.join(dir, 'native');
  const server = net.createServer((client) => client.once('data', () => client.write(Buffer.concat([frame(Buffer.of(0x7a))]))));
  await new Promise<void>((resolve) => server.listen(socketPath, resolve));
  try {
    const error = await NativeConnection.open(socketPath, Buffer.alloc(COOKIE_BYTES), 'test').then(
      () => null,
      (e: Error) => e,
    );
    assert.match(error?.message ?? '', /authentication: unknown tag 0x7a at byte 0/);
    const refused = await NativeConnection.open(path.join(dir, 'nothing'), Buffer.alloc(COOKIE_BYTES), 'test').then(
      () => null,
      (e: Error) => e,
    );
    assert.match(refused?.message ?? '', /ENOENT/);
  } finally {
    server.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

t.run();
