/** A unix socket server that plays a scripted (often hostile) peer, for protocol tests. */
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

export interface FakeServer {
  path: string;
  /** Resolves with each connection as it arrives. */
  nextConnection(): Promise<net.Socket>;
  close(): Promise<void>;
}

export async function startFakeServer(): Promise<FakeServer> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fake-'));
  const socketPath = path.join(dir, 's.sock');
  const waiting: ((socket: net.Socket) => void)[] = [];
  const arrived: net.Socket[] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => {});
    const waiter = waiting.shift();
    if (waiter) waiter(socket);
    else arrived.push(socket);
  });
  await new Promise<void>((resolve) => server.listen(socketPath, resolve));
  return {
    path: socketPath,
    nextConnection: () =>
      new Promise((resolve) => {
        const socket = arrived.shift();
        if (socket) resolve(socket);
        else waiting.push(resolve);
      }),
    close: () =>
      new Promise((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => {
          fs.rmSync(dir, { recursive: true, force: true });
          resolve();
        });
      }),
  };
}

/** Collects bytes from a socket until `count` bytes arrived. */
export function readBytes(socket: net.Socket, count: number): Promise<Buffer> {
  return new Promise((resolve) => {
    let buffer = Buffer.alloc(0);
    const onData = (chunk: Buffer) => {
      buffer = Buffer.concat([buffer, chunk]);
      if (buffer.length >= count) {
        socket.off('data', onData);
        if (buffer.length > count) socket.unshift(buffer.subarray(count));
        resolve(buffer.subarray(0, count));
      }
    };
    socket.on('data', onData);
  });
}

/** Reads one newline-terminated line. */
export function readLine(socket: net.Socket): Promise<string> {
  return new Promise((resolve) => {
    let buffer = Buffer.alloc(0);
    const onData = (chunk: Buffer) => {
      buffer = Buffer.concat([buffer, chunk]);
      const nl = buffer.indexOf(0x0a);
      if (nl !== -1) {
        socket.off('data', onData);
        if (nl + 1 < buffer.length) socket.unshift(buffer.subarray(nl + 1));
        resolve(buffer.subarray(0, nl).toString('utf8'));
      }
    };
    socket.on('data', onData);
  });
}
