/**
 * A private Ethernet LAN for test VMs: a tiny L2 hub on a unix stream socket.
 * Every QEMU connects with `-netdev stream,server=off,addr.type=unix,addr.path=HUB`
 * (QEMU ≥ 7.2); the stream carries frames as a 4-byte big-endian length, then
 * the frame. Each frame one VM sends goes to every other VM. Nothing reaches a
 * real network: no host interface, no multicast netdev, no IP address on the host.
 */
import fs from 'node:fs';
import net from 'node:net';
import { FramingError, type FrameDecoder } from '../../transport/framed-connection.js';

/** An Ethernet frame with a VLAN tag and jumbo slack; anything longer breaks the framing. */
export const MAX_FRAME_BYTES = 65_536;

/** QEMU's stream netdev framing: u32 BE length, then that many bytes. */
export class LengthPrefixedDecoder implements FrameDecoder<Buffer> {
  #pending: Buffer = Buffer.alloc(0);

  push(chunk: Buffer): Buffer[] {
    this.#pending = this.#pending.length ? Buffer.concat([this.#pending, chunk]) : chunk;
    const frames: Buffer[] = [];
    while (this.#pending.length >= 4) {
      const length = this.#pending.readUInt32BE(0);
      if (length > MAX_FRAME_BYTES) throw new FramingError(`a frame of ${length} bytes (at most ${MAX_FRAME_BYTES})`);
      if (this.#pending.length < 4 + length) break;
      frames.push(this.#pending.subarray(4, 4 + length));
      this.#pending = this.#pending.subarray(4 + length);
    }
    return frames;
  }
}

export function encodeFrame(frame: Buffer): Buffer {
  const header = Buffer.alloc(4);
  header.writeUInt32BE(frame.length);
  return Buffer.concat([header, frame]);
}

export interface LanHub {
  readonly socketPath: string;
  /** QEMU arguments that put a VM on this LAN with the given MAC address. */
  qemuArgs(mac: string): string[];
  close(): Promise<void>;
}

export async function startLanHub(socketPath: string): Promise<LanHub> {
  const ports = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    ports.add(socket);
    const decoder = new LengthPrefixedDecoder();
    socket.on('data', (chunk: Buffer) => {
      let frames: Buffer[];
      try {
        frames = decoder.push(chunk);
      } catch {
        socket.destroy();
        return;
      }
      for (const frame of frames) {
        const bytes = encodeFrame(frame);
        for (const other of ports) if (other !== socket && !other.destroyed) other.write(bytes);
      }
    });
    socket.on('error', () => socket.destroy());
    socket.on('close', () => ports.delete(socket));
  });
  fs.rmSync(socketPath, { force: true });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(socketPath, () => resolve());
  });
  fs.chmodSync(socketPath, 0o600);
  return {
    socketPath,
    qemuArgs: (mac) => [
      '-netdev', `stream,id=lan,server=off,addr.type=unix,addr.path=${socketPath}`,
      '-device', `virtio-net-pci,netdev=lan,mac=${mac}`,
    ],
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of ports) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
