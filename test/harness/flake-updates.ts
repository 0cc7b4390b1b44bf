/**
 * What the end-to-end tests of flake VM updates share: a desktop
 * (real sway, private bus) with a fake notification server, the stand-in nix
 * whose generations boot the real guest, and a wait for UpdateEvent signals.
 */
import dbus from 'dbus-next';
import path from 'node:path';
import type { DaemonClient } from '../../api/client.js';
import { ensureGuest, type Guest } from './guest.js';
import { startDesktop, type DesktopSession } from './session.js';
import { guestManifest, makeStandInNix, type StandInNix } from './stand-in-nix.js';
import { closeBus } from '../../api/bus.js';
import { bound } from './bounds.js';

export const REV = { a: 'a1a1a1a'.padEnd(40, '1'), b: 'b2b2b2b'.padEnd(40, '2'), c: 'c3c3c3c'.padEnd(40, '3'), d: 'd4d4d4d'.padEnd(40, '4') };

export class FakeNotifications extends dbus.interface.Interface {
  calls: { summary: string; body: string }[] = [];
  constructor() {
    super('org.freedesktop.Notifications');
  }
  #waiters: { match: (n: { summary: string; body: string }) => boolean; resolve: () => void }[] = [];
  Notify(_app: string, _replaces: number, _icon: string, summary: string, body: string): number {
    this.calls.push({ summary, body });
    for (const waiter of this.#waiters.filter((w) => w.match({ summary, body }))) {
      this.#waiters.splice(this.#waiters.indexOf(waiter), 1);
      waiter.resolve();
    }
    return this.calls.length;
  }
  /** Resolves once a notification matching `match` has come (or already has). */
  received(match: (n: { summary: string; body: string }) => boolean, timeoutMs = 10_000): Promise<void> {
    if (this.calls.some(match)) return Promise.resolve();
    timeoutMs = bound(timeoutMs);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no such notification within ${timeoutMs} ms: ${JSON.stringify(this.calls)}`)), timeoutMs);
      this.#waiters.push({ match, resolve: () => (clearTimeout(timer), resolve()) });
    });
  }
}
FakeNotifications.configureMembers({ methods: { Notify: { inSignature: 'susssasa{sv}i', outSignature: 'u' } } });

/** Resolves with the next UpdateEvent of `name` whose kind is one of `kinds`. */
export function nextUpdate(client: DaemonClient, name: string, kinds: string[], timeoutMs: number): Promise<{ kind: string; message: string }> {
  timeoutMs = bound(timeoutMs);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      client.off('update', listener);
      reject(new Error(`${name}: no update event ${kinds.join('|')} within ${timeoutMs} ms`));
    }, timeoutMs);
    const listener = (event: { name: string; kind: string; message: string }) => {
      if (event.name !== name || !kinds.includes(event.kind)) return;
      clearTimeout(timer);
      client.off('update', listener);
      resolve(event);
    };
    client.on('update', listener);
  });
}


export interface FlakeDesktop {
  session: DesktopSession;
  nix: StandInNix;
  notifications: FakeNotifications;
  guest: Guest;
  /**
   * The serial console of the VM (acme) while the generation built from `rev`
   * runs: hiboss's console.log in its run dir, which QEMU truncates at each start.
   */
  serial(rev: string): string;
  /** The next build is revision `rev`, booting the real guest with `cmdline` (its knobs: panic, no agent). */
  nextBuild(rev: string, cmdline?: string): void;
  /** The daemon's environment: the stand-in nix first on PATH. */
  env: NodeJS.ProcessEnv;
  end(): Promise<void>;
}

export async function startFlakeDesktop(label: string): Promise<FlakeDesktop> {
  const guest = await ensureGuest();
  const session = await startDesktop('sway', label);
  const nix = makeStandInNix(path.join(session.sandbox.root, 'nix'));
  const bus = dbus.sessionBus({ busAddress: session.bus.address });
  bus.on('error', () => {});
  // A Notify still on the wire when the test ends would be answered on a closed stream (an uncaught throw).
  let open = true;
  const send = bus.send.bind(bus);
  bus.send = (message) => void (open && send(message));
  const notifications = new FakeNotifications();
  bus.export('/org/freedesktop/Notifications', notifications);
  await bus.requestName('org.freedesktop.Notifications', dbus.NameFlag.DO_NOT_QUEUE);
  nix.setGuest(guest);
  const serial = (_rev: string) => path.join(session.sandbox.runtimeDir, 'hiboss', 'acme', 'console.log');
  return {
    session,
    nix,
    notifications,
    guest,
    serial,
    nextBuild(rev, cmdline = '') {
      nix.setRevision(rev);
      nix.setManifest(guestManifest('acme', cmdline));
    },
    env: { PATH: `${nix.binDir}:${process.env.PATH}` },
    async end() {
      await session.end();
      open = false;
      closeBus(bus);
    },
  };
}
