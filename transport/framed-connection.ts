import { EventEmitter } from 'node:events';
import net from 'node:net';
import { fdPassingSocket, writeWithFd } from './fd-passing.js';

/**
 * A decoder turns a byte stream into frames. It keeps at most a bounded amount of
 * unconsumed input and throws FramingError on anything it cannot accept, so a
 * hostile peer can cost us neither memory nor a crash.
 */
export interface FrameDecoder<Frame> {
  push(chunk: Buffer): Frame[];
}

/** A peer sent bytes that break the framing (bad magic, oversized frame, …). */
export class FramingError extends Error {
  override name = 'FramingError';
}

/** The socket could not be opened at all. */
export class ConnectFailedError extends Error {
  override name = 'ConnectFailedError';
  constructor(readonly path: string, readonly code: string | undefined, options?: ErrorOptions) {
    super(`cannot connect to ${path}: ${code ?? 'error'}`, options);
  }
}

export type CloseReason =
  | { kind: 'eof' } // the peer closed the stream
  | { kind: 'local' } // we called close()
  | { kind: 'error'; error: Error }; // socket error or framing violation

interface FramedConnectionEvents<Frame> {
  frame: [Frame];
  close: [CloseReason];
}

/**
 * A unix stream socket plus a decoder: the one piece of socket handling that both
 * the i3/sway IPC client and the QMP client stand on. Emits `frame` for every
 * decoded frame and exactly one `close`.
 */
export class FramedConnection<Frame> extends EventEmitter<FramedConnectionEvents<Frame>> {
  #closed = false;

  readonly #passFds: boolean;

  private constructor(private readonly socket: net.Socket, private readonly decoder: FrameDecoder<Frame>, passFds = false) {
    super();
    this.#passFds = passFds;
    socket.on('data', (chunk: Buffer) => this.#onData(chunk));
    socket.on('error', (error) => this.#finish({ kind: 'error', error }));
    socket.on('close', () => this.#finish({ kind: 'eof' }));
  }

  /** `passFds`: a socket that can hand descriptors to the peer (./fd-passing.ts), where Node offers one. */
  static connect<Frame>(path: string, decoder: FrameDecoder<Frame>, options: { passFds?: boolean } = {}): Promise<FramedConnection<Frame>> {
    return new Promise((resolve, reject) => {
      const ipc = options.passFds ? fdPassingSocket() : null;
      const socket = ipc ? ipc.connect({ path }) : net.createConnection({ path });
      const onError = (error: NodeJS.ErrnoException) => {
        socket.destroy();
        reject(new ConnectFailedError(path, error.code, { cause: error }));
      };
      socket.once('error', onError);
      socket.once('connect', () => {
        socket.off('error', onError);
        resolve(new FramedConnection(socket, decoder, ipc !== null));
      });
    });
  }

  get closed(): boolean {
    return this.#closed;
  }

  write(bytes: Buffer | string): void {
    if (this.#closed) throw new Error('write on a closed connection');
    this.socket.write(bytes);
  }

  /** Whether writeWithFd can hand descriptors to the peer on this connection. */
  get canPassFds(): boolean {
    return this.#passFds && !this.#closed;
  }

  /** Writes `bytes` with `fd` attached (SCM_RIGHTS); `fd` is consumed (closed once sent). After any queued write. */
  async writeWithFd(bytes: string, fd: number): Promise<void> {
    if (this.#closed) throw new Error('write on a closed connection');
    if (this.socket.writableLength > 0) await new Promise((resolve) => this.socket.once('drain', resolve));
    await writeWithFd(this.socket, bytes, fd);
  }

  close(): void {
    this.#finish({ kind: 'local' });
  }

  #onData(chunk: Buffer): void {
    if (this.#closed) return;
    let frames: Frame[];
    try {
      frames = this.decoder.push(chunk);
    } catch (error) {
      this.#finish({ kind: 'error', error: error instanceof Error ? error : new FramingError(String(error)) });
      return;
    }
    for (const frame of frames) {
      if (this.#closed) return;
      this.emit('frame', frame);
    }
  }

  #finish(reason: CloseReason): void {
    if (this.#closed) return;
    this.#closed = true;
    this.socket.destroy();
    this.emit('close', reason);
  }
}

/** Newline-delimited frames (QMP), each at most `maxLineBytes` long. */
export class LineDecoder implements FrameDecoder<string> {
  #pending: Buffer[] = [];
  #pendingBytes = 0;

  constructor(private readonly maxLineBytes: number) {}

  push(chunk: Buffer): string[] {
    const lines: string[] = [];
    let start = 0;
    for (let nl = chunk.indexOf(0x0a); nl !== -1; nl = chunk.indexOf(0x0a, start)) {
      const piece = chunk.subarray(start, nl);
      this.#checkBound(piece.length);
      this.#pending.push(piece);
      lines.push(Buffer.concat(this.#pending).toString('utf8'));
      this.#pending = [];
      this.#pendingBytes = 0;
      start = nl + 1;
    }
    const rest = chunk.subarray(start);
    if (rest.length > 0) {
      this.#checkBound(rest.length);
      this.#pending.push(Buffer.from(rest));
      this.#pendingBytes += rest.length;
    }
    return lines;
  }

  #checkBound(extra: number): void {
    if (this.#pendingBytes + extra > this.maxLineBytes) {
      throw new FramingError(`line longer than ${this.maxLineBytes} bytes`);
    }
  }
}
