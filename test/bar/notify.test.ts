/**
 * daemon/notify.ts against a fake org.freedesktop.Notifications on a private
 * bus; and without any server, where notify() must resolve and log once.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import dbus from 'dbus-next';
import { Notifier } from '../../daemon/notify.js';
import { makeSandbox, type Sandbox } from '../harness/sandbox.js';
import { startSessionBus, type RunningBus } from '../harness/dbus.js';
import { closeBus } from '../../api/bus.js';

class FakeNotifications extends dbus.interface.Interface {
  calls: unknown[][] = [];
  hang = false;
  constructor() {
    super('org.freedesktop.Notifications');
  }
  Notify(...args: unknown[]): Promise<number> | number {
    this.calls.push(args);
    // A hung server: never answers.
    if (this.hang) return new Promise(() => {});
    return 40 + this.calls.length;
  }
}
FakeNotifications.configureMembers({ methods: { Notify: { inSignature: 'susssasa{sv}i', outSignature: 'u' } } });

async function startServer(address: string): Promise<{ iface: FakeNotifications; stop(): void }> {
  const bus = dbus.sessionBus({ busAddress: address });
  bus.on('error', () => {});
  const iface = new FakeNotifications();
  bus.export('/org/freedesktop/Notifications', iface);
  await bus.requestName('org.freedesktop.Notifications', dbus.NameFlag.DO_NOT_QUEUE);
  return { iface, stop: () => closeBus(bus) };
}

const t = suite('notifications');
let sandbox: Sandbox;
let bus: RunningBus;
let notifier: Notifier | undefined;
let server: { iface: FakeNotifications; stop(): void } | undefined;

t.before.each(async () => {
  sandbox = makeSandbox('notify');
  bus = await startSessionBus(sandbox.env);
});
t.after.each(() => {
  notifier?.close();
  server?.stop();
  server = undefined;
  bus?.stop();
  sandbox?.remove();
});

t('the server receives Notify with summary, body and urgency', async () => {
  server = await startServer(bus.address);
  const logs: string[] = [];
  notifier = new Notifier({ busAddress: bus.address, logger: (l) => logs.push(l) });
  assert.is(await notifier.notify('VM web failed', 'QEMU exited with code 1', 'critical'), 41);
  assert.is(await notifier.notify('slow', 'cold start took 40 s', 'low'), 42);
  const [app, replaces, icon, summary, body, actions, hints, timeout] = server.iface.calls[0]!;
  assert.equal([app, replaces, icon, summary, body, actions, timeout], ['hiboss', 0, '', 'VM web failed', 'QEMU exited with code 1', [], -1]);
  const urgency = (hints as Record<string, dbus.Variant>).urgency!;
  assert.equal([urgency.signature, urgency.value], ['y', 2]);
  assert.is(((server.iface.calls[1]![6] as Record<string, dbus.Variant>).urgency!).value, 0);
  assert.equal(logs, []);
});

t('no server: resolves null quickly, logs once; a server that appears later gets through', async () => {
  const logs: string[] = [];
  notifier = new Notifier({ busAddress: bus.address, logger: (l) => logs.push(l) });
  const started = performance.now();
  assert.is(await notifier.notify('a', 'b', 'normal'), null);
  assert.is(await notifier.notify('a', 'b', 'normal'), null);
  assert.ok(performance.now() - started < 1000, 'took too long without a server');
  assert.is(logs.length, 1);
  assert.match(logs[0]!, /notifications unavailable \(org\.freedesktop\.DBus\.Error\.ServiceUnknown/);
  server = await startServer(bus.address);
  assert.is(await notifier.notify('now', 'there', 'normal'), 41);
  assert.is(logs.length, 1);
});

t('a hung server is bounded by the timeout; no session bus at all is logged, not thrown', async () => {
  server = await startServer(bus.address);
  server.iface.hang = true;
  const logs: string[] = [];
  notifier = new Notifier({ busAddress: bus.address, logger: (l) => logs.push(l), timeoutMs: 200 });
  const started = performance.now();
  assert.is(await notifier.notify('x', 'y', 'normal'), null);
  const took = performance.now() - started;
  assert.ok(took >= 190 && took < 1000, `took ${took} ms`);
  assert.match(logs[0]!, /no reply within 200 ms/);

  const noBus: string[] = [];
  const saved = process.env.DBUS_SESSION_BUS_ADDRESS;
  delete process.env.DBUS_SESSION_BUS_ADDRESS;
  try {
    const lonely = new Notifier({ logger: (l) => noBus.push(l) });
    assert.is(await lonely.notify('x', 'y', 'critical'), null);
    assert.is(await lonely.notify('x', 'y', 'critical'), null);
    lonely.close();
  } finally {
    if (saved !== undefined) process.env.DBUS_SESSION_BUS_ADDRESS = saved;
  }
  assert.equal(noBus.length, 1);
  assert.match(noBus[0]!, /no session bus/);

  // A bus address that leads nowhere: still resolves, logged once.
  const deadLogs: string[] = [];
  const dead = new Notifier({ busAddress: `unix:path=${sandbox.root}/nothing`, logger: (l) => deadLogs.push(l), timeoutMs: 500 });
  assert.is(await dead.notify('x', 'y', 'low'), null);
  dead.close();
  assert.is(deadLogs.length, 1, deadLogs.join('\n'));
});

t.run();
