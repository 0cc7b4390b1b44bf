/**
 * The PulseAudio native protocol, the part the microphone guard speaks:
 * framing (a 20-byte descriptor, then a tagstruct), the commands it sends
 * (authenticate, name itself, subscribe, list capture streams, mute one) and
 * the messages it reads (replies, errors, subscription events). PulseAudio 16
 * and PipeWire's pipewire-pulse both serve it. Pure: no socket (connection.ts).
 *
 * Every message read is bounded (MAX_FRAME_BYTES) and checked: a capture
 * stream is decoded field by field with its tags checked, then parsed with the
 * one schema of a capture stream (SourceOutput).
 */
import { z } from 'zod';
import { TagReader, TagWriter, TagstructError, type TagKind, type TagValue } from './tagstruct.js';

/** Command numbers (pulsecore/native-common.h), only those used here. */
export const COMMAND = {
  error: 0,
  timeout: 1,
  reply: 2,
  auth: 8,
  setClientName: 9,
  getSourceOutputInfoList: 32,
  subscribe: 35,
  subscribeEvent: 66,
  setSourceOutputMute: 99,
} as const;

/** The version this client speaks (PulseAudio 16 and pipewire-pulse speak 35). */
export const CLIENT_VERSION = 35;
/** The oldest the source-output listing below decodes (mute in the listing since 22: PulseAudio 1.0). */
export const MIN_SERVER_VERSION = 22;

/** Bytes of the descriptor before each message: length, channel, offset (2 words), flags. */
export const DESCRIPTOR_BYTES = 20;
/** The channel of control messages (every message here; audio goes on numbered channels, never used). */
export const CONTROL_CHANNEL = 0xffffffff;
/** The largest message accepted: a listing of thousands of streams fits; more is not a server to trust. */
export const MAX_FRAME_BYTES = 4 * 1024 * 1024;
/** The authentication cookie's size; all zero when there is none (the server then trusts the socket's peer uid). */
export const COOKIE_BYTES = 256;

/** Subscription masks and event bits (pulse/def.h). */
export const SUBSCRIPTION_MASK_SOURCE_OUTPUT = 0x0008;
const FACILITY_MASK = 0x000f;
const EVENT_TYPE_MASK = 0x0030;
const FACILITIES = ['sink', 'source', 'sink-input', 'source-output', 'module', 'client', 'sample-cache', 'server', 'autoload', 'card'] as const;
const EVENT_TYPES = ['new', 'change', 'remove'] as const;

export class ProtocolError extends Error {
  override name = 'ProtocolError';
}

/** One capture stream, in whatever form the server lists it: who records, and whether it is muted. */
export const SourceOutput = z.looseObject({
  index: z.number().int().nonnegative(),
  mute: z.boolean(),
  properties: z.record(z.string().max(256), z.string().max(4096)),
});
export type SourceOutput = z.infer<typeof SourceOutput>;
export const SourceOutputs = z.array(SourceOutput).max(10_000);

/** A frame: the descriptor and the payload, for one control message. */
export function frame(payload: Buffer): Buffer {
  const descriptor = Buffer.alloc(DESCRIPTOR_BYTES);
  descriptor.writeUInt32BE(payload.length, 0);
  descriptor.writeUInt32BE(CONTROL_CHANNEL, 4);
  return Buffer.concat([descriptor, payload]);
}

/**
 * Cuts a byte stream into messages. Throws ProtocolError on a message over
 * MAX_FRAME_BYTES (before buffering it); audio frames (another channel) are
 * skipped: this client opens no stream, so none is expected.
 */
export class FrameReader {
  #chunks: Buffer[] = [];
  #bytes = 0;

  push(chunk: Buffer): Buffer[] {
    this.#chunks.push(chunk);
    this.#bytes += chunk.length;
    const messages: Buffer[] = [];
    while (this.#bytes >= DESCRIPTOR_BYTES) {
      const descriptor = this.#joined(DESCRIPTOR_BYTES);
      const length = descriptor.readUInt32BE(0);
      if (length > MAX_FRAME_BYTES) throw new ProtocolError(`a message of ${length} bytes (at most ${MAX_FRAME_BYTES})`);
      // Joined only once the whole message is there: a large one arriving in many chunks is copied once.
      if (this.#bytes < DESCRIPTOR_BYTES + length) break;
      const data = this.#joined(DESCRIPTOR_BYTES + length);
      if (descriptor.readUInt32BE(4) === CONTROL_CHANNEL) messages.push(data.subarray(DESCRIPTOR_BYTES, DESCRIPTOR_BYTES + length));
      // The first chunk holds the message (and maybe more); the chunks after it stay as they are.
      const rest = data.subarray(DESCRIPTOR_BYTES + length);
      if (rest.length > 0) this.#chunks[0] = rest;
      else this.#chunks.shift();
      this.#bytes -= DESCRIPTOR_BYTES + length;
    }
    return messages;
  }

  get buffered(): number {
    return this.#bytes;
  }

  /** The buffered bytes as one buffer whose first `atLeast` bytes are contiguous. */
  #joined(atLeast: number): Buffer {
    if (this.#chunks[0]!.length < atLeast) this.#chunks = [Buffer.concat(this.#chunks)];
    return this.#chunks[0]!;
  }
}

/** A request's payload: its command, its tag, its arguments. */
function request(command: number, tag: number, write: (writer: TagWriter) => void = () => {}): Buffer {
  const writer = new TagWriter().u32(command).u32(tag);
  write(writer);
  return writer.bytes();
}

export const requests = {
  auth: (tag: number, cookie: Buffer) => {
    if (cookie.length !== COOKIE_BYTES) throw new ProtocolError(`the cookie has ${cookie.length} bytes, not ${COOKIE_BYTES}`);
    // The version word's high bits offer shared memory; none is offered (the socket carries everything).
    return request(COMMAND.auth, tag, (w) => w.u32(CLIENT_VERSION).arbitrary(cookie));
  },
  setClientName: (tag: number, properties: Record<string, string>) => request(COMMAND.setClientName, tag, (w) => w.proplist(properties)),
  subscribe: (tag: number, mask: number) => request(COMMAND.subscribe, tag, (w) => w.u32(mask)),
  sourceOutputs: (tag: number) => request(COMMAND.getSourceOutputInfoList, tag),
  setSourceOutputMute: (tag: number, index: number, mute: boolean) => request(COMMAND.setSourceOutputMute, tag, (w) => w.u32(index).bool(mute)),
};

/** A message from the server, as far as this client cares. */
export type Message =
  | { kind: 'reply'; tag: number; body: Buffer }
  | { kind: 'error'; tag: number; code: number }
  | { kind: 'event'; facility: (typeof FACILITIES)[number] | 'other'; type: (typeof EVENT_TYPES)[number]; index: number }
  | { kind: 'other'; command: number };

/** The command and tag of a message, then what follows; throws ProtocolError/TagstructError on a malformed one. */
export function parseMessage(payload: Buffer): Message {
  const reader = new TagReader(payload);
  const command = reader.expect('u32').value;
  const tag = reader.expect('u32').value;
  switch (command) {
    case COMMAND.reply:
      return { kind: 'reply', tag, body: payload.subarray(10) };
    case COMMAND.error:
      return { kind: 'error', tag, code: reader.expect('u32').value };
    case COMMAND.subscribeEvent: {
      const event = reader.expect('u32').value;
      const index = reader.expect('u32').value;
      const type = EVENT_TYPES[(event & EVENT_TYPE_MASK) >> 4];
      if (type === undefined) throw new ProtocolError(`subscription event of unknown type 0x${event.toString(16)}`);
      return { kind: 'event', facility: FACILITIES[event & FACILITY_MASK] ?? 'other', type, index };
    }
    default:
      // The server may send other messages (a timeout of a request is an error reply already): not ours.
      return { kind: 'other', command };
  }
}

/** The negotiated version from the reply to auth: the lower of the two, checked against what this client decodes. */
export function parseAuthReply(body: Buffer): number {
  const server = new TagReader(body).expect('u32').value & 0xffff;
  const version = Math.min(server, CLIENT_VERSION);
  if (version < MIN_SERVER_VERSION) throw new ProtocolError(`the sound server speaks protocol version ${server}; at least ${MIN_SERVER_VERSION} is needed`);
  return version;
}

/** The fields of one listed capture stream, in order, for protocol versions 22 and later (protocol-native.c). */
const SOURCE_OUTPUT_FIELDS = [
  'u32', // index
  'string', // name
  'u32', // owner module
  'u32', // client
  'u32', // source
  'sampleSpec',
  'channelMap',
  'usec', // buffer latency
  'usec', // source latency
  'string', // resample method
  'string', // driver
  'proplist',
  'bool', // corked
  'cvolume',
  'bool', // mute
  'bool', // has volume
  'bool', // volume writable
  'formatInfo',
] as const satisfies readonly TagKind[];

/** The reply to the source-output listing: each stream checked tag by tag, then with SourceOutput. */
export function parseSourceOutputs(body: Buffer): SourceOutput[] {
  const reader = new TagReader(body);
  const outputs: unknown[] = [];
  while (!reader.done) {
    const fields: TagValue[] = SOURCE_OUTPUT_FIELDS.map((kind) => reader.expect(kind));
    const [index, properties, mute] = [fields[0], fields[11], fields[14]];
    // expect() checked every kind; this only tells the compiler.
    if (index?.kind !== 'u32' || properties?.kind !== 'proplist' || mute?.kind !== 'bool') throw new ProtocolError('a capture stream out of shape');
    outputs.push({ index: index.value, mute: mute.value, properties: { ...properties.value } });
  }
  return SourceOutputs.parse(outputs);
}

/** Error codes (pulse/def.h) as words, for a message a person reads. */
const ERRORS = ['ok', 'access denied', 'unknown command', 'invalid argument', 'entity exists', 'no such entity', 'connection refused', 'protocol error', 'timeout', 'no authentication key', 'internal error', 'connection terminated', 'entity killed', 'invalid server', 'module initialization failed', 'bad state', 'no data', 'incompatible protocol version', 'too large', 'not supported'];

export function errorText(code: number): string {
  return ERRORS[code] ?? `error ${code}`;
}

export { TagstructError };
