/**
 * The bar's event loop, without process plumbing (verb.ts does that): the
 * daemon's signals trigger a Status() fetch and, if the rendered line changed,
 * one write. Nothing runs between events: no timers, no polling.
 */
import { DaemonUnavailableError, type DaemonClient } from '../api/client.js';
import type { DaemonStatus } from '../api/schema.js';
import { BLOCK_NAME, I3BAR_HEADER, renderUpdate, type Format } from './render.js';
import { clickAction, parseClickLine, type ClickAction } from './clicks.js';
import { Backoff } from '../transport/backoff.js';
import { errorMessage } from '../shared/error-message.js';

/** Retries of a failed Status() (the daemon up but not answering well): then wait for its next signal. */
const MAX_RETRIES = 6;

/** The part of DaemonClient the bar uses (a test can hand in a stand-in). */
export type BarClient = Pick<DaemonClient, 'available' | 'status' | 'act' | 'on'>;

export interface BarOptions {
  format: Format;
  /** Writes one chunk of output (the caller flushes and handles a closed stdout). */
  write: (text: string) => void;
  /** One line on stderr. */
  log: (line: string) => void;
  openPanel: () => void;
  now?: () => number;
}

export class Bar {
  #last: string | undefined;
  #dirty = false;
  #running = false;
  #idle: Promise<void> = Promise.resolve();
  #client: BarClient | undefined;
  #retry: NodeJS.Timeout | undefined;
  #backoff = new Backoff(100, 5000);

  constructor(private readonly options: BarOptions) {
    // i3bar reads a header, then an endless array of status lines.
    if (options.format === 'i3bar') options.write(`${I3BAR_HEADER}\n[\n`);
  }

  /** Shows the daemon as down (before there is even a bus connection). */
  showDown(): void {
    this.#print(null);
  }

  start(client: BarClient): void {
    this.#client = client;
    const refresh = () => this.refresh();
    // Every signal is a hint that something changed; Status() is the truth.
    client.on('up', () => {
      this.#backoff.reset();
      refresh();
    });
    client.on('down', refresh);
    client.on('state', refresh);
    client.on('focus', refresh);
    client.on('config', refresh);
    client.on('update', refresh); // an update built or rolled back: the tooltip says so
    client.on('backup', refresh); // a backup done or failed, a VM now "unbacked"
    client.on('microphone', refresh); // the microphone moved, was pinned or unpinned
    this.refresh();
  }

  /** Fetch and print; calls during a fetch fold into one more fetch after it. */
  refresh(): Promise<void> {
    this.#dirty = true;
    if (!this.#running) this.#idle = this.#loop();
    return this.#idle;
  }

  async #loop(): Promise<void> {
    this.#running = true;
    try {
      while (this.#dirty) {
        this.#dirty = false;
        const status = await this.#fetch();
        // Something happened while we asked: this answer may be stale, ask again.
        if (this.#dirty) continue;
        if (status === 'error') {
          // Keep showing what we had rather than flashing "down"; ask again a few times
          // (a daemon that has just taken its name may not be ready to answer yet).
          if (this.#backoff.attempt < MAX_RETRIES && !this.#retry) {
            this.#retry = setTimeout(() => {
              this.#retry = undefined;
              void this.refresh();
            }, this.#backoff.next());
          }
          continue;
        }
        this.#backoff.reset();
        this.#print(status);
      }
    } finally {
      this.#running = false;
    }
  }

  /** Stops a pending retry (tests; the process itself just exits). */
  stop(): void {
    clearTimeout(this.#retry);
    this.#retry = undefined;
  }

  async #fetch(): Promise<DaemonStatus | null | 'error'> {
    const { log } = this.options;
    const client = this.#client;
    if (!client?.available) return null;
    try {
      return await client.status();
    } catch (error) {
      if (error instanceof DaemonUnavailableError) return null;
      log(`cannot read the daemon's status: ${errorMessage(error)}`);
      return 'error';
    }
  }

  #print(status: DaemonStatus | null): void {
    const line = renderUpdate(this.options.format, status, { now: (this.options.now ?? Date.now)() });
    // waybar/i3bar redraw on every line: an identical one is only noise.
    if (line === this.#last) return;
    this.#last = line;
    this.options.write(`${line}\n`);
  }

  /** One line of click input (i3bar/i3blocks); resolves when its action is done. */
  async click(line: string): Promise<void> {
    const parsed = parseClickLine(line);
    if (parsed.kind === 'skip') return;
    if (parsed.kind === 'invalid') {
      this.options.log(`ignored a malformed click event (${parsed.reason})`);
      return;
    }
    // i3bar sends clicks for every block of the line it got from us: only ours count.
    if (this.options.format === 'i3bar' && parsed.event.name !== undefined && parsed.event.name !== BLOCK_NAME) return;
    const action = clickAction(parsed.event);
    if (action) await this.perform(action);
  }

  async perform(action: ClickAction): Promise<void> {
    if (action.kind === 'panel') {
      this.options.openPanel();
      return;
    }
    try {
      if (!this.#client) throw new DaemonUnavailableError('no session bus');
      await this.#client.act(action.verb, action.name);
    } catch (error) {
      this.options.log(`${action.verb}${action.name ? ` ${action.name}` : ''}: ${errorMessage(error)}`);
    }
  }
}
