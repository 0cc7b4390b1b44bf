/**
 * One connection to the sound server's native socket (a unix socket: the
 * member's own PulseAudio or pipewire-pulse), kept open: each request is one
 * message on it and its reply, a millisecond, where a `pactl` process per
 * command costs tens. The transport only: what the messages mean is
 * protocol.ts.
 *
 * A request not answered within its timeout, a malformed message, or the
 * socket closing ends the connection: every pending request rejects and
 * `closed` resolves with the reason, once. Whoever holds the connection
 * (mic-guard.ts) opens a new one.
 */
import { EventEmitter } from 'node:events';
import net from 'node:net';
import {
  errorText,
  FrameReader,
  frame,
  parseAuthReply,
  parseMessage,
  parseSourceOutputs,
  ProtocolError,
  requests,
  SUBSCRIPTION_MASK_SOURCE_OUTPUT,
  type Message,
  type SourceOutput,
} from './protocol.js';

/** The server answers in far less; one that does not is treated as gone. */
export const REQUEST_TIMEOUT_MS = 5000;

type SubscriptionEvent = Extract<Message, { kind: 'event' }>;

interface Pending {
  resolve: (body: Buffer) => void;
  reject: (error: Error) => void;
  timer: NodeJS.Timeout;
}

export class ServerError extends Error {
  override name = 'ServerError';
  constructor(
    readonly code: number,
    what: string,
  ) {
    super(`the sound server refused ${what}: ${errorText(code)}`);
  }
}

export class NativeConnection {
  readonly #socket: net.Socket;
  readonly #frames = new FrameReader();
  readonly #pending = new Map<number, Pending>();
  readonly #events = new EventEmitter<{ event: [SubscriptionEvent] }>();
  #nextTag = 0;
  #ended: Error | null = null;
  readonly closed: Promise<Error>;
  #close!: (reason: Error) => void;

  private constructor(socket: net.Socket) {
    this.#socket = socket;
    this.closed = new Promise((resolve) => (this.#close = resolve));
    socket.on('data', (chunk: Buffer) => this.#receive(chunk));
    socket.on('error', (error) => this.#end(error));
    socket.on('close', () => this.#end(new Error('the sound server closed the connection')));
  }

  /**
   * Connects, authenticates (the cookie, or the socket's peer credentials when
   * it is all zero), names itself, and subscribes to capture-stream events.
   */
  static async open(socketPath: string, cookie: Buffer, name: string): Promise<NativeConnection> {
    const socket = net.connect(socketPath);
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', () => (socket.off('error', reject), resolve()));
      socket.once('error', reject);
    });
    const connection = new NativeConnection(socket);
    try {
      parseAuthReply(await connection.#request('authentication', (tag) => requests.auth(tag, cookie)));
      await connection.#request('the client name', (tag) => requests.setClientName(tag, { 'application.name': name }));
      await connection.#request('the subscription', (tag) => requests.subscribe(tag, SUBSCRIPTION_MASK_SOURCE_OUTPUT));
    } catch (error) {
      connection.close();
      throw error;
    }
    return connection;
  }

  /** Each subscription event (capture streams new, changed, removed). */
  onEvent(listener: (event: SubscriptionEvent) => void): void {
    this.#events.on('event', listener);
  }

  async sourceOutputs(): Promise<SourceOutput[]> {
    return parseSourceOutputs(await this.#request('the list of capture streams', (tag) => requests.sourceOutputs(tag)));
  }

  async setSourceOutputMute(index: number, mute: boolean): Promise<void> {
    await this.#request(`to ${mute ? 'mute' : 'unmute'} capture stream #${index}`, (tag) => requests.setSourceOutputMute(tag, index, mute));
  }

  close(): void {
    this.#end(new Error('closed by the client'));
  }

  #request(what: string, payload: (tag: number) => Buffer): Promise<Buffer> {
    if (this.#ended) return Promise.reject(this.#ended);
    const tag = this.#nextTag;
    // Wraps long before 0xffffffff, the tag of the server's own messages (events).
    this.#nextTag = (this.#nextTag + 1) % 0x7fffffff;
    return new Promise<Buffer>((resolve, reject) => {
      const timer = setTimeout(() => this.#end(new ProtocolError(`no answer to ${what} within ${REQUEST_TIMEOUT_MS} ms`)), REQUEST_TIMEOUT_MS);
      this.#pending.set(tag, { resolve, reject, timer });
      // A failed write reports on the socket's 'error'; it ends the connection there.
      this.#socket.write(frame(payload(tag)));
    }).catch((error: unknown) => {
      if (error instanceof ServerError) throw new ServerError(error.code, what);
      throw new Error(`${what}: ${(error as Error).message}`, { cause: error });
    });
  }

  #receive(chunk: Buffer): void {
    if (this.#ended) return;
    try {
      for (const payload of this.#frames.push(chunk)) this.#dispatch(parseMessage(payload));
    } catch (error) {
      this.#end(error instanceof Error ? error : new Error(String(error)));
    }
  }

  #dispatch(message: Message): void {
    switch (message.kind) {
      case 'reply':
      case 'error': {
        const pending = this.#pending.get(message.tag);
        if (!pending) throw new ProtocolError(`an answer to request ${message.tag}, which is not pending`);
        this.#pending.delete(message.tag);
        clearTimeout(pending.timer);
        if (message.kind === 'reply') pending.resolve(message.body);
        else pending.reject(new ServerError(message.code, 'a request'));
        return;
      }
      case 'event':
        this.#events.emit('event', message);
        return;
      case 'other':
        return;
      default: {
        const never: never = message;
        throw new ProtocolError(`unhandled message ${JSON.stringify(never)}`);
      }
    }
  }

  #end(reason: Error): void {
    if (this.#ended) return;
    this.#ended = reason;
    for (const pending of this.#pending.values()) {
      clearTimeout(pending.timer);
      pending.reject(reason);
    }
    this.#pending.clear();
    this.#events.removeAllListeners();
    this.#socket.destroy();
    this.#close(reason);
  }
}
