/**
 * The PulseAudio native protocol's value encoding ("tagstruct"): every value is
 * preceded by a one-byte tag naming its type, so a message decodes without
 * knowing its command. PipeWire's pipewire-pulse speaks the same encoding.
 * Pure: bytes in, values out (and back); no socket here (connection.ts).
 *
 * Decoding is bounded: every length is checked against the bytes that are
 * really there, strings and proplists have ceilings, and anything else is a
 * TagstructError naming what was wrong and where.
 */

/** The type tags (pulsecore/tagstruct.h), declared once. */
export const TAG = {
  string: 0x74, // 't'
  stringNull: 0x4e, // 'N'
  u32: 0x4c, // 'L'
  u8: 0x42, // 'B'
  u64: 0x52, // 'R'
  s64: 0x72, // 'r'
  sampleSpec: 0x61, // 'a'
  arbitrary: 0x78, // 'x'
  boolTrue: 0x31, // '1'
  boolFalse: 0x30, // '0'
  timeval: 0x54, // 'T'
  usec: 0x55, // 'U'
  channelMap: 0x6d, // 'm'
  cvolume: 0x76, // 'v'
  proplist: 0x50, // 'P'
  volume: 0x56, // 'V'
  formatInfo: 0x66, // 'f'
} as const;

/** A decoded value: its kind (one per tag; true and false are one kind) and its content. */
export type TagValue =
  | { kind: 'string'; value: string | null }
  | { kind: 'u32'; value: number }
  | { kind: 'u8'; value: number }
  | { kind: 'u64'; value: bigint }
  | { kind: 's64'; value: bigint }
  | { kind: 'usec'; value: bigint }
  | { kind: 'bool'; value: boolean }
  | { kind: 'arbitrary'; value: Buffer }
  | { kind: 'sampleSpec'; format: number; channels: number; rate: number }
  | { kind: 'timeval'; seconds: number; microseconds: number }
  | { kind: 'channelMap'; value: number[] }
  | { kind: 'cvolume'; value: number[] }
  | { kind: 'volume'; value: number }
  | { kind: 'proplist'; value: Record<string, string> }
  | { kind: 'formatInfo'; encoding: number; properties: Record<string, string> };
export type TagKind = TagValue['kind'];

/** A string (property keys, names, values) longer than this is not one a sound server sends. */
export const MAX_STRING_BYTES = 64 * 1024;
/** Entries of one proplist; the server's own streams carry a few dozen. */
export const MAX_PROPLIST_ENTRIES = 256;
/** PA_CHANNELS_MAX. */
export const MAX_CHANNELS = 32;

export class TagstructError extends Error {
  override name = 'TagstructError';
}

/** Encodes values the client sends; only the kinds its requests use. */
export class TagWriter {
  #parts: Buffer[] = [];

  u32(value: number): this {
    const part = Buffer.alloc(5);
    part[0] = TAG.u32;
    part.writeUInt32BE(value >>> 0, 1);
    this.#parts.push(part);
    return this;
  }

  bool(value: boolean): this {
    this.#parts.push(Buffer.of(value ? TAG.boolTrue : TAG.boolFalse));
    return this;
  }

  string(value: string | null): this {
    if (value === null) {
      this.#parts.push(Buffer.of(TAG.stringNull));
      return this;
    }
    if (value.includes('\0')) throw new TagstructError('a string sent to the sound server cannot contain NUL');
    this.#parts.push(Buffer.of(TAG.string), Buffer.from(value, 'utf8'), Buffer.of(0));
    return this;
  }

  arbitrary(value: Buffer): this {
    const head = Buffer.alloc(5);
    head[0] = TAG.arbitrary;
    head.writeUInt32BE(value.length, 1);
    this.#parts.push(head, value);
    return this;
  }

  /** Each value as a NUL-terminated string (the form the server and libpulse use for text properties). */
  proplist(properties: Record<string, string>): this {
    this.#parts.push(Buffer.of(TAG.proplist));
    for (const [key, text] of Object.entries(properties)) {
      const value = Buffer.concat([Buffer.from(text, 'utf8'), Buffer.of(0)]);
      this.string(key).u32(value.length).arbitrary(value);
    }
    return this.string(null);
  }

  bytes(): Buffer {
    return Buffer.concat(this.#parts);
  }
}

/** Reads tagged values one by one from a message's payload. */
export class TagReader {
  #at = 0;

  constructor(private readonly data: Buffer) {}

  get done(): boolean {
    return this.#at >= this.data.length;
  }

  /** Every value left. */
  all(): TagValue[] {
    const values: TagValue[] = [];
    while (!this.done) values.push(this.next());
    return values;
  }

  next(): TagValue {
    const at = this.#at;
    const tag = this.#take(1)[0]!;
    switch (tag) {
      case TAG.string:
        return { kind: 'string', value: this.#cString() };
      case TAG.stringNull:
        return { kind: 'string', value: null };
      case TAG.u32:
        return { kind: 'u32', value: this.#take(4).readUInt32BE(0) };
      case TAG.u8:
        return { kind: 'u8', value: this.#take(1)[0]! };
      case TAG.u64:
        return { kind: 'u64', value: this.#take(8).readBigUInt64BE(0) };
      case TAG.s64:
        return { kind: 's64', value: this.#take(8).readBigInt64BE(0) };
      case TAG.usec:
        return { kind: 'usec', value: this.#take(8).readBigUInt64BE(0) };
      case TAG.boolTrue:
        return { kind: 'bool', value: true };
      case TAG.boolFalse:
        return { kind: 'bool', value: false };
      case TAG.arbitrary: {
        const length = this.#take(4).readUInt32BE(0);
        return { kind: 'arbitrary', value: Buffer.from(this.#take(length)) };
      }
      case TAG.sampleSpec: {
        const bytes = this.#take(6);
        return { kind: 'sampleSpec', format: bytes[0]!, channels: bytes[1]!, rate: bytes.readUInt32BE(2) };
      }
      case TAG.timeval: {
        const bytes = this.#take(8);
        return { kind: 'timeval', seconds: bytes.readUInt32BE(0), microseconds: bytes.readUInt32BE(4) };
      }
      case TAG.channelMap:
        return { kind: 'channelMap', value: [...this.#take(this.#channels(at))] };
      case TAG.cvolume: {
        const count = this.#channels(at);
        const bytes = this.#take(4 * count);
        return { kind: 'cvolume', value: Array.from({ length: count }, (_, i) => bytes.readUInt32BE(4 * i)) };
      }
      case TAG.volume:
        return { kind: 'volume', value: this.#take(4).readUInt32BE(0) };
      case TAG.proplist:
        return { kind: 'proplist', value: this.#proplist(at) };
      case TAG.formatInfo: {
        const encoding = this.expect('u8').value;
        const properties = this.expect('proplist').value;
        return { kind: 'formatInfo', encoding, properties };
      }
      default:
        throw new TagstructError(`unknown tag 0x${tag.toString(16)} at byte ${at}`);
    }
  }

  /** The next value, which must be of `kind`. */
  expect<K extends TagKind>(kind: K): Extract<TagValue, { kind: K }> {
    const at = this.#at;
    const value = this.next();
    if (value.kind !== kind) throw new TagstructError(`expected ${kind} at byte ${at}, found ${value.kind}`);
    return value as Extract<TagValue, { kind: K }>;
  }

  #take(length: number): Buffer {
    if (length > this.data.length - this.#at) throw new TagstructError(`truncated: ${length} bytes wanted at byte ${this.#at} of ${this.data.length}`);
    const bytes = this.data.subarray(this.#at, this.#at + length);
    this.#at += length;
    return bytes;
  }

  #cString(): string {
    const end = this.data.indexOf(0, this.#at);
    if (end < 0) throw new TagstructError(`unterminated string at byte ${this.#at}`);
    if (end - this.#at > MAX_STRING_BYTES) throw new TagstructError(`string of ${end - this.#at} bytes at byte ${this.#at} (at most ${MAX_STRING_BYTES})`);
    const text = this.data.toString('utf8', this.#at, end);
    this.#at = end + 1;
    return text;
  }

  #channels(at: number): number {
    const count = this.#take(1)[0]!;
    if (count > MAX_CHANNELS) throw new TagstructError(`${count} channels at byte ${at} (at most ${MAX_CHANNELS})`);
    return count;
  }

  /** key (string), length (u32), value (arbitrary of that length) … ended by a null string. */
  #proplist(at: number): Record<string, string> {
    const properties: Record<string, string> = Object.create(null) as Record<string, string>;
    for (let entries = 0; ; entries++) {
      const key = this.expect('string').value;
      if (key === null) return properties;
      if (entries >= MAX_PROPLIST_ENTRIES) throw new TagstructError(`proplist at byte ${at} has more than ${MAX_PROPLIST_ENTRIES} entries`);
      const length = this.expect('u32').value;
      const value = this.expect('arbitrary').value;
      if (value.length !== length) throw new TagstructError(`property ${JSON.stringify(key)}: length ${length} but ${value.length} bytes`);
      if (value.length > MAX_STRING_BYTES) throw new TagstructError(`property ${JSON.stringify(key)} of ${value.length} bytes (at most ${MAX_STRING_BYTES})`);
      // Text properties carry their terminating NUL; the value is the text before it.
      const end = value.indexOf(0);
      properties[key] = value.toString('utf8', 0, end < 0 ? value.length : end);
    }
  }
}
