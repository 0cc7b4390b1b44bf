/**
 * qga/client.ts against Debian's real qemu-guest-agent in the real guest (v2),
 * on the virtio-serial channel QEMU serves as a unix socket; and its decoder's
 * handling of the 0xFF sync delimiter.
 */
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { AgentClient, AgentLineDecoder } from '../../qga/client.js';
import { AgentTimeoutError } from '../../qga/errors.js';
import { ensureGuest, guestQemuArgv, type Guest } from '../harness/guest.js';
import { start, waitForContent, waitForFile, type Started } from '../harness/processes.js';
import { bound } from '../harness/bounds.js';

const t = suite('guest agent client');
let guest: Guest;
let root: string;
let qemu: Started | undefined;

t.before(async () => {
  guest = await ensureGuest();
});
t.before.each(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'hbqga-'));
});
t.after.each(async () => {
  await qemu?.stop();
  qemu = undefined;
  fs.rmSync(root, { recursive: true, force: true });
});

function boot(cmdline = ''): { socket: string; serial: string } {
  const socket = path.join(root, 'qga.sock');
  const serial = path.join(root, 'serial.log');
  const [file, ...args] = guestQemuArgv(guest, serial, cmdline, { agentSocket: socket });
  qemu = start(file!, args);
  return { socket, serial };
}

/** QEMU binds the socket a moment before it listens, and serves one client at a time: connect once it takes us. */
async function connect(socket: string): Promise<AgentClient> {
  await waitForFile(socket, 15_000, 'agent socket');
  for (let attempt = 0; ; attempt++) {
    try {
      return await AgentClient.connect(socket);
    } catch (error) {
      if (attempt > 100) throw error;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
}

/** Pings until the agent answers (it starts a few seconds into the boot). */
async function pingUntilAnswered(client: AgentClient, deadline: number): Promise<number> {
  let attempts = 0;
  for (;;) {
    attempts++;
    try {
      await client.ping(1000);
      return attempts;
    } catch (error) {
      if (!(error instanceof AgentTimeoutError) || Date.now() > deadline) throw error;
    }
  }
}

t('the decoder drops what came before a 0xFF and splits lines across chunks', () => {
  const decoder = new AgentLineDecoder();
  assert.equal(decoder.push(Buffer.from('{"stale":')), []);
  assert.equal(decoder.push(Buffer.concat([Buffer.from('1}\n{"half'), Buffer.from([0xff]), Buffer.from('{"return": 7}\n{"ret')])), ['{"stale":1}', '{"return": 7}']);
  assert.equal(decoder.push(Buffer.from('urn": {}}\n')), ['{"return": {}}']);
});

t('connected before the agent starts: pings are answered once it is up, stale syncs skipped', async () => {
  const { socket, serial } = boot();
  const client = await connect(socket);
  try {
    const attempts = await pingUntilAnswered(client, Date.now() + bound(40_000));
    assert.ok(attempts >= 1);
    assert.match(fs.readFileSync(serial, 'utf8'), /GUEST-AGENT-UP/);
    // In step now: commands answer in order without syncing again.
    const info = await client.execute('guest-info', undefined, { timeoutMs: 5000 });
    assert.match(info.version, /^\d+\.\d+/);
    await client.ping(5000);
  } finally {
    client.close();
  }
});

t('garbage in the channel before the sync is skipped', async () => {
  const { socket } = boot();
  (await connect(socket)).close();
  // Another writer leaves half a request and a bogus line in the channel, then goes.
  await new Promise<void>((resolve, reject) => {
    const raw = net.createConnection(socket, () => raw.end('{"execute": "guest-ping"}\n{"exec', () => resolve()));
    raw.on('error', reject);
  });
  // QEMU serves one client at a time: the next connection may be refused (EAGAIN) until it took the last.
  const client = await connect(socket);
  try {
    await pingUntilAnswered(client, Date.now() + bound(40_000));
  } finally {
    client.close();
  }
});

t('a guest without its agent: every ping times out, clearly', async () => {
  const { socket, serial } = boot('hiboss.no_agent=1');
  await waitForContent(serial, (text) => /tick 3/.test(text), 30_000);
  const client = await connect(socket);
  try {
    const error = await client.ping(1500).then(() => undefined, (e: Error) => e);
    assert.instance(error, AgentTimeoutError);
    assert.match(error!.message, /guest-sync-delimited: no answer from the guest agent within 1500 ms/);
  } finally {
    client.close();
  }
});

t('QEMU gone: a waiting ping fails at once as disconnected', async () => {
  const { socket } = boot('hiboss.no_agent=1');
  const client = await connect(socket);
  const pending = client.ping(30_000).then(() => undefined, (e: Error) => e);
  await qemu!.stop();
  qemu = undefined;
  const error = await pending;
  assert.match(error?.name ?? '', /AgentDisconnectedError/);
});

t.run();
