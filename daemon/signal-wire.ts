/**
 * The daemon's D-Bus signals put on the wire directly: a signal of strings and
 * booleans is encoded by hand (its header fields built once per member) and the
 * signals of one tick leave in one write. dbus-next's general marshaller cost
 * about two thirds of the signals' CPU per switch (three signals a switch, each
 * through signature parsing, a tree of marshallers and four buffer copies), and
 * one socket write each the other third.
 *
 * Same bytes as dbus-next's own marshalling (test/daemon/signal-wire.test.ts
 * checks that), the bus's serials, the bus's connection in its order: a method
 * reply written by dbus-next in the same tick follows the signals before it.
 * Whatever this cannot encode (another signature, a string with a NUL) or a
 * connection it does not recognise goes through dbus-next as before.
 */
import type dbus from 'dbus-next';

const SIGNAL = 4;
const LITTLE_ENDIAN = 108;
const FIELD_PATH = 1;
const FIELD_INTERFACE = 2;
const FIELD_MEMBER = 3;
const FIELD_SIGNATURE = 8;

/** A signal argument this encoder writes: D-Bus `s` or `b`. */
export type WireArg = string | boolean;

/** The header fields of a signal (path, interface, member, signature), encoded from offset 12 of a message. */
function headerFields(path: string, iface: string, member: string, signature: string): Buffer {
  const parts: number[] = [];
  const align = (n: number) => {
    while ((12 + 4 + parts.length) % n !== 0) parts.push(0);
  };
  const field = (code: number, type: 'o' | 's' | 'g', value: string) => {
    align(8);
    parts.push(code, 1, type.charCodeAt(0), 0);
    const bytes = Buffer.from(value, 'utf8');
    if (type === 'g') parts.push(bytes.length);
    else {
      align(4);
      parts.push(bytes.length & 0xff, (bytes.length >> 8) & 0xff, (bytes.length >> 16) & 0xff, bytes.length >>> 24);
    }
    parts.push(...bytes, 0);
  };
  field(FIELD_PATH, 'o', path);
  field(FIELD_INTERFACE, 's', iface);
  field(FIELD_MEMBER, 's', member);
  field(FIELD_SIGNATURE, 'g', signature);
  const arrayLength = parts.length;
  align(8);
  const buffer = Buffer.alloc(4 + parts.length);
  buffer.writeUInt32LE(arrayLength, 0);
  Buffer.from(parts).copy(buffer, 4);
  return buffer;
}

/** Whether this encoder writes `signature` (only `s` and `b`). */
export function encodable(signature: string): boolean {
  return /^[sb]+$/.test(signature);
}

/**
 * One signal message, or null when an argument does not fit its signature
 * (the caller then lets dbus-next refuse it, as it always did).
 */
export function encodeSignal(serial: number, fields: Buffer, signature: string, args: readonly WireArg[]): Buffer | null {
  if (args.length !== signature.length) return null;
  let bodyLength = 0;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    bodyLength = (bodyLength + 3) & ~3;
    if (signature.charCodeAt(i) === 98 /* b */) {
      if (typeof arg !== 'boolean') return null;
      bodyLength += 4;
    } else {
      if (typeof arg !== 'string' || arg.includes('\0')) return null;
      bodyLength += 4 + Buffer.byteLength(arg, 'utf8') + 1;
    }
  }
  const headerLength = 12 + fields.length;
  const message = Buffer.alloc(headerLength + bodyLength);
  message[0] = LITTLE_ENDIAN;
  message[1] = SIGNAL;
  message[2] = 0; // flags
  message[3] = 1; // protocol version
  message.writeUInt32LE(bodyLength, 4);
  message.writeUInt32LE(serial, 8);
  fields.copy(message, 12);
  let at = headerLength;
  for (let i = 0; i < args.length; i++) {
    at = headerLength + ((at - headerLength + 3) & ~3);
    const arg = args[i]!;
    if (typeof arg === 'boolean') {
      message.writeUInt32LE(arg ? 1 : 0, at);
      at += 4;
    } else {
      const length = message.write(arg, at + 4, 'utf8');
      message.writeUInt32LE(length, at);
      at += 4 + length + 1; // the NUL is already there (alloc zero-fills)
    }
  }
  return message;
}

/** The parts of dbus-next's connection this writer uses (not in its typings). */
interface BusInternals {
  _connection?: { state?: string; stream?: { writable?: boolean; supportsUnixFd?: boolean; write(chunk: unknown): boolean; cork?(): void; uncork?(): void } };
}

export class SignalWire {
  readonly #fields = new Map<string, Buffer>();
  #corked = false;

  constructor(
    private readonly bus: dbus.MessageBus,
    private readonly path: string,
    private readonly iface: string,
    /** Each signal's signature (api/names.ts). */
    private readonly signatures: Readonly<Record<string, { signature: string }>>,
  ) {}

  /** The member's header fields, encoded once; undefined for a signal this does not encode. */
  fieldsOf(member: string): Buffer | undefined {
    const known = this.#fields.get(member);
    if (known) return known;
    const signature = this.signatures[member]?.signature;
    if (signature === undefined || !encodable(signature)) return undefined;
    const fields = headerFields(this.path, this.iface, member, signature);
    this.#fields.set(member, fields);
    return fields;
  }

  /**
   * Writes the signal and returns true, or returns false when it must go
   * through dbus-next (a signature or argument this does not encode, or a
   * connection not yet or no longer up).
   */
  send(member: string, args: readonly WireArg[]): boolean {
    const fields = this.fieldsOf(member);
    if (!fields) return false;
    const connection = (this.bus as unknown as BusInternals)._connection;
    const stream = connection?.stream;
    if (!stream || stream.writable !== true || connection?.state !== 'connected') return false;
    const message = encodeSignal(0, fields, this.signatures[member]!.signature, args);
    if (!message) return false;
    message.writeUInt32LE(this.bus.newSerial(), 8);
    // The signals of one tick (a decision's batch) leave in one write.
    if (!this.#corked && stream.cork && stream.uncork) {
      this.#corked = true;
      stream.cork();
      process.nextTick(() => {
        this.#corked = false;
        stream.uncork!();
      });
    }
    stream.write(stream.supportsUnixFd ? { data: message, fds: [] } : message);
    return true;
  }
}
