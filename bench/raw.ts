/**
 * The bench's own ends of sway's IPC and QMP, by hand on node:net: the bench takes
 * its timestamps at the socket (t0 right before a write, t1 when the bytes arrive,
 * before any parsing), so no client library sits between the clock and the wire.
 */
import net from 'node:net';
import { performance } from 'node:perf_hooks';

const MAGIC = Buffer.from('i3-ipc');
const HEADER = 14;
export const RUN_COMMAND = 0;
export const SUBSCRIBE = 2;
export const WORKSPACE_EVENT = 0x80000000;

export function ipcFrame(type: number, payload: string): Buffer {
  const body = Buffer.from(payload, 'utf8');
  const head = Buffer.alloc(HEADER);
  MAGIC.copy(head, 0);
  head.writeUInt32LE(body.length, 6);
  head.writeUInt32LE(type, 10);
  return Buffer.concat([head, body]);
}

function connect(path: string): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.createConnection({ path });
    socket.once('connect', () => {
      socket.off('error', reject);
      resolve(socket);
    });
    socket.once('error', reject);
  });
}

/** One i3-ipc connection: replies in order; events with the time their chunk arrived. */
export class IpcSocket {
  #buffer: Buffer = Buffer.alloc(0);
  #replies: ((body: unknown) => void)[] = [];
  onEvent: ((type: number, body: unknown, at: number) => void) | undefined;

  private constructor(readonly socket: net.Socket) {
    socket.on('data', (chunk: Buffer) => {
      const at = performance.now();
      this.#buffer = this.#buffer.length === 0 ? chunk : Buffer.concat([this.#buffer, chunk]);
      while (this.#buffer.length >= HEADER) {
        const length = this.#buffer.readUInt32LE(6);
        if (this.#buffer.length < HEADER + length) break;
        const type = this.#buffer.readUInt32LE(10);
        const body: unknown = JSON.parse(this.#buffer.subarray(HEADER, HEADER + length).toString('utf8'));
        this.#buffer = this.#buffer.subarray(HEADER + length);
        if ((type & WORKSPACE_EVENT) === 0) this.#replies.shift()?.(body);
        else this.onEvent?.(type, body, at);
      }
    });
    socket.on('error', () => {}); // a closed WM ends the bench through its timeouts
  }

  static async connect(path: string): Promise<IpcSocket> {
    return new IpcSocket(await connect(path));
  }

  /** Writes a prepared frame; `at` = performance.now() just before the write. */
  send(frame: Buffer): { at: number; reply: Promise<unknown> } {
    const reply = new Promise<unknown>((resolve) => this.#replies.push(resolve));
    const at = performance.now();
    this.socket.write(frame);
    return { at, reply };
  }

  request(type: number, payload: string): Promise<unknown> {
    return this.send(ipcFrame(type, payload)).reply;
  }

  close(): void {
    this.socket.destroy();
  }
}

type QmpMessage = { event?: string; return?: unknown; error?: { class: string; desc: string }; QMP?: unknown };

/**
 * A QMP monitor of the bench's own: follows the VM's run state from STOP/RESUME and
 * stamps each event with the arrival time of the chunk that carried it.
 */
export class QmpObserver {
  running = false;
  /** performance.now() of the last STOP/RESUME. */
  lastEventAt = 0;
  #text = '';
  #replies: ((message: QmpMessage) => void)[] = [];
  #waiters: { event: string; resolve: (at: number) => void }[] = [];

  private constructor(readonly socket: net.Socket) {
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      const at = performance.now();
      this.#text += chunk;
      for (let nl = this.#text.indexOf('\n'); nl >= 0; nl = this.#text.indexOf('\n')) {
        const line = this.#text.slice(0, nl).trim();
        this.#text = this.#text.slice(nl + 1);
        if (line) this.#message(JSON.parse(line) as QmpMessage, at);
      }
    });
    socket.on('error', () => {});
  }

  #message(message: QmpMessage, at: number): void {
    if (message.event === 'STOP' || message.event === 'RESUME') {
      this.running = message.event === 'RESUME';
      this.lastEventAt = at;
      const ready = this.#waiters.filter((w) => w.event === message.event);
      this.#waiters = this.#waiters.filter((w) => w.event !== message.event);
      for (const waiter of ready) waiter.resolve(at);
    } else if (message.event === undefined && message.QMP === undefined) {
      this.#replies.shift()?.(message);
    }
  }

  static async connect(path: string): Promise<QmpObserver> {
    const observer = new QmpObserver(await connect(path));
    await observer.execute('qmp_capabilities'); // the greeting is skipped: it is neither event nor reply
    const status = (await observer.execute('query-status')) as { running: boolean };
    observer.running = status.running;
    return observer;
  }

  /** Sends a command; resolves with its `return` (rejects on `error`). */
  execute(command: string): Promise<unknown> {
    return this.send(command).reply;
  }

  /** Writes `command`; `at` = performance.now() just before the write. */
  send(command: string): { at: number; reply: Promise<unknown> } {
    const reply = new Promise<unknown>((resolve, reject) =>
      this.#replies.push((m) => (m.error ? reject(new Error(`${command}: ${m.error.class}: ${m.error.desc}`)) : resolve(m.return))),
    );
    const line = `{"execute":"${command}"}\n`;
    const at = performance.now();
    this.socket.write(line);
    return { at, reply };
  }

  /** Resolves with the arrival time of the next `event`. */
  next(event: 'STOP' | 'RESUME'): Promise<number> {
    return new Promise((resolve) => this.#waiters.push({ event, resolve }));
  }

  close(): void {
    this.socket.destroy();
  }
}
