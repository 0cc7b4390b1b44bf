// The floor for the switch-latency bench: the least a program can do to resume a workspace's VM.
// No hiboss code on purpose — plain node:net, i3-ipc framing and the QMP line protocol by hand.
// It follows sway's workspace events; on a focus of workspace N it writes `cont` to VM N's QMP
// socket, and `stop` to the previously focused VM after pauseAfterMs (the same work as hiboss).
//
//   node floor.mjs '{"swaysock": PATH, "pauseAfterMs": MS, "vms": {"WORKSPACE": QMP_SOCKET, …}}'
//
// Prints "ready" on stdout once subscribed and connected, then nothing (the bench measures).
import net from 'node:net';

const { swaysock, pauseAfterMs, vms } = JSON.parse(process.argv[2]);
const CONT = '{"execute":"cont"}\n';
const STOP = '{"execute":"stop"}\n';
const MAGIC = Buffer.from('i3-ipc');
const GET_WORKSPACES = 1;
const SUBSCRIBE = 2;
const EVENT_BIT = 0x80000000;

/** A QMP connection after the capabilities handshake; everything QEMU sends later is ignored. */
function qmp(path) {
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
        socket.on('data', () => {}); // keep reading so QEMU never blocks on us
        resolve(socket);
      }
    };
    socket.on('data', onData);
    socket.once('error', reject);
  });
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
for (const [workspace, path] of Object.entries(vms)) sockets[workspace] = await qmp(path);

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
