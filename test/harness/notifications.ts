/**
 * A stand-in notification server (org.freedesktop.Notifications) on a test's
 * private session bus: records what the daemon tells the user.
 */
import dbus from 'dbus-next';
import { closeBus } from '../../api/bus.js';
import { bound } from './bounds.js';

class FakeNotifications extends dbus.interface.Interface {
  calls: { summary: string; body: string }[] = [];
  waiters: { match: (call: { summary: string; body: string }) => boolean; resolve: (call: { summary: string; body: string }) => void }[] = [];
  constructor() {
    super('org.freedesktop.Notifications');
  }
  Notify(_app: string, _replaces: number, _icon: string, summary: string, body: string): number {
    const call = { summary, body };
    this.calls.push(call);
    for (const waiter of [...this.waiters]) {
      if (!waiter.match(call)) continue;
      this.waiters.splice(this.waiters.indexOf(waiter), 1);
      waiter.resolve(call);
    }
    return this.calls.length;
  }
}
FakeNotifications.configureMembers({ methods: { Notify: { inSignature: 'susssasa{sv}i', outSignature: 'u' } } });

export interface NotificationServer {
  calls(): { summary: string; body: string }[];
  /** Resolves with the first notification (so far, from the `from`-th on, or to come) whose summary matches. */
  waitFor(summary: RegExp, timeoutMs?: number, from?: number): Promise<{ summary: string; body: string }>;
  stop(): void;
}

export async function startNotificationServer(busAddress: string): Promise<NotificationServer> {
  const bus = dbus.sessionBus({ busAddress });
  bus.on('error', () => {});
  const server = new FakeNotifications();
  bus.export('/org/freedesktop/Notifications', server);
  await bus.requestName('org.freedesktop.Notifications', dbus.NameFlag.DO_NOT_QUEUE);
  return {
    calls: () => [...server.calls],
    waitFor(summary, timeoutMs = 15_000, from = 0) {
      const found = server.calls.slice(from).find((call) => summary.test(call.summary));
      if (found) return Promise.resolve(found);
      timeoutMs = bound(timeoutMs);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no notification ${summary} within ${timeoutMs} ms; got ${JSON.stringify(server.calls)}`)), timeoutMs);
        server.waiters.push({ match: (call) => summary.test(call.summary), resolve: (call) => (clearTimeout(timer), resolve(call)) });
      });
    },
    stop: () => closeBus(bus),
  };
}
