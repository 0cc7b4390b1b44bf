// The floor for the switch-latency bench: the least a program can do to resume a workspace's VM.
// No hiboss code on purpose — plain node:net, i3-ipc framing and the QMP line protocol by hand.
// It follows sway's workspace events; on a focus of workspace N it writes `cont` to VM N's QMP
// socket, and `stop` to the previously focused VM after pauseAfterMs (the same work as hiboss).
//
//   node floor.mjs '{"swaysock": PATH, "pauseAfterMs": MS, "vms": {"WORKSPACE": QMP_SOCKET, …}}'
//
// With "duties": {"bus": ADDRESS, "logDir": DIR} it also does the I/O the daemon owes per switch and
// nothing else: each QMP line parsed as JSON, on RESUME/STOP a StateChanged signal and a log line to
// stderr and to the VM's log file, on a focus a FocusChanged signal (D-Bus encoded by hand, one write
// per tick). The bench's `--floor-duties` runs it so: what any program doing hiboss's I/O would cost.
//
// Prints "ready" on stdout once subscribed and connected, then nothing (the bench measures).
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';

const { swaysock, pauseAfterMs, vms, duties } = JSON.parse(process.argv[2]);
const CONT = '{"execute":"cont"}\n';
const STOP = '{"execute":"stop"}\n';
const MAGIC = Buffer.from('i3-ipc');
const GET_WORKSPACES = 1;
const SUBSCRIBE = 2;
const EVENT_BIT = 0x80000000;

// ---- duties: D-Bus by hand (little endian, header fields and string bodies only) ----
function dbusMessage(type, serial, fields, signature, args) {
  const parts = [];
  const pad = (n, base) => {
    while ((base + parts.length) % n) parts.push(0);
  };
  const u32 = (v) => parts.push(v & 0xff, (v >> 8) & 0xff, (v >> 16) & 0xff, v >>> 24);
  for (const [code, type, value] of fields) {
    pad(8, 16);
    parts.push(code, 1, type.charCodeAt(0), 0);
    const bytes = Buffer.from(value);
    if (type === 'g') parts.push(bytes.length);
    else {
      pad(4, 16);
      u32(bytes.length);
    }
    parts.push(...bytes, 0);
  }
  const fieldsLength = parts.length;
  pad(8, 16);
  const body = [];
  for (const arg of args) {
    while (body.length % 4) body.push(0);
    const bytes = Buffer.from(arg);
    const n = bytes.length;
    body.push(n & 0xff, (n >> 8) & 0xff, (n >> 16) & 0xff, n >>> 24, ...bytes, 0);
  }
  const head = Buffer.alloc(16);
  head.write('l', 0);
  head[1] = type;
  head[3] = 1;
  head.writeUInt32LE(body.length, 4);
  head.writeUInt32LE(serial, 8);
  head.writeUInt32LE(fieldsLength, 12);
  return Buffer.concat([head, Buffer.from(parts), Buffer.from(body)]);
}

async function dutiesOf({ bus, logDir }) {
  const socketPath = /unix:path=([^,;]+)/.exec(bus)?.[1];
  if (!socketPath) throw new Error(`floor: bus address ${bus} is not unix:path=`);
  const socket = net.createConnection({ path: socketPath });
  await new Promise((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  let serial = 1;
  await new Promise((resolve, reject) => {
    let text = '';
    const onData = (chunk) => {
      text += chunk.toString('latin1');
      if (text.startsWith('OK ') && text.includes('\r\n')) {
        socket.off('data', onData);
        socket.write('BEGIN\r\n');
        const hello = [[1, 'o', '/org/freedesktop/DBus'], [2, 's', 'org.freedesktop.DBus'], [3, 's', 'Hello'], [6, 's', 'org.freedesktop.DBus']];
        socket.write(dbusMessage(1, serial++, hello, '', []));
        socket.on('data', () => {}); // the Hello reply and NameAcquired: read, ignored
        resolve();
      } else if (text.includes('\r\n')) reject(new Error(`floor: bus refused: ${text.trim()}`));
    };
    socket.on('data', onData);
    socket.write(`\0AUTH EXTERNAL ${Buffer.from(String(process.getuid())).toString('hex')}\r\n`);
  });
  const fields = (member, signature) => [[1, 'o', '/org/hiboss/Daemon1'], [2, 's', 'org.hiboss.Daemon1'], [3, 's', member], [8, 'g', signature]];
  const files = {};
  let corked = false;
  const signal = (member, signature, args) => {
    if (!corked) {
      corked = true;
      socket.cork();
      process.nextTick(() => {
        corked = false;
        socket.uncork();
      });
    }
    socket.write(dbusMessage(4, serial++, fields(member, signature), signature, args));
  };
  return {
    focus: (workspace, vm) => signal('FocusChanged', 'ss', [workspace, vm]),
    state(vm, state, reason) {
      process.stderr.write(`floor[info] ${vm}: ${state}: ${reason}\n`);
      files[vm] ??= fs.openSync(path.join(logDir, `${vm}.log`), 'a', 0o600);
      fs.writeSync(files[vm], `--- ${new Date().toISOString()} floor: ${state}: ${reason}\n`);
      signal('StateChanged', 'sss', [vm, state, reason]);
    },
  };
}

const duty = duties ? await dutiesOf(duties) : undefined;

/** A QMP connection after the capabilities handshake; everything QEMU sends later is ignored (or, with duties, parsed). */
function qmp(path, workspace) {
  return new Promise((resolve, reject) => {
    const socket = net.createConnection({ path });
    let text = '';
    let negotiating = false;
    const onData = (chunk) => {
      text += chunk.toString('utf8');
      if (!negotiating && text.includes('"QMP"')) {
        negotiating = true;
        socket.write('{"execute":"qmp_capabilities"}\n');
      }
      if (negotiating && text.includes('"return"')) {
        socket.off('data', onData);
        socket.on('data', duty ? dutyLines(workspace) : () => {}); // keep reading so QEMU never blocks on us
        resolve(socket);
      }
    };
    socket.on('data', onData);
    socket.once('error', reject);
  });
}

/** With duties: every QMP line parsed; RESUME and STOP told. */
function dutyLines(workspace) {
  let text = '';
  return (chunk) => {
    text += chunk.toString('utf8');
    for (let end = text.indexOf('\n'); end >= 0; end = text.indexOf('\n')) {
      const message = JSON.parse(text.slice(0, end));
      text = text.slice(end + 1);
      if (message.event === 'RESUME') duty.state(`vm${workspace}`, 'running', 'focused');
      else if (message.event === 'STOP') duty.state(`vm${workspace}`, 'paused', 'hidden');
    }
  };
}

function frame(type, payload) {
  const body = Buffer.from(payload, 'utf8');
  const head = Buffer.alloc(14);
  MAGIC.copy(head, 0);
  head.writeUInt32LE(body.length, 6);
  head.writeUInt32LE(type, 10);
  return Buffer.concat([head, body]);
}

const sockets = {};
for (const [workspace, socketPath] of Object.entries(vms)) sockets[workspace] = await qmp(socketPath, workspace);

const timers = {};
let focused; // the focused workspace's name
const replies = []; // resolvers for non-event frames, in order

function onFocus(name) {
  const previous = focused;
  focused = name;
  const vm = sockets[name];
  if (vm) {
    clearTimeout(timers[name]);
    vm.write(CONT);
  }
  if (duty) setImmediate(() => duty.focus(name, vm ? `vm${name}` : ''));
  if (previous !== undefined && previous !== name && sockets[previous]) {
    clearTimeout(timers[previous]);
    timers[previous] = setTimeout(() => sockets[previous].write(STOP), pauseAfterMs);
  }
}

const sway = net.createConnection({ path: swaysock });
let buffer = Buffer.alloc(0);
sway.on('data', (chunk) => {
  buffer = buffer.length === 0 ? chunk : Buffer.concat([buffer, chunk]);
  while (buffer.length >= 14) {
    const length = buffer.readUInt32LE(6);
    if (buffer.length < 14 + length) break;
    const type = buffer.readUInt32LE(10);
    const payload = buffer.subarray(14, 14 + length);
    buffer = buffer.subarray(14 + length);
    const body = JSON.parse(payload.toString('utf8'));
    if ((type & EVENT_BIT) === 0) replies.shift()?.(body);
    else if (type === EVENT_BIT && body.change === 'focus' && body.current) onFocus(body.current.name);
  }
});
sway.on('close', () => process.exit(0));
sway.on('error', (error) => {
  console.error(`floor: sway: ${error.message}`);
  process.exit(1);
});
const request = (type, payload) =>
  new Promise((resolve) => {
    replies.push(resolve);
    sway.write(frame(type, payload));
  });

// Subscribe first, then read the focused workspace: no focus change can fall between the two.
const subscribed = await request(SUBSCRIBE, '["workspace"]');
if (!subscribed.success) throw new Error('floor: sway refused the subscription');
const workspaces = await request(GET_WORKSPACES, '');
focused ??= workspaces.find((w) => w.focused)?.name;
process.stdout.write('ready\n');
