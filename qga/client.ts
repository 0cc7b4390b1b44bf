/**
 * A small client for the QEMU guest agent (QGA) on the VM's virtio-serial
 * channel, which QEMU serves as a unix socket. The agent has no ids: it answers
 * in order, one command at a time. The channel can hold stale bytes (requests
 * written before the agent started, answers nobody read), so the client first
 * syncs: it sends 0xFF (resetting the agent's parser) and
 * `guest-sync-delimited` with a fresh id; the agent answers 0xFF then the id,
 * and everything before that answer is skipped. After a timeout the channel is
 * out of step, and the next command syncs again.
 */
import { EventEmitter } from 'node:events';
import { FramedConnection, LineDecoder, type FrameDecoder } from '../transport/framed-connection.js';
import { AgentCommandError, AgentConnectError, AgentDisconnectedError, AgentProtocolError, AgentTimeoutError, type AgentError } from './errors.js';
import { COMMANDS, ErrorMessage, ReturnMessage, SYNC_DELIMITER, type AgentCommand, type AgentCommands } from './protocol.js';
import { errorMessage } from '../shared/error-message.js';

/** The agent's answers are small; anything longer is not the agent we talk to. */
export const MAX_LINE_BYTES = 1024 * 1024;

/** Lines, where a 0xFF byte drops whatever came before it (the agent's "your answer starts here"). */
export class AgentLineDecoder implements FrameDecoder<string> {
  #lines = new LineDecoder(MAX_LINE_BYTES);

  push(chunk: Buffer): string[] {
    const out: string[] = [];
    let start = 0;
    for (let at = chunk.indexOf(SYNC_DELIMITER); at !== -1; at = chunk.indexOf(SYNC_DELIMITER, start)) {
      out.push(...this.#lines.push(chunk.subarray(start, at)));
      this.#lines = new LineDecoder(MAX_LINE_BYTES); // a partial line before the delimiter is stale
      start = at + 1;
    }
    out.push(...this.#lines.push(chunk.subarray(start)));
    return out;
  }
}

interface Waiter {
  /** Returns true when the line is the awaited answer (it is then consumed). */
  take(message: unknown): boolean;
}

type ClientEvents = { close: [] };

export class AgentClient extends EventEmitter<ClientEvents> {
  #waiter: Waiter | undefined;
  #queue: Promise<unknown> = Promise.resolve();
  #synced = false;
  #closed = false;
  #nextSyncId = Math.floor(Math.random() * 1_000_000_000);

  private constructor(private readonly connection: FramedConnection<string>, readonly path: string) {
    super();
    connection.on('frame', (line) => this.#onLine(line));
    connection.on('close', () => {
      this.#closed = true;
      this.emit('close');
    });
  }

  static async connect(path: string): Promise<AgentClient> {
    try {
      return new AgentClient(await FramedConnection.connect(path, new AgentLineDecoder()), path);
    } catch (error) {
      throw new AgentConnectError(`cannot connect to the guest agent at ${path}: ${errorMessage(error)}`, { cause: error });
    }
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Runs a command (syncing first when needed); one at a time, in order. */
  execute<K extends AgentCommand>(command: K, args: AgentCommands[K]['args'], options: { timeoutMs?: number } = {}): Promise<AgentCommands[K]['ret']> {
    const run = this.#queue.then(async () => {
      const timeoutMs = options.timeoutMs ?? 5000;
      if (!this.#synced) await this.#sync(timeoutMs);
      return this.#send(command, args, timeoutMs);
    });
    this.#queue = run.catch(() => undefined);
    return run as Promise<AgentCommands[K]['ret']>;
  }

  /** `guest-ping`, synced first: resolves once the agent in the guest answers. */
  ping(timeoutMs = 5000): Promise<unknown> {
    return this.execute('guest-ping', undefined, { timeoutMs });
  }

  close(): void {
    this.connection.close();
  }

  async #sync(timeoutMs: number): Promise<void> {
    const id = (this.#nextSyncId = (this.#nextSyncId + 1) % 2_000_000_000);
    const message = JSON.stringify({ execute: 'guest-sync-delimited', arguments: { id } }) + '\n';
    await this.#await(
      'guest-sync-delimited',
      timeoutMs,
      (answer) => ReturnMessage.safeParse(answer).success && (answer as { return: unknown }).return === id,
      Buffer.concat([Buffer.from([SYNC_DELIMITER]), Buffer.from(message)]),
    );
    this.#synced = true;
  }

  async #send(command: AgentCommand, args: unknown, timeoutMs: number): Promise<unknown> {
    let answer: unknown;
    const message: Record<string, unknown> = { execute: command };
    if (args !== undefined) message.arguments = args;
    await this.#await(command, timeoutMs, (line) => ((answer = line), true), JSON.stringify(message) + '\n');
    const error = ErrorMessage.safeParse(answer);
    if (error.success) throw new AgentCommandError(command, error.data.error.class, error.data.error.desc);
    const value = ReturnMessage.safeParse(answer);
    if (!value.success) throw new AgentProtocolError(`${command}: not an answer: ${JSON.stringify(answer).slice(0, 80)}`);
    const checked = COMMANDS[command].ret.safeParse(value.data.return);
    if (!checked.success) throw new AgentProtocolError(`${command}: unexpected return: ${checked.error.issues[0]?.message}`);
    return checked.data;
  }

  #await(command: string, timeoutMs: number, take: (message: unknown) => boolean, bytes: Buffer | string): Promise<void> {
    if (this.#closed) return Promise.reject(new AgentDisconnectedError(`${command}: the guest agent channel ${this.path} is closed`));
    return new Promise<void>((resolve, reject) => {
      const finish = (error?: AgentError) => {
        clearTimeout(timer);
        this.off('close', onClose);
        this.#waiter = undefined;
        if (error) {
          this.#synced = false; // an answer may still come: skip it by syncing again
          reject(error);
        } else resolve();
      };
      const timer = setTimeout(() => finish(new AgentTimeoutError(command, timeoutMs)), timeoutMs);
      const onClose = () => finish(new AgentDisconnectedError(`${command}: the guest agent channel ${this.path} closed`));
      this.once('close', onClose);
      this.#waiter = {
        take: (message) => {
          if (!take(message)) return false;
          finish();
          return true;
        },
      };
      this.connection.write(bytes);
    });
  }

  #onLine(line: string): void {
    if (line.trim() === '') return;
    let message: unknown;
    try {
      message = JSON.parse(line);
    } catch {
      return; // a stale partial line, or noise before a delimiter: the sync skips it
    }
    this.#waiter?.take(message);
  }
}
