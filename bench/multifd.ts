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
import net from 'node:net';
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

async function startQemu(argv: string[], qmpSocket: string, incoming: boolean, imageFd: number | null = null): Promise<Qemu> {
  const [file, ...args] = argv;
  const stdio = imageFd === null ? 'ignore' : (['ignore', 'ignore', 'ignore', imageFd] as const);
  const child = spawn(file!, [...args, '-qmp', `unix:${qmpSocket},server=on,wait=off`, ...(incoming ? ['-incoming', 'defer'] : [])], { stdio: stdio as never });
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

const migrationEnd = (qmp: QmpClient) =>
  new Promise<string>((resolve) => qmp.onEvent('MIGRATION', (e) => ['completed', 'failed'].includes(e.data.status) && resolve(e.data.status)));

/**
 * A save the way hiboss would do multifd on QEMU 7.2: QEMU migrates to a unix socket the
 * bench listens on, every connection (the main channel first, then one per multifd channel)
 * written to its own file. ms from `migrate` until QEMU says completed and every file is closed.
 */
async function saveToFiles(root: string, source: Qemu, mode: Mode): Promise<{ ms: number; files: string[] }> {
  const socket = path.join(root, 'save.sock');
  fs.rmSync(socket, { force: true });
  const files: string[] = [];
  const written: Promise<void>[] = [];
  const server = net.createServer((connection) => {
    const file = path.join(root, `channel-${files.length}.bin`);
    files.push(file);
    const out = fs.createWriteStream(file, { mode: 0o600 });
    written.push(new Promise((resolve, reject) => out.once('close', resolve).once('error', reject)));
    connection.pipe(out);
  });
  await new Promise<void>((resolve) => server.listen(socket, resolve));
  try {
    await setMode(source.qmp, mode);
    const done = migrationEnd(source.qmp);
    const started = performance.now();
    await source.qmp.execute('migrate', { uri: `unix:${socket}` });
    if ((await done) !== 'completed') throw new Error(`${mode.name}: save failed`);
    await Promise.all(written);
    return { ms: performance.now() - started, files };
  } finally {
    server.close();
  }
}

/**
 * Its restore: a single stream as hiboss does it today (the file as QEMU's fd 3,
 * `migrate-incoming fd:3`); multifd by the bench connecting to QEMU's incoming socket once
 * per file, the main channel first, and streaming each file in. ms from `migrate-incoming`
 * to completed; the restored QEMU stays paused (-S) and is the next save's source.
 */
async function restoreFromFiles(root: string, mode: Mode, argv: string[], files: string[], n: number): Promise<{ ms: number; dest: Qemu }> {
  const socket = path.join(root, 'restore.sock');
  fs.rmSync(socket, { force: true });
  const imageFd = mode.channels === null ? fs.openSync(files[0]!, 'r') : null;
  const dest = await startQemu([...argv, '-S'], path.join(root, `restored${n}.qmp`), true, imageFd);
  if (imageFd !== null) fs.closeSync(imageFd);
  try {
    await setMode(dest.qmp, mode);
    const done = migrationEnd(dest.qmp);
    const started = performance.now();
    await dest.qmp.execute('migrate-incoming', { uri: mode.channels === null ? 'fd:3' : `unix:${socket}` });
    if (mode.channels !== null) {
      for (const file of files) {
        const connection = net.createConnection(socket);
        await new Promise<void>((resolve, reject) => connection.once('connect', resolve).once('error', reject));
        fs.createReadStream(file).pipe(connection);
      }
    }
    if ((await done) !== 'completed') throw new Error(`${mode.name}: restore failed`);
    return { ms: performance.now() - started, dest };
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

    // Through files, as hiboss would have to: save to the bench's socket → files, restore from them.
    console.log('   through files (the page cache), as hiboss would do it on QEMU 7.2:');
    const fileModes = [MODES[0]!, MODES[2]!];
    const saves = new Map<string, number[]>(fileModes.map((m) => [m.name, []]));
    const restores = new Map<string, number[]>(fileModes.map((m) => [m.name, []]));
    for (let round = 0; round < ROUNDS; round++) {
      for (const mode of fileModes) {
        const saved = await saveToFiles(root, source, mode);
        saves.get(mode.name)!.push(saved.ms);
        await quit(source);
        const restored = await restoreFromFiles(root, mode, destArgv, saved.files, n++);
        restores.get(mode.name)!.push(restored.ms);
        source = restored.dest;
        for (const file of saved.files) fs.rmSync(file);
      }
    }
    const fileBase = median(restores.get(fileModes[0]!.name)!);
    for (const mode of fileModes) {
      const r = restores.get(mode.name)!;
      const w = saves.get(mode.name)!;
      console.log(`   ${mode.name.padEnd(20)} save median ${median(w).toFixed(0)} ms (${w.map((t) => t.toFixed(0)).join(', ')}); restore median ${median(r).toFixed(0)} ms (${r.map((t) => t.toFixed(0)).join(', ')}); restore ÷ single stream ${(median(r) / fileBase).toFixed(2)}×`);
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
