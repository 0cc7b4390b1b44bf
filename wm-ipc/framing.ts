/**
 * The i3-ipc frame: "i3-ipc", a 32-bit payload length in bytes, a 32-bit
 * message type (both in native byte order), then the UTF-8 payload.
 * Lengths count bytes, never JavaScript string units: a workspace named
 * "2: vm-été 🖥" is 15 characters but 18 bytes.
 */
import os from 'node:os';
import { FramingError, type FrameDecoder } from '../transport/framed-connection.js';

export const MAGIC = Buffer.from('i3-ipc', 'ascii');
export const HEADER_BYTES = MAGIC.length + 8;
/** Real trees are a few MiB at most; anything larger is a broken or hostile peer. */
export const MAX_PAYLOAD_BYTES = 64 * 1024 * 1024;

const littleEndian = os.endianness() === 'LE';

export interface IpcFrame {
  type: number;
  payload: Buffer;
}

export function encodeFrame(type: number, payload: string | Buffer = ''): Buffer {
  const body = typeof payload === 'string' ? Buffer.from(payload, 'utf8') : payload;
  const header = Buffer.alloc(HEADER_BYTES);
  MAGIC.copy(header, 0);
  if (littleEndian) {
    header.writeUInt32LE(body.length, MAGIC.length);
    header.writeUInt32LE(type >>> 0, MAGIC.length + 4);
  } else {
    header.writeUInt32BE(body.length, MAGIC.length);
    header.writeUInt32BE(type >>> 0, MAGIC.length + 4);
  }
  return Buffer.concat([header, body]);
}

export class IpcFrameDecoder implements FrameDecoder<IpcFrame> {
  #buffer: Buffer = Buffer.alloc(0);

  constructor(private readonly maxPayloadBytes = MAX_PAYLOAD_BYTES) {}

  push(chunk: Buffer): IpcFrame[] {
    this.#buffer = this.#buffer.length === 0 ? chunk : Buffer.concat([this.#buffer, chunk]);
    const frames: IpcFrame[] = [];
    let offset = 0;
    while (this.#buffer.length - offset >= MAGIC.length) {
      // Check the magic as soon as it is there, before waiting for the rest.
      if (!this.#buffer.subarray(offset, offset + MAGIC.length).equals(MAGIC)) {
        throw new FramingError('bad magic: the peer does not speak i3-ipc');
      }
      if (this.#buffer.length - offset < HEADER_BYTES) break;
      const length = littleEndian
        ? this.#buffer.readUInt32LE(offset + MAGIC.length)
        : this.#buffer.readUInt32BE(offset + MAGIC.length);
      if (length > this.maxPayloadBytes) {
        throw new FramingError(`frame of ${length} bytes exceeds the ${this.maxPayloadBytes}-byte bound`);
      }
      const type = littleEndian
        ? this.#buffer.readUInt32LE(offset + MAGIC.length + 4)
        : this.#buffer.readUInt32BE(offset + MAGIC.length + 4);
      if (this.#buffer.length - offset < HEADER_BYTES + length) break;
      const start = offset + HEADER_BYTES;
      frames.push({ type, payload: Buffer.from(this.#buffer.subarray(start, start + length)) });
      offset = start + length;
    }
    // Keep only the unconsumed tail (never more than one bounded frame).
    this.#buffer = offset === 0 ? this.#buffer : Buffer.from(this.#buffer.subarray(offset));
    return frames;
  }
}
