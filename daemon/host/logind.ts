/**
 * The daemon follows logind on the system bus: PrepareForSleep(true/false) on
 * the Manager, and the session's Lock/Unlock signals and LockedHint property.
 * What to do about them is the policy's (daemon/policy/host.ts); this module
 * only turns them into events and holds logind's sleep delay lock.
 *
 * The delay lock is a file descriptor from Manager.Inhibit("sleep", …, "delay"):
 * logind waits (up to its InhibitDelayMaxUSec) until every holder closes it.
 * dbus-next receives descriptors only through the optional native `usocket`
 * module, so the lock is held by `systemd-inhibit … cat` instead, a child whose
 * stdin is our pipe: closing the pipe ends `cat`, and `systemd-inhibit` closes
 * the lock. If the daemon dies, the pipe closes too: the lock never outlives us.
 *
 * Without a system bus or logind, the daemon says so once and carries on.
 */
import dbus from 'dbus-next';
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import type { HostEvent } from '../policy/types.js';
import { closeBus } from '../../api/bus.js';
import { errorMessage } from '../../shared/error-message.js';
import { DaemonError } from '../errors.js';

const LOGIN1 = 'org.freedesktop.login1';
const MANAGER_PATH = '/org/freedesktop/login1';
const MANAGER = 'org.freedesktop.login1.Manager';
const SESSION = 'org.freedesktop.login1.Session';
const USER = 'org.freedesktop.login1.User';
const PROPERTIES = 'org.freedesktop.DBus.Properties';
export const DEFAULT_SYSTEM_BUS = 'unix:path=/run/dbus/system_bus_socket';
/** logind's own default for InhibitDelayMaxSec. */
const DEFAULT_DELAY_MS = 5000;
const CONNECT_TIMEOUT_MS = 5000;

export interface LogindOptions {
  post: (event: HostEvent) => void;
  note: (message: string, level?: 'info' | 'warn') => void;
  env?: NodeJS.ProcessEnv;
  /** The program that holds the delay lock (systemd-inhibit's options and a command). */
  inhibitProgram?: string;
}

/** How long we may hold the delay lock: a margin under logind's limit, so that we release it, not logind. */
export function releaseWithin(delayMaxMs: number): number {
  return Math.max(200, delayMaxMs - Math.min(1000, delayMaxMs / 5));
}

/** The members we call, as dbus-next's proxies expose them. */
interface Proxy {
  on(event: string, listener: (...args: any[]) => void): unknown;
  Get(iface: string, property: string): Promise<dbus.Variant>;
  GetSession(id: string): Promise<string>;
  GetUser(uid: number): Promise<string>;
}
type Signals = Proxy;
const proxy = (object: dbus.ProxyObject, iface: string) => object.getInterface(iface) as unknown as Proxy;

export class LogindWatch {
  #bus: dbus.MessageBus | undefined;
  #inhibitor: ChildProcess | undefined;
  #delayMaxMs = DEFAULT_DELAY_MS;
  #closed = false;
  #busErrorTold = false;
  readonly #env: NodeJS.ProcessEnv;

  constructor(private readonly options: LogindOptions) {
    this.#env = options.env ?? process.env;
  }

  /** Connects and subscribes; resolves when following (or when it is clear it cannot). Never throws. */
  async start(): Promise<void> {
    const address = this.#env.DBUS_SYSTEM_BUS_ADDRESS || DEFAULT_SYSTEM_BUS;
    const socket = /^unix:path=([^,;]+)/.exec(address)?.[1];
    if (socket !== undefined && !fs.existsSync(socket)) {
      this.options.note(`no system bus (${socket} does not exist): the machine's sleep and the session's lock are not followed`);
      return;
    }
    let manager: Signals;
    try {
      const bus = dbus.sessionBus({ busAddress: address });
      this.#bus = bus;
      bus.on('error', (error: Error) => {
        if (this.#busErrorTold || this.#closed) return;
        this.#busErrorTold = true;
        this.options.note(`the system bus connection failed (${error.message}): sleep and lock are no longer followed`, 'warn');
      });
      const object = await withTimeout(bus.getProxyObject(LOGIN1, MANAGER_PATH), CONNECT_TIMEOUT_MS, 'logind did not answer');
      manager = proxy(object, MANAGER);
      const props = proxy(object, PROPERTIES);
      try {
        const delay = (await props.Get(MANAGER, 'InhibitDelayMaxUSec')) as dbus.Variant<bigint | number>;
        this.#delayMaxMs = Number(delay.value) / 1000;
      } catch {
        /* logind's default then */
      }
    } catch (error) {
      this.options.note(`logind is not reachable on the system bus (${errorMessage(error)}): the machine's sleep and the session's lock are not followed`);
      this.#disconnect();
      return;
    }
    if (this.#closed) return this.#disconnect();
    manager.on('PrepareForSleep', (start: boolean) => {
      if (start) {
        this.options.post({ type: 'sleep', releaseWithinMs: this.#inhibitor ? releaseWithin(this.#delayMaxMs) : 0 });
      } else {
        this.options.post({ type: 'wake' });
        this.#takeSleepLock();
      }
    });
    this.#takeSleepLock();
    await this.#followSession(manager);
  }

  /** The policy says every VM is paused (or logind's delay is up): let the machine sleep. */
  releaseSleepLock(): void {
    const child = this.#inhibitor;
    this.#inhibitor = undefined;
    child?.stdin?.end();
  }

  close(): void {
    this.#closed = true;
    this.releaseSleepLock();
    this.#disconnect();
  }

  #disconnect(): void {
    try {
      if (this.#bus) closeBus(this.#bus);
    } catch {
      /* already gone */
    }
    this.#bus = undefined;
  }

  #takeSleepLock(): void {
    if (this.#inhibitor || this.#closed) return;
    const program = this.options.inhibitProgram ?? 'systemd-inhibit';
    const child = spawn(program, ['--what=sleep', '--who=hiboss', '--why=pausing VMs before the machine sleeps', '--mode=delay', 'cat'], {
      stdio: ['pipe', 'ignore', 'pipe'],
      env: this.#env,
    });
    this.#inhibitor = child;
    let stderr = '';
    child.stderr!.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-500)));
    child.stdin!.on('error', () => undefined); // it may be gone when we close its pipe
    child.once('error', (error) => {
      if (this.#inhibitor === child) this.#inhibitor = undefined;
      this.options.note(`cannot hold logind's sleep delay lock (${program}: ${error.message}): VMs are paused when the machine sleeps, but it will not wait for them`, 'warn');
    });
    child.once('exit', (code) => {
      if (this.#inhibitor !== child || this.#closed) return; // released by us
      this.#inhibitor = undefined;
      this.options.note(`logind's sleep delay lock ended (${program} exit ${code}${stderr.trim() ? `: ${stderr.trim()}` : ''})`, 'warn');
    });
  }

  /** The session's Lock/Unlock and LockedHint; the session is XDG_SESSION_ID's, else the user's display session. */
  async #followSession(manager: Signals): Promise<void> {
    const bus = this.#bus;
    if (!bus) return;
    let sessionPath: string | undefined;
    try {
      const id = this.#env.XDG_SESSION_ID;
      if (id) sessionPath = await manager.GetSession(id);
      else if (typeof process.getuid === 'function') {
        const userPath = await manager.GetUser(process.getuid());
        const user = proxy(await bus.getProxyObject(LOGIN1, userPath), PROPERTIES);
        const display = (await user.Get(USER, 'Display')) as dbus.Variant<[string, string]>;
        if (display.value[1] && display.value[1] !== '/') sessionPath = display.value[1];
      }
    } catch (error) {
      this.options.note(`no login session found (${errorMessage(error)}): the session's lock is not followed`);
      return;
    }
    if (!sessionPath) {
      this.options.note('no login session found (XDG_SESSION_ID is unset and the user has no display session): the session\'s lock is not followed');
      return;
    }
    try {
      const object = await bus.getProxyObject(LOGIN1, sessionPath);
      const session = proxy(object, SESSION);
      const props = proxy(object, PROPERTIES);
      session.on('Lock', () => this.options.post({ type: 'lock' }));
      session.on('Unlock', () => this.options.post({ type: 'unlock' }));
      props.on('PropertiesChanged', (iface: string, changed: Record<string, dbus.Variant>) => {
        if (iface !== SESSION || !changed.LockedHint) return;
        this.options.post({ type: changed.LockedHint.value ? 'lock' : 'unlock' });
      });
      const locked = (await props.Get(SESSION, 'LockedHint')) as dbus.Variant<boolean>;
      if (locked.value) this.options.post({ type: 'lock' });
      this.options.note(`following logind: sleep, and the lock of session ${sessionPath.split('/').pop()}`);
    } catch (error) {
      this.options.note(`cannot follow the login session ${sessionPath} (${errorMessage(error)}): its lock is not followed`);
    }
  }
}

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    promise,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new DaemonError(`${what} within ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}
