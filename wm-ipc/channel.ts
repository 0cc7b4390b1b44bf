/**
 * One IPC connection: requests answered in order (i3 and sway reply FIFO, and
 * each reply carries the request's type, which we check), and events pushed by
 * the WM once subscribed. The client opens two of these, as waybar and
 * i3ipc-python do, so a burst of events never delays a reply.
 */
import { EventEmitter } from 'node:events';
import { FramedConnection, type CloseReason } from '../transport/framed-connection.js';
import { WmConnectionError, WmProtocolError, type WmIpcError } from './errors.js';
import { encodeFrame, IpcFrameDecoder, type IpcFrame } from './framing.js';
import { EVENT_BIT, eventNameOf, type EventName } from './protocol.js';
import { errorMessage } from '../shared/error-message.js';

interface Pending {
  type: number;
  resolve: (payload: unknown) => void;
  reject: (error: Error) => void;
}

export interface RawEvent {
  name: EventName;
  body: unknown;
  /** performance.now() when the frame arrived, before it was parsed. */
  receivedAt: number;
}

interface ChannelEvents {
  event: [RawEvent];
  /** The connection is gone; `error` is undefined for a clean EOF or a local close. */
  close: [{ reason: CloseReason['kind']; error: WmIpcError | undefined }];
}

export class IpcChannel extends EventEmitter<ChannelEvents> {
  #pending: Pending[] = [];

  private constructor(private readonly connection: FramedConnection<IpcFrame>, readonly path: string) {
    super();
    connection.on('frame', (frame) => this.#onFrame(frame));
    connection.on('close', (reason) => this.#onClose(reason));
  }

  static async open(path: string): Promise<IpcChannel> {
    try {
      return new IpcChannel(await FramedConnection.connect(path, new IpcFrameDecoder()), path);
    } catch (error) {
      throw new WmConnectionError(errorMessage(error), { cause: error });
    }
  }

  get closed(): boolean {
    return this.connection.closed;
  }

  /** Sends one message and resolves with the parsed JSON of its reply. */
  request(type: number, payload = ''): Promise<unknown> {
    if (this.connection.closed) return Promise.reject(new WmConnectionError(`not connected to ${this.path}`));
    return new Promise((resolve, reject) => {
      this.#pending.push({ type, resolve, reject });
      this.connection.write(encodeFrame(type, payload));
    });
  }

  close(): void {
    this.connection.close();
  }

  #fail(error: WmProtocolError): void {
    this.#closeError = error;
    this.connection.close();
  }

  #closeError: WmIpcError | undefined;

  #onFrame(frame: IpcFrame): void {
    const receivedAt = performance.now();
    let body: unknown;
    try {
      body = JSON.parse(frame.payload.toString('utf8'));
    } catch {
      return this.#fail(new WmProtocolError(`payload of message type ${frame.type} is not JSON`));
    }
    if ((frame.type & EVENT_BIT) !== 0) {
      const name = eventNameOf(frame.type);
      if (name) this.emit('event', { name, body, receivedAt });
      return; // an event type newer than us: ignore it, as the WMs' own clients do
    }
    const pending = this.#pending.shift();
    if (!pending) return this.#fail(new WmProtocolError(`unsolicited reply of type ${frame.type}`));
    if (pending.type !== frame.type) {
      pending.reject(new WmProtocolError(`reply of type ${frame.type} to a request of type ${pending.type}`));
      return this.#fail(new WmProtocolError('replies out of step with requests'));
    }
    pending.resolve(body);
  }

  #onClose(reason: CloseReason): void {
    let error = this.#closeError;
    if (!error && reason.kind === 'error') {
      error =
        reason.error.name === 'FramingError'
          ? new WmProtocolError(reason.error.message, { cause: reason.error })
          : new WmConnectionError(`connection to ${this.path} failed: ${reason.error.message}`, { cause: reason.error });
    }
    const pendingError = error ?? new WmConnectionError(`connection to ${this.path} closed`);
    for (const pending of this.#pending.splice(0)) pending.reject(pendingError);
    this.emit('close', { reason: reason.kind, error });
  }
}
