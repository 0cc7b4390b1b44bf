/**
 * A typed client for sway and i3: a request channel and an event channel, and
 * reconnection after the WM restarts (i3 `restart`) or dies. A clean `exit` of
 * the WM ends the session and is reported once as `end`.
 */
import { EventEmitter, once } from 'node:events';
import fs from 'node:fs';
import { Backoff, sleep } from '../transport/backoff.js';
import { IpcChannel, type RawEvent } from './channel.js';
import { discoverSocket, type DiscoveredSocket } from './discover.js';
import { WmCommandError, WmConnectionError, WmIpcError, WmProtocolError } from './errors.js';
import {
  EventSchemas,
  MessageType,
  ReplySchemas,
  type EventName,
  type EventPayloads,
  type Reply,
} from './protocol.js';

export interface WmClientOptions {
  /** A fixed socket path; otherwise discovered (again on every reconnect). */
  socketPath?: string | undefined;
  env?: NodeJS.ProcessEnv;
  /** Reconnect after a restart or a crash of the WM (default true). */
  reconnect?: boolean;
  backoff?: Backoff;
  /** Give up after this many failed attempts in a row (default: never). */
  maxReconnectAttempts?: number;
}

export type WmClientEvents = { [K in EventName]: [EventPayloads[K]] } & {
  /** The connection dropped without a clean exit of the WM. */
  disconnected: [WmIpcError];
  reconnecting: [{ attempt: number; delayMs: number }];
  /** Connected again and subscriptions live again. */
  reconnected: [];
  /** The session is over: the WM exited, we gave up reconnecting, or close() was called. */
  end: [{ reason: 'exit' | 'closed' | 'gave-up'; error?: WmIpcError }];
  /** An event that failed its schema: logged by the owner, not fatal. */
  'protocol-error': [WmProtocolError];
};

/** What the WM's last `shutdown` event announced before it closed the connection. */
type Announced = 'exit' | 'restart' | null;

/**
 * Where the session is — one state, not a flag per question:
 * - `connected`: the channels are up (`announced`: what a `shutdown` event said, if one came);
 * - `settling`: a channel closed; the event channel may still deliver a queued `shutdown`;
 * - `reconnecting`: the WM restarted or crashed, the reconnect loop runs;
 * - `ended`: for good (`end` was emitted once).
 */
type Runstate = { kind: 'connected'; announced: Announced } | { kind: 'settling'; announced: Announced } | { kind: 'reconnecting' } | { kind: 'ended' };

export class WmClient extends EventEmitter<WmClientEvents> {
  #requests!: IpcChannel;
  #events: IpcChannel | undefined;
  #subscribed = new Set<EventName>();
  #socket!: DiscoveredSocket;
  #run: Runstate = { kind: 'connected', announced: null };
  #abort = new AbortController();
  #backoff: Backoff;

  private constructor(private readonly options: WmClientOptions) {
    super();
    this.#backoff = options.backoff ?? new Backoff(50, 2000);
  }

  static async connect(options: WmClientOptions = {}): Promise<WmClient> {
    const client = new WmClient(options);
    await client.#open();
    return client;
  }

  get socketPath(): string {
    return this.#socket.path;
  }

  get ended(): boolean {
    return this.#run.kind === 'ended';
  }

  // ---- requests ---------------------------------------------------------------

  async request<T extends MessageType>(type: T, payload = ''): Promise<Reply<T>> {
    if (this.ended) throw new WmConnectionError('the WM session has ended');
    const body = await this.#requests.request(type, payload);
    const parsed = ReplySchemas[type].safeParse(body);
    if (!parsed.success) {
      throw new WmProtocolError(`reply to message type ${type} has an unexpected shape: ${parsed.error.message}`);
    }
    return parsed.data as Reply<T>;
  }

  /** Runs WM commands; rejects with WmCommandError if any of them failed. */
  async command(command: string): Promise<Reply<typeof MessageType.RUN_COMMAND>> {
    const results = await this.request(MessageType.RUN_COMMAND, command);
    const failed = results.find((r) => !r.success);
    if (failed) throw new WmCommandError(command, failed.error ?? 'unknown error');
    return results;
  }

  getWorkspaces() {
    return this.request(MessageType.GET_WORKSPACES);
  }
  getOutputs() {
    return this.request(MessageType.GET_OUTPUTS);
  }
  getTree() {
    return this.request(MessageType.GET_TREE);
  }
  getVersion() {
    return this.request(MessageType.GET_VERSION);
  }
  getBindingState() {
    return this.request(MessageType.GET_BINDING_STATE);
  }
  sendTick(payload = '') {
    return this.request(MessageType.SEND_TICK, payload);
  }

  // ---- events -----------------------------------------------------------------

  /**
   * Subscribes to events and resolves once the subscription is live: the WM's
   * first `tick` after subscribing is the barrier (every event after it is ours).
   */
  async subscribe(events: readonly EventName[]): Promise<void> {
    for (const name of events) this.#subscribed.add(name);
    if (!this.#events || this.#events.closed) this.#events = await this.#openEventChannel();
    await this.#subscribeOn(this.#events, events);
  }

  close(): void {
    this.#finish({ reason: 'closed' });
  }

  // ---- connection lifecycle ---------------------------------------------------------

  async #open(): Promise<void> {
    this.#socket = this.options.socketPath
      ? { path: this.options.socketPath, source: 'option' }
      : await discoverSocket(this.options.env);
    const requests = await IpcChannel.open(this.#socket.path);
    let events: IpcChannel | undefined;
    try {
      if (this.#subscribed.size > 0) {
        events = await this.#openEventChannel();
        await this.#subscribeOn(events, [...this.#subscribed]);
      }
    } catch (error) {
      requests.close();
      events?.close();
      throw error;
    }
    this.#requests = requests;
    this.#events = events;
    requests.on('close', ({ error }) => this.#onChannelClosed(requests, error));
  }

  async #openEventChannel(): Promise<IpcChannel> {
    const channel = await IpcChannel.open(this.#socket.path);
    channel.on('event', (event) => this.#dispatch(event));
    channel.on('close', ({ error }) => this.#onChannelClosed(channel, error));
    return channel;
  }

  /**
   * Always also subscribes to `tick` (the barrier) and `shutdown` (to tell exit from
   * restart). The first subscription to `tick` on a connection makes the WM send a tick
   * with `first: true`; i3 sends it only once per connection, so a later subscription
   * waits instead for a tick we send ourselves with a unique payload.
   */
  async #subscribeOn(channel: IpcChannel, events: readonly EventName[]): Promise<void> {
    const firstOnChannel = !this.#tickChannels.has(channel);
    const nonce = `hiboss-barrier-${++this.#barrierCount}`;
    let unlisten = () => {};
    const barrier = new Promise<void>((resolve, reject) => {
      const onEvent = (event: RawEvent) => {
        if (event.name !== 'tick') return;
        const tick = event.body as { first?: unknown; payload?: unknown };
        if (firstOnChannel ? tick.first === true : tick.payload === nonce) {
          unlisten();
          resolve();
        }
      };
      const onClose = () => {
        unlisten();
        reject(new WmConnectionError('connection closed while subscribing'));
      };
      unlisten = () => {
        channel.off('event', onEvent);
        channel.off('close', onClose);
      };
      channel.on('event', onEvent);
      channel.once('close', onClose);
    });
    barrier.catch(() => {}); // observed below; avoid an unhandled rejection if the request fails first
    try {
      const reply = ReplySchemas[MessageType.SUBSCRIBE].parse(
        await channel.request(MessageType.SUBSCRIBE, JSON.stringify([...new Set([...events, 'tick', 'shutdown'])])),
      );
      if (!reply.success) throw new WmProtocolError(`the WM refused the subscription to ${events.join(', ')}`);
      this.#tickChannels.add(channel);
      if (!firstOnChannel) await this.#requests.request(MessageType.SEND_TICK, nonce);
      await barrier;
    } finally {
      unlisten(); // a refused or failed subscription leaves nothing on the channel
    }
  }

  #tickChannels = new WeakSet<IpcChannel>();
  /** performance.now() when the event being emitted arrived, before any parsing (for latency marks). */
  lastEventReceivedAt = 0;
  #barrierCount = 0;

  #dispatch(event: RawEvent): void {
    if (event.name === 'shutdown') {
      const change = (event.body as { change?: unknown }).change;
      const run = this.#run;
      if ((change === 'exit' || change === 'restart') && (run.kind === 'connected' || run.kind === 'settling')) this.#run = { ...run, announced: change };
    }
    if (!this.#subscribed.has(event.name)) return;
    this.lastEventReceivedAt = event.receivedAt;
    const parsed = EventSchemas[event.name].safeParse(event.body);
    if (!parsed.success) {
      this.emit('protocol-error', new WmProtocolError(`${event.name} event: ${parsed.error.message}`));
      return;
    }
    (this.emit as (name: string, payload: unknown) => boolean)(event.name, parsed.data);
  }

  #onChannelClosed(channel: IpcChannel, error: WmIpcError | undefined): void {
    const run = this.#run;
    if (run.kind !== 'connected') return; // already settling, reconnecting or ended
    if (channel !== this.#requests && channel !== this.#events) return; // an old channel
    // The WM closes both connections at once; decide only when the event channel has
    // delivered everything it had (a `shutdown` event may still be queued on it).
    this.#run = { kind: 'settling', announced: run.announced };
    const events = this.#events;
    const settled = events && !events.closed ? waitForClose(events, 500) : Promise.resolve();
    void settled.then(() => this.#decideAfterClose(error));
  }

  #decideAfterClose(error: WmIpcError | undefined): void {
    const run = this.#run;
    if (run.kind !== 'settling') return; // closed meanwhile
    // i3 announces `exit` with a shutdown event; sway 1.7 does not, but removes its
    // socket on a clean exit while a crashed WM leaves it behind.
    // (i3 re-creates its socket while restarting: a restart is never an exit.)
    if (run.announced === 'exit' || (run.announced !== 'restart' && !fs.existsSync(this.#socket.path))) {
      return this.#finish({ reason: 'exit' });
    }
    const cause = error ?? new WmConnectionError(`the WM closed the connection (${this.#socket.path})`);
    this.#requests.close();
    this.#events?.close();
    this.emit('disconnected', cause);
    if (this.options.reconnect === false) return this.#finish({ reason: 'gave-up', error: cause });
    void this.#reconnectLoop(cause);
  }

  async #reconnectLoop(lastError: WmIpcError): Promise<void> {
    if (this.ended) return; // closed by a `disconnected` listener
    this.#run = { kind: 'reconnecting' };
    const max = this.options.maxReconnectAttempts ?? Infinity;
    while (!this.ended) {
      if (this.#backoff.attempt >= max) return this.#finish({ reason: 'gave-up', error: lastError });
      const delayMs = this.#backoff.next();
      this.emit('reconnecting', { attempt: this.#backoff.attempt, delayMs });
      try {
        await sleep(delayMs, this.#abort.signal);
        await this.#open();
      } catch (error) {
        if (this.ended) return;
        lastError = error instanceof WmIpcError ? error : new WmConnectionError(String(error));
        continue;
      }
      if (this.ended) {
        // Closed while the channels opened: they are the ones to close now.
        this.#requests.close();
        this.#events?.close();
        return;
      }
      this.#backoff.reset();
      this.#run = { kind: 'connected', announced: null };
      this.emit('reconnected');
      return;
    }
  }

  #finish(end: WmClientEvents['end'][0]): void {
    if (this.ended) return;
    this.#run = { kind: 'ended' };
    this.#abort.abort(new WmConnectionError('closed'));
    this.#requests?.close();
    this.#events?.close();
    this.emit('end', end);
  }
}

function waitForClose(channel: IpcChannel, timeoutMs: number): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, timeoutMs);
    void once(channel, 'close').then(() => {
      clearTimeout(timer);
      resolve();
    });
  });
}
