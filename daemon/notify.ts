/**
 * Desktop notifications (org.freedesktop.Notifications) for the few events a
 * user must see even with no bar: a VM failed, a config edit was refused, a cold
 * start is slow. Best effort by design: without a notification server the
 * daemon works the same, so notify() never throws, never blocks its caller for
 * longer than a bounded timeout, and says "no server" in the log only once.
 */
import dbus from 'dbus-next';
import { closeBus } from '../api/bus.js';
import { DaemonError } from './errors.js';

export type Urgency = 'low' | 'normal' | 'critical';

const URGENCY_BYTE: Record<Urgency, number> = { low: 0, normal: 1, critical: 2 };
const DESTINATION = 'org.freedesktop.Notifications';
const PATH = '/org/freedesktop/Notifications';
const INTERFACE = 'org.freedesktop.Notifications';
/** Servers cut long texts anyway; this keeps a runaway reason from flooding the bus. */
const MAX_SUMMARY = 200;
const MAX_BODY = 2000;

export interface NotifierOptions {
  /** One line for the daemon's log. */
  logger: (line: string) => void;
  /** A bus address; default: DBUS_SESSION_BUS_ADDRESS (read at the first notify). */
  busAddress?: string | undefined;
  appName?: string;
  /** Longest wait for the server's reply (default 2 s). */
  timeoutMs?: number;
  /** Connects to the bus; tests may hand in their own. */
  connect?: (address: string) => dbus.MessageBus;
}

export class Notifier {
  #bus: dbus.MessageBus | undefined;
  #failing = false;
  #closed = false;

  constructor(private readonly options: NotifierOptions) {}

  /**
   * Shows a notification. Resolves with the server's notification id, or null
   * when it could not be shown (logged once until a notification gets through).
   */
  async notify(summary: string, body: string, urgency: Urgency = 'normal'): Promise<number | null> {
    if (this.#closed) return null;
    const timeoutMs = this.options.timeoutMs ?? 2000;
    let timer: NodeJS.Timeout | undefined;
    try {
      const bus = this.#connect();
      const message = new dbus.Message({
        destination: DESTINATION,
        path: PATH,
        interface: INTERFACE,
        member: 'Notify',
        signature: 'susssasa{sv}i',
        body: [
          this.options.appName ?? 'hiboss',
          0, // replaces_id: a new notification
          '', // app_icon
          clip(summary, MAX_SUMMARY),
          clip(body, MAX_BODY),
          [], // actions
          { urgency: new dbus.Variant('y', URGENCY_BYTE[urgency]) },
          -1, // expire_timeout: the server's default
        ],
      });
      const reply = await Promise.race([
        bus.call(message),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new DaemonError(`no reply within ${timeoutMs} ms`)), timeoutMs);
          // A pending notification must not keep a daemon that is shutting down alive.
          timer.unref();
        }),
      ]);
      this.#failing = false;
      const id = reply?.body?.[0];
      return typeof id === 'number' ? id : null;
    } catch (error) {
      this.#fail(error);
      return null;
    } finally {
      clearTimeout(timer);
    }
  }

  close(): void {
    this.#closed = true;
    this.#drop();
  }

  #connect(): dbus.MessageBus {
    if (this.#bus) return this.#bus;
    const address = this.options.busAddress ?? process.env.DBUS_SESSION_BUS_ADDRESS;
    if (!address) throw new DaemonError('no session bus (DBUS_SESSION_BUS_ADDRESS is not set)');
    const bus = (this.options.connect ?? ((a: string) => dbus.sessionBus({ busAddress: a })))(address);
    // A broken connection is an 'error' event; unheard, it would crash the daemon. Reconnect next time.
    bus.on('error', (error: Error) => {
      if (this.#bus === bus) this.#drop();
      this.#fail(error);
    });
    this.#bus = bus;
    return bus;
  }

  #drop(): void {
    const bus = this.#bus;
    this.#bus = undefined;
    try {
      if (bus) closeBus(bus);
    } catch {
      /* already down */
    }
  }

  #fail(error: unknown): void {
    if (this.#failing) return;
    this.#failing = true;
    const text = error instanceof dbus.DBusError ? `${error.type}: ${error.text}` : error instanceof Error ? error.message : String(error);
    this.options.logger(`notifications unavailable (${text}); not logging further failures until one gets through`);
  }
}

function clip(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}
