/**
 * The daemon's hand-encoded D-Bus signals (daemon/signal-wire.ts): the same
 * bytes as dbus-next's own marshalling, and on a real dbus-daemon a client
 * receives them with their arguments, in order with the signals dbus-next
 * sends itself (one tick's signals share one write).
 */
import { createRequire } from 'node:module';
import dbus from 'dbus-next';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { daemonInterfaceMembers, INTERFACE, OBJECT_PATH } from '../../api/names.js';
import { closeBus } from '../../api/bus.js';
import { encodeSignal, SignalWire, type WireArg } from '../../daemon/signal-wire.js';
import { DaemonInterface } from '../../daemon/dbus-service.js';
import type { Daemon } from '../../daemon/daemon.js';
import { startSessionBus } from '../harness/dbus.js';
import { makeSandbox } from '../harness/sandbox.js';

const t = suite('signal wire');
const require = createRequire(import.meta.url);
const { marshallMessage } = require('dbus-next/lib/marshall-compat.js') as { marshallMessage(message: unknown): [Buffer, unknown[]] };
const signals = daemonInterfaceMembers().signals;

/** dbus-next's bytes for the same signal. */
function reference(serial: number, member: string, args: readonly WireArg[]): Buffer {
  const message = dbus.Message.newSignal(OBJECT_PATH, INTERFACE, member, signals[member as keyof typeof signals].signature, [...args]);
  message.serial = serial;
  return marshallMessage(message)[0];
}

t('every switch-path signal: byte for byte what dbus-next writes (ASCII, UTF-8, empty, long)', () => {
  const wire = new SignalWire({} as dbus.MessageBus, OBJECT_PATH, INTERFACE, signals);
  const cases: [string, WireArg[]][] = [
    ['StateChanged', ['vm1', 'running', 'focused']],
    ['StateChanged', ['réseau-été', 'paused', 'hidden for 100 ms 🖥']],
    ['FocusChanged', ['3', 'vm3']],
    ['FocusChanged', ['', '']],
    ['VmLog', ['a', 'x'.repeat(70_000)]],
    ['UpdateEvent', ['n', 'built', 'generation 4']],
    ['BackupChanged', ['n', 'done', 'ok']],
    ['MicrophoneChanged', ['vm2', true]],
    ['MicrophoneChanged', ['', false]],
  ];
  for (const [i, [member, args]] of cases.entries()) {
    const serial = 7 + i * 1000;
    const fields = wire.fieldsOf(member)!;
    const ours = encodeSignal(serial, fields, signals[member as keyof typeof signals].signature, args);
    assert.ok(ours, member);
    assert.is(ours!.toString('hex'), reference(serial, member, args).toString('hex'), `${member} ${JSON.stringify(args).slice(0, 60)}`);
  }
  // Not encodable: left to dbus-next (which refuses them as it always did).
  assert.is(wire.fieldsOf('ConfigChanged'), undefined);
  assert.is(encodeSignal(1, wire.fieldsOf('StateChanged')!, 'sss', ['a', 'b\0', 'c']), null);
  assert.is(encodeSignal(1, wire.fieldsOf('MicrophoneChanged')!, 'sb', ['a', 'yes' as unknown as boolean]), null);
  assert.is(encodeSignal(1, wire.fieldsOf('FocusChanged')!, 'ss', ['a']), null);
});

t('on a real bus: a client gets them, with dbus-next\'s own signals in the order sent', async () => {
  const sandbox = makeSandbox('hbwire');
  const bus = await startSessionBus(sandbox.env);
  const service = dbus.sessionBus({ busAddress: bus.address });
  const client = dbus.sessionBus({ busAddress: bus.address });
  try {
    const iface = new DaemonInterface({} as Daemon, 'test');
    service.export(OBJECT_PATH, iface);
    await service.requestName('org.hiboss.WireTest', dbus.NameFlag.DO_NOT_QUEUE);
    const wire = new SignalWire(service, OBJECT_PATH, INTERFACE, signals);
    const got: string[] = [];
    const all = new Promise<void>((resolve) => {
      client.on('message', (message: dbus.Message) => {
        if (message.type !== dbus.MessageType.SIGNAL || message.interface !== INTERFACE) return;
        got.push(`${message.member} ${JSON.stringify(message.body)}`);
        if (message.member === 'FocusChanged' && message.body[1] === 'end') resolve();
      });
    });
    await client.call(
      new dbus.Message({ destination: 'org.freedesktop.DBus', path: '/org/freedesktop/DBus', interface: 'org.freedesktop.DBus', member: 'AddMatch', signature: 's', body: [`type='signal',interface='${INTERFACE}'`] }),
    );
    // One tick: ours, dbus-next's, ours again.
    assert.ok(wire.send('StateChanged', ['vm1', 'running', 'focused é']));
    iface.ConfigChanged(true, ['none']);
    assert.ok(wire.send('MicrophoneChanged', ['vm1', true]));
    assert.not.ok(wire.send('StateChanged', ['vm1', 'bad\0', 'x']), 'a NUL goes to dbus-next');
    await new Promise((resolve) => setImmediate(resolve));
    assert.ok(wire.send('FocusChanged', ['1', 'end']));
    await all;
    assert.equal(got, [
      'StateChanged ["vm1","running","focused é"]',
      'ConfigChanged [true,["none"]]',
      'MicrophoneChanged ["vm1",true]',
      'FocusChanged ["1","end"]',
    ]);
  } finally {
    closeBus(client);
    closeBus(service);
    bus.stop();
    sandbox.remove();
  }
});

t.run();
