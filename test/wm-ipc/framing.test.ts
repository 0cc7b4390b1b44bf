import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { FramingError, LineDecoder } from '../../transport/framed-connection.js';
import { encodeFrame, HEADER_BYTES, IpcFrameDecoder } from '../../wm-ipc/framing.js';

const ipc = suite('i3-ipc framing');

ipc('the length counts UTF-8 bytes, not string units', () => {
  const name = '2: vm-été 🖥 ✓';
  const frame = encodeFrame(0, `workspace ${name}`);
  const declared = frame.readUInt32LE(6);
  assert.is(declared, Buffer.byteLength(`workspace ${name}`, 'utf8'));
  assert.ok(declared > `workspace ${name}`.length);
  const [decoded] = new IpcFrameDecoder().push(frame);
  assert.is(decoded!.payload.toString('utf8'), `workspace ${name}`);
});

ipc('decodes frames split at every byte and several frames in one chunk', () => {
  const bytes = Buffer.concat([encodeFrame(1, '[1]'), encodeFrame(0x80000000, '{"change":"focus"}'), encodeFrame(7, '')]);
  const decoder = new IpcFrameDecoder();
  const frames = [];
  for (let i = 0; i < bytes.length; i++) frames.push(...decoder.push(bytes.subarray(i, i + 1)));
  assert.equal(
    frames.map((f) => [f.type, f.payload.toString()]),
    [[1, '[1]'], [0x80000000, '{"change":"focus"}'], [7, '']],
  );
  assert.is(new IpcFrameDecoder().push(bytes).length, 3);
});

ipc('a wrong magic is a framing error, even before the header is complete', () => {
  assert.throws(() => new IpcFrameDecoder().push(Buffer.from('HTTP/1')), (e: Error) => e instanceof FramingError && /magic/.test(e.message));
});

ipc('a 4 GiB length is refused without allocating it', () => {
  const header = Buffer.alloc(HEADER_BYTES);
  header.write('i3-ipc');
  header.writeUInt32LE(0xffffffff, 6);
  const before = process.memoryUsage().arrayBuffers;
  assert.throws(() => new IpcFrameDecoder().push(header), /exceeds/);
  assert.ok(process.memoryUsage().arrayBuffers - before < 1 << 20);
});

ipc('a truncated frame waits for the rest and yields nothing', () => {
  const frame = encodeFrame(1, '[]');
  assert.equal(new IpcFrameDecoder().push(frame.subarray(0, frame.length - 1)), []);
});

const lines = suite('line framing (QMP)');

lines('splits lines across chunks', () => {
  const decoder = new LineDecoder(100);
  assert.equal(decoder.push(Buffer.from('{"a":')), []);
  assert.equal(decoder.push(Buffer.from('1}\n{"b":2}\n{"c"')), ['{"a":1}', '{"b":2}']);
  assert.equal(decoder.push(Buffer.from(':3}\n')), ['{"c":3}']);
});

lines('multi-byte characters split between chunks survive', () => {
  const bytes = Buffer.from('"été"\n');
  const decoder = new LineDecoder(100);
  assert.equal([...decoder.push(bytes.subarray(0, 2)), ...decoder.push(bytes.subarray(2))], ['"été"']);
});

lines('a line over the bound is a framing error, in one chunk or many', () => {
  assert.throws(() => new LineDecoder(10).push(Buffer.from('01234567890\n')), (e: Error) => e instanceof FramingError);
  const decoder = new LineDecoder(10);
  decoder.push(Buffer.from('012345'));
  assert.throws(() => decoder.push(Buffer.from('6789012')), (e: Error) => e instanceof FramingError);
});

ipc.run();
lines.run();
