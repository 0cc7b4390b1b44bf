/**
 * A QMP client after QEMU's python qemu.qmp: greeting, capabilities
 * negotiation, commands with unique ids matched through a pending map, typed
 * events with their data and timestamp, and one error tree (errors.ts).
 *
 * Order matters in QMP: STOP/RESUME are emitted before the reply to stop/cont,
 * so a listener sees the event before the command's promise resolves.
 */
import { EventEmitter } from 'node:events';
import fs from 'node:fs';
import { FramedConnection, LineDecoder, type CloseReason } from '../transport/framed-connection.js';
import {
  QmpCommandError,
  QmpConnectError,
  QmpDisconnectedError,
  QmpError,
  QmpHmpError,
  QmpProtocolError,
  QmpTimeoutError,
} from './errors.js';
import {
  ErrorMessage,
  EventData,
  EventMessage,
  Greeting,
  ReturnMessage,
  COMMANDS,
  type CommandName,
  type Commands,
  type KnownEvent,
  type QmpEvent,
} from './protocol.js';
import { errorMessage } from '../shared/error-message.js';

/** As libvirt and qemu.qmp: no QMP message is legitimately longer. */
export const MAX_LINE_BYTES = 10 * 1024 * 1024;

export interface QmpClientOptions {
  /** How long to wait for the greeting and the negotiation (default 5 s). */
  connectTimeoutMs?: number;
  /** Default per-command timeout (default 30 s); `execute` can override it. */
  commandTimeoutMs?: number;
}

interface Pending {
  command: string;
  resolve: (value: unknown) => void;
  reject: (error: QmpError) => void;
  timer: NodeJS.Timeout | undefined;
}

type ClientEvents = {
  /** Every event, as QEMU sent it. */
  event: [EventMessage];
  /** Something QEMU sent that we dropped (a reply nobody waits for, an event of an unexpected shape). */
  warning: [string];
  /** The session is over; `error` is undefined for a clean EOF or a local close. */
  close: [QmpError | undefined];
};

type ArgsOf<K extends CommandName> = Commands[K]['args'] extends undefined
  ? [args?: undefined, options?: { timeoutMs?: number }]
  : [args: Commands[K]['args'], options?: { timeoutMs?: number }];

export class QmpClient extends EventEmitter<ClientEvents> {
  #pending = new Map<string, Pending>();
  #nextId = 1;
  #closed = false;
  #closeError: QmpError | undefined;
  greeting!: Greeting;
  #onGreeting: ((line: unknown) => void) | undefined;

  private constructor(
    private readonly connection: FramedConnection<string>,
    readonly path: string,
    private readonly options: QmpClientOptions,
  ) {
    super();
    connection.on('frame', (line) => this.#onLine(line));
    connection.on('close', (reason) => this.#onClose(reason));
  }

  static async connect(path: string, options: QmpClientOptions = {}): Promise<QmpClient> {
    let connection: FramedConnection<string>;
    try {
      connection = await FramedConnection.connect(path, new LineDecoder(MAX_LINE_BYTES), { passFds: true });
    } catch (error) {
      throw new QmpConnectError(errorMessage(error), { cause: error });
    }
    const client = new QmpClient(connection, path, options);
    const timeoutMs = options.connectTimeoutMs ?? 5000;
    try {
      const greeting = await new Promise<unknown>((resolve, reject) => {
        const timer = setTimeout(() => reject(new QmpConnectError(`no QMP greeting within ${timeoutMs} ms`)), timeoutMs);
        const onClose = (error?: QmpError) => {
          clearTimeout(timer);
          reject(new QmpConnectError(`connection closed before the greeting${error ? `: ${error.message}` : ''}`));
        };
        client.#onGreeting = (line) => {
          clearTimeout(timer);
          client.off('close', onClose); // not kept for the client's whole life
          resolve(line);
        };
        client.once('close', onClose);
      });
      const parsed = Greeting.safeParse(greeting);
      if (!parsed.success) throw new QmpConnectError('the peer did not greet like QMP');
      client.greeting = parsed.data;
      await client.executeRaw('qmp_capabilities', undefined, { timeoutMs });
    } catch (error) {
      client.close();
      throw error instanceof QmpConnectError ? error : new QmpConnectError(`negotiation failed: ${errorMessage(error)}`, { cause: error });
    }
    return client;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Runs a known command with typed arguments and return. */
  execute<K extends CommandName>(command: K, ...[args, options]: ArgsOf<K>): Promise<Commands[K]['ret']> {
    return this.executeRaw(command, args as Record<string, unknown> | undefined, options) as Promise<Commands[K]['ret']>;
  }

  /** Whether this connection can hand QEMU a descriptor (`getfd`: transport/fd-passing.ts). */
  get canPassFds(): boolean {
    return this.connection.canPassFds;
  }

  /**
   * Hands QEMU an open descriptor under `name` (QMP `getfd`, the descriptor sent with the command
   * by SCM_RIGHTS); `fd` is consumed (closed here once sent: QEMU has its own copy).
   */
  passFd(name: string, fd: number, options: { timeoutMs?: number } = {}): Promise<unknown> {
    return this.executeRaw('getfd', { fdname: name }, { ...options, fd });
  }

  /** Runs any command; resolves with its `return`, rejects with a QmpError. */
  executeRaw(command: string, args?: Record<string, unknown>, options: { timeoutMs?: number; fd?: number } = {}): Promise<unknown> {
    if (this.#closed) {
      if (options.fd !== undefined) fs.closeSync(options.fd);
      return Promise.reject(new QmpDisconnectedError(`${command}: not connected to ${this.path}`));
    }
    const id = `hb-${this.#nextId++}`;
    const timeoutMs = options.timeoutMs ?? this.options.commandTimeoutMs ?? 30_000;
    const result = new Promise<unknown>((resolve, reject) => {
      const timer = timeoutMs > 0
        ? setTimeout(() => {
            // Leave the id out of the map: a late reply is then dropped as unknown.
            this.#pending.delete(id);
            reject(new QmpTimeoutError(command, timeoutMs));
          }, timeoutMs)
        : undefined;
      this.#pending.set(id, { command, resolve, reject, timer });
    });
    const message: Record<string, unknown> = { execute: command, id };
    if (args !== undefined) message.arguments = args;
    const line = JSON.stringify(message) + '\n';
    if (options.fd === undefined) this.connection.write(line);
    else {
      this.connection.writeWithFd(line, options.fd).catch((error: Error) => {
        const pending = this.#pending.get(id);
        if (!pending) return;
        this.#pending.delete(id);
        if (pending.timer) clearTimeout(pending.timer);
        pending.reject(new QmpDisconnectedError(`${command}: ${error.message}`));
      });
    }
    return result.then((value) => this.#checkReturn(command, args, value));
  }

  /** Runs a HMP command line; QEMU's "Error: …" answers become QmpHmpError. */
  hmp(commandLine: string): Promise<string> {
    return this.execute('human-monitor-command', { 'command-line': commandLine });
  }

  /** Listens for one event type with typed data; returns the unsubscribe function. */
  onEvent<K extends KnownEvent>(name: K, listener: (event: QmpEvent<K>) => void): () => void {
    const wrapped = (message: EventMessage) => {
      if (message.event !== name) return;
      const data = EventData[name].safeParse(message.data ?? {});
      if (!data.success) {
        this.emit('warning', `${name} event with unexpected data: ${data.error.message}`);
        return;
      }
      listener({ event: name, data: data.data, timestamp: message.timestamp } as QmpEvent<K>);
    };
    this.on('event', wrapped);
    return () => this.off('event', wrapped);
  }

  /** Resolves with the next event of that name (and its data). */
  nextEvent<K extends KnownEvent>(name: K, timeoutMs = 30_000): Promise<QmpEvent<K>> {
    if (this.#closed) {
      // `close` was already emitted: no event can come any more.
      return Promise.reject(new QmpDisconnectedError(`closed while waiting for ${name}`));
    }
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => done(new QmpTimeoutError(`waiting for ${name}`, timeoutMs)), timeoutMs);
      const off = this.onEvent(name, (event) => done(undefined, event));
      const onClose = () => done(new QmpDisconnectedError(`closed while waiting for ${name}`));
      this.once('close', onClose);
      const done = (error?: Error, event?: QmpEvent<K>) => {
        clearTimeout(timer);
        off();
        this.off('close', onClose);
        if (error) reject(error);
        else resolve(event!);
      };
    });
  }

  close(): void {
    this.connection.close();
  }

  #checkReturn(command: string, args: Record<string, unknown> | undefined, value: unknown): unknown {
    const schema = Object.hasOwn(COMMANDS, command) ? COMMANDS[command as CommandName].ret : undefined;
    if (schema) {
      const parsed = schema.safeParse(value);
      if (!parsed.success) throw new QmpProtocolError(`${command}: unexpected return: ${parsed.error.message}`);
      value = parsed.data;
    }
    if (command === 'human-monitor-command' && typeof value === 'string' && isHmpFailure(value)) {
      throw new QmpHmpError(String(args?.['command-line'] ?? ''), value.trim());
    }
    return value;
  }

  #fail(error: QmpProtocolError): void {
    this.#closeError ??= error;
    this.connection.close();
  }

  #onLine(line: string): void {
    if (line.trim() === '') return;
    let message: unknown;
    try {
      message = JSON.parse(line);
    } catch {
      return this.#fail(new QmpProtocolError(`not JSON: ${line.slice(0, 80)}`));
    }
    if (this.#onGreeting) {
      const deliver = this.#onGreeting;
      this.#onGreeting = undefined;
      return deliver(message);
    }
    // Each message is checked against the one schema its kind has: a reply tried as an event
    // first would cost a failed parse (an error object and its stack) twice per switch.
    const kind = messageKind(message);
    if (kind === 'event') {
      const asEvent = EventMessage.safeParse(message);
      if (!asEvent.success) return this.#fail(new QmpProtocolError(`malformed event: ${line.slice(0, 80)}`));
      this.emit('event', asEvent.data);
      return;
    }
    const asReturn = kind === 'return' ? ReturnMessage.safeParse(message) : undefined;
    const asError = kind === 'error' ? ErrorMessage.safeParse(message) : undefined;
    if (!asReturn?.success && !asError?.success) {
      return this.#fail(new QmpProtocolError(`unknown message: ${line.slice(0, 80)}`));
    }
    const id = (asReturn?.success ? asReturn.data.id : asError!.data!.id)?.toString();
    if (id === undefined && asError?.success) {
      // QEMU could not even read our id: nothing can be matched any more.
      const { class: errorClass, desc } = asError.data.error;
      return this.#fail(new QmpProtocolError(`error without id (${errorClass}: ${desc}): session ended`));
    }
    const pending = id === undefined ? undefined : this.#pending.get(id);
    if (!pending) {
      this.emit('warning', `dropped a reply with unknown id ${JSON.stringify(id)}`);
      return;
    }
    this.#pending.delete(id!);
    clearTimeout(pending.timer);
    if (asReturn?.success) pending.resolve(asReturn.data.return);
    else pending.reject(new QmpCommandError(pending.command, asError!.data!.error.class, asError!.data!.error.desc));
  }

  #onClose(reason: CloseReason): void {
    this.#closed = true;
    let error = this.#closeError;
    if (!error && reason.kind === 'error') {
      error = reason.error.name === 'FramingError'
        ? new QmpProtocolError(reason.error.message, { cause: reason.error })
        : new QmpDisconnectedError(`connection to ${this.path} failed: ${reason.error.message}`, { cause: reason.error });
    }
    for (const [, pending] of this.#pending) {
      clearTimeout(pending.timer);
      pending.reject(error ?? new QmpDisconnectedError(`${pending.command}: connection to ${this.path} closed`));
    }
    this.#pending.clear();
    this.emit('close', error);
  }
}

function isHmpFailure(text: string): boolean {
  return /^(Error: |unknown command: )/.test(text.trimStart());
}

/** What a message from QEMU is, by the member only that kind has (QMP spec: `return`, `error` or `event`). */
function messageKind(message: unknown): 'return' | 'error' | 'event' | null {
  if (typeof message !== 'object' || message === null || Array.isArray(message)) return null;
  if (Object.hasOwn(message, 'return')) return 'return';
  if (Object.hasOwn(message, 'error')) return 'error';
  if (Object.hasOwn(message, 'event')) return 'event';
  return null;
}
