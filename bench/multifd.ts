/**
 * Does multifd pay on this machine? QEMU 7.2 to QEMU 7.2 over unix sockets, the
 * real guest (`--mib=1024`) filled to 60 % with random data and paused, migrated
 * `--rounds=3` times each way: the classic single stream, and multifd with 1 and 2
 * channels (`multifd-channels`), timed from `migrate` to the destination's
 * MIGRATION `completed`. It answers whether hiboss should save and restore the
 * anonymous layout through N sockets (QEMU 7.2 has no mapped-ram, so multifd to a
 * file means the daemon listening on N sockets and replaying them on restore).
 *
 *   npm run build && node dist/bench/multifd.js [--mib=1024] [--rounds=3]
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { UNLIMITED_BANDWIDTH } from '../daemon/vm/migration.js';
import { QmpClient } from '../qmp/client.js';
import { ensureGuest, guestQemuArgv, tickCount } from '../test/harness/guest.js';
import { waitForContent } from '../test/harness/processes.js';
import { connectAgent, guestSh } from '../test/harness/records.js';

const flag = (name: string) => process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
const MIB = Number(flag('mib') ?? 1024);
const ROUNDS = Number(flag('rounds') ?? 3);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

type Mode = { name: string; channels: number | null };
const MODES: Mode[] = [
  { name: 'single stream', channels: null },
  { name: 'multifd, 1 channel', channels: 1 },
  { name: 'multifd, 2 channels', channels: 2 },
];

interface Qemu {
  child: ChildProcess;
  qmp: QmpClient;
}

async function startQemu(argv: string[], qmpSocket: string, incoming: boolean): Promise<Qemu> {
  const [file, ...args] = argv;
  const child = spawn(file!, [...args, '-qmp', `unix:${qmpSocket},server=on,wait=off`, ...(incoming ? ['-incoming', 'defer'] : [])], { stdio: 'ignore' });
  for (;;) {
    try {
      return { child, qmp: await QmpClient.connect(qmpSocket) };
    } catch {
      if (child.exitCode !== null) throw new Error(`QEMU exited (${child.exitCode})`);
      await sleep(10);
    }
  }
}

async function quit(q: Qemu): Promise<void> {
  await q.qmp.execute('quit').catch(() => undefined);
  q.qmp.close();
  await new Promise((resolve) => (q.child.exitCode !== null ? resolve(null) : q.child.once('exit', resolve)));
}

async function setMode(qmp: QmpClient, mode: Mode): Promise<void> {
  await qmp.execute('migrate-set-capabilities', { capabilities: [{ capability: 'events', state: true }, { capability: 'multifd', state: mode.channels !== null }] });
  // No throttle (QEMU's default is 128 MiB/s), as hiboss's own save sets it.
  await qmp.execute('migrate-set-parameters', { 'max-bandwidth': UNLIMITED_BANDWIDTH, ...(mode.channels !== null ? { 'multifd-channels': mode.channels } : {}) });
}

/**
 * One migration source → a fresh destination (started with -S: it stays paused, and becomes
 * the next round's source, since QEMU refuses to migrate again once a migration left it in
 * postmigrate); ms from `migrate` to the destination's completed.
 */
async function migrateOnce(root: string, source: Qemu, mode: Mode, argv: string[], n: number): Promise<{ ms: number; dest: Qemu }> {
  const socket = path.join(root, 'mig.sock');
  fs.rmSync(socket, { force: true });
  const dest = await startQemu([...argv, '-S'], path.join(root, `dest${n}.qmp`), true);
  try {
    await setMode(dest.qmp, mode);
    await setMode(source.qmp, mode);
    const done = new Promise<string>((resolve) => dest.qmp.onEvent('MIGRATION', (e) => ['completed', 'failed'].includes(e.data.status) && resolve(e.data.status)));
    const sourceDone = new Promise<string>((resolve) => source.qmp.onEvent('MIGRATION', (e) => ['completed', 'failed'].includes(e.data.status) && resolve(e.data.status)));
    await dest.qmp.execute('migrate-incoming', { uri: `unix:${socket}` });
    const started = performance.now();
    await source.qmp.execute('migrate', { uri: `unix:${socket}` });
    const status = await done;
    const took = performance.now() - started;
    if (status !== 'completed' || (await sourceDone) !== 'completed') throw new Error(`${mode.name}: migration ${status}`);
    await quit(source);
    return { ms: took, dest };
  } catch (error) {
    await quit(dest);
    throw error;
  }
}

async function main(): Promise<void> {
  const guest = await ensureGuest();
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'multifd-'));
  const agentSocket = path.join(root, 'qga.sock');
  const serial = path.join(root, 'serial');
  const argv = guestQemuArgv(guest, serial, '', { agentSocket, memoryMiB: MIB });
  const destArgv = guestQemuArgv(guest, path.join(root, 'dest-serial'), '', { agentSocket: path.join(root, 'dest-qga.sock'), memoryMiB: MIB });
  let source = await startQemu(argv, path.join(root, 'source.qmp'), false);
  try {
    await waitForContent(serial, (text) => tickCount(text) >= 1, 120_000);
    const fillMiB = Math.floor(MIB * 0.6);
    const agent = await connectAgent(agentSocket);
    const filled = await guestSh(agent, `mkdir -p /big && mount -t tmpfs -o size=90% tmpfs /big && dd if=/dev/urandom of=/big/r bs=1M count=16 2>/dev/null && i=0; while [ $i -lt ${Math.floor(fillMiB / 16)} ]; do cat /big/r >> /big/fill; i=$((i+1)); done`, 600_000);
    agent.close();
    if (filled.code !== 0) throw new Error(`fill: ${filled.stderr}`);
    await source.qmp.execute('stop');
    console.log(`multifd: real guest ${MIB} MiB, ${fillMiB} MiB of random data, paused; QEMU→QEMU over unix sockets; ${os.cpus().length} cores; ${ROUNDS} rounds`);
    const times = new Map<string, number[]>(MODES.map((m) => [m.name, []]));
    // Interleaved, so that a busy spell on the shared machine falls on every mode alike.
    let n = 0;
    for (let round = 0; round < ROUNDS; round++) {
      for (const mode of MODES) {
        const hop = await migrateOnce(root, source, mode, destArgv, n++);
        times.get(mode.name)!.push(hop.ms);
        source = hop.dest;
      }
    }
    const median = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)]!;
    const base = median(times.get(MODES[0]!.name)!);
    for (const mode of MODES) {
      const v = times.get(mode.name)!;
      console.log(`   ${mode.name.padEnd(20)} median ${median(v).toFixed(0)} ms (${v.map((t) => t.toFixed(0)).join(', ')}); ÷ single stream ${(median(v) / base).toFixed(2)}×`);
    }
  } finally {
    await quit(source);
    fs.rmSync(root, { recursive: true, force: true });
  }
}

main().then(
  () => process.exit(0),
  (error: Error) => {
    console.error(`bench failed: ${error.stack ?? error.message}`);
    process.exit(1);
  },
);
