/**
 * Switch latency on real sway and QEMU, against a floor: how long after a workspace
 * switch is written to sway does the paused VM bound to it run again?
 *
 *   npm run build && npm run bench              switches spaced beyond pauseAfterMs
 *   npm run build && npm run bench -- --stress  back-to-back switches instead
 *   … -- --rounds=N                             N rounds of blocks (default 10)
 *   … -- --daemon-node-flag=FLAG                more node flags for the daemon (e.g. --cpu-prof)
 *   … -- --windows                              print each block's time window (to match a profile or strace)
 *   … -- --daemon-log=PATH                      keep a copy of the daemon's stdout/stderr (e.g. with --trace-gc)
 *
 * One run, one sway, one set of 20 bare QEMU VMs, each with three QMP monitors: the
 * daemon's, the bench's (the observer: STOP/RESUME) and the floor's.
 *  - t0: right before the bench writes `workspace N` to sway's socket (as a key press
 *    would make sway run it); t1: RESUME arrives on the bench's monitor of VM N.
 *  - hiboss: the real daemon (`bin/hiboss daemon`, its node flags from bin/hiboss).
 *  - floor: bench/floor.mjs, a minimal Node program with no hiboss code that writes
 *    `cont` on a raw QMP socket on each focus event (and `stop` after pauseAfterMs).
 *  - Interleaved in blocks (hiboss, floor, raw QMP; ABBA order between rounds); the
 *    idle system is SIGSTOPped, and a block starts only once every VM is in its
 *    expected state and quiet (after SIGCONT a system replays what it missed).
 *  - raw: `cont` written → RESUME on a separate bare QEMU; sway: command → the
 *    bench's own copy of the focus event.
 *  - daemon-internal: the daemon's own marks (event bytes arrived → `cont` handed to
 *    the kernel; the write call itself is shown apart: it returns late when the kernel
 *    runs the woken QEMU first), read through D-Bus after each hiboss block, never
 *    before or during one.
 *  - memory: the daemon's VmRSS idle, after 1000 back-to-back switches, and 10 s later.
 * The daemon's stderr is a file of its own and no D-Bus client is connected during a block:
 * nothing but the bench's sockets runs in this process while it measures.
 * Goals are informative: exit 0 either way, 1 only if the bench itself broke.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { DaemonClient } from '../api/client.js';
import type { Diagnostics } from '../api/schema.js';
import { REPO } from '../test/harness/daemon.js';
import { startSessionBus, type RunningBus } from '../test/harness/dbus.js';
import { pidsWithArg } from '../test/harness/inspect.js';
import { start, waitForFile, waitUntilAccepting, type Started } from '../test/harness/processes.js';
import { startQemu, type RunningQemu } from '../test/harness/qemu.js';
import { startQuietDaemon, hibossNodeFlags, type QuietDaemon } from '../test/harness/quiet-daemon.js';
import { makeSandbox, type Sandbox } from '../test/harness/sandbox.js';
import { startSway, type RunningWm } from '../test/harness/wm.js';
import { cpuMs, mainThreadCpuMs, percentile, procStatusKiB, withTimeout } from './proc-measure.js';
import { IpcSocket, QmpObserver, RUN_COMMAND, SUBSCRIBE, ipcFrame } from './raw.js';

const STRESS = process.argv.includes('--stress');
const VMS = 20;
const BLOCK = 20;
const ROUNDS = Number(process.argv.find((a) => a.startsWith('--rounds='))?.slice('--rounds='.length) ?? 10);
const MEMORY_SWITCHES = 1000;
/** How long the daemon idles after the switching before its RSS is read once more. */
const IDLE_AFTER_MS = 10_000;
const PAUSE_AFTER_MS = 100;
/** After a spaced switch and the previous VM's pause: a random gap, so switches do not lock onto timers. */
const GAP_MS = [20, 40] as const;
/** A block starts once no VM changed state for this long (a pending pause would have happened). */
const QUIET_MS = PAUSE_AFTER_MS + 150;
const STEP_TIMEOUT_MS = 10_000;
/** For profiling the daemon under the bench's load; its figures are then not comparable. */
const EXTRA_DAEMON_FLAGS = process.argv.filter((a) => a.startsWith('--daemon-node-flag=')).map((a) => a.slice('--daemon-node-flag='.length));
/** Where to copy the daemon's log before the sandbox goes (its stdout: what --trace-gc prints). */
const KEEP_DAEMON_LOG = process.argv.find((a) => a.startsWith('--daemon-log='))?.slice('--daemon-log='.length);
/** Print each block's time window (for a daemon profile, strace or perf attached from outside). */
const PROFILING = process.argv.includes('--windows') || EXTRA_DAEMON_FLAGS.some((f) => f.startsWith('--cpu-prof'));
const SEMI_SPACE_FLAG = '--max-semi-space-size=2';
const VM_QEMU = ['qemu-system-x86_64', '-M', 'q35', '-m', '32', '-nodefaults', '-display', 'none', '-nic', 'none'];
const FLOOR = path.join(REPO, 'bench', 'floor.mjs');

const GOALS = { p50Ratio: 1.15, p99Ratio: 1.5, internalP50: 0.3, internalP99: 1, cpuRatio: 2, rssMiB: 70 };

type System = 'hiboss' | 'floor';
interface Sample {
  latency: number;
  swayEvent: number;
  /** RESUME came before the bench's own copy of the event (the old bench's t0 would have been late). */
  resumeFirst: boolean;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The entries `after` gained over `before` (the daemon's marks are a ring of ≤ 4096). */
function appended(before: readonly number[], after: readonly number[]): number[] {
  for (let shift = 0; shift <= before.length; shift++) {
    const kept = before.length - shift;
    if (kept > after.length) continue;
    let same = true;
    for (let i = 0; i < kept && same; i++) same = after[i] === before[shift + i];
    if (same) return after.slice(kept);
  }
  return [...after];
}

class Bench {
  readonly samples: Record<System, Sample[]> = { hiboss: [], floor: [] };
  /** Daemon marks: event → the `cont` write returned; `internalCall`: that write call alone, same switches. */
  readonly internal: number[] = [];
  readonly internalCall: number[] = [];
  readonly raw: number[] = [];
  readonly rawReply: number[] = [];
  readonly memory: Sample[] = [];
  readonly memoryInternal: number[] = [];
  readonly memoryInternalCall: number[] = [];
  /** Blocks whose count of new daemon marks was not one per switch. */
  readonly markMismatches: string[] = [];
  waitedForPause = 0;
  /** CPU ms spent during each system's blocks: by the system itself, sway and the bus daemon. */
  readonly cpu: Record<System, { own: number; main: number; sway: number; bus: number }> = { hiboss: { own: 0, main: 0, sway: 0, bus: 0 }, floor: { own: 0, main: 0, sway: 0, bus: 0 } };
  /** Marks from a daemon's replay of the events it missed while stopped (not timed). */
  replayMarks = 0;
  focused = 0;
  stopped = new Set<number>();
  #eventWaiter: { name: string; resolve: (at: number) => void } | undefined;
  readonly frames: Buffer[];

  constructor(
    readonly cmd: IpcSocket,
    readonly events: IpcSocket,
    readonly observers: QmpObserver[], // index = workspace number (0 unused)
    readonly daemon: QuietDaemon,
    readonly bus: RunningBus,
  ) {
    // Prepared frames: nothing but the write happens between t0 and the socket.
    this.frames = Array.from({ length: VMS + 1 }, (_, n) => ipcFrame(RUN_COMMAND, `workspace ${n}`));
    events.onEvent = (_type, body, at) => {
      const event = body as { change?: string; current?: { name?: string } };
      if (event.change === 'focus' && event.current?.name === this.#eventWaiter?.name) {
        this.#eventWaiter!.resolve(at);
        this.#eventWaiter = undefined;
      }
    };
  }

  /** One measured switch to workspace n, whose VM is paused. */
  async switchTo(n: number): Promise<Sample> {
    const target = this.observers[n]!;
    if (target.running) throw new Error(`vm${n} is running before its switch`);
    const resumed = target.next('RESUME');
    const seen = new Promise<number>((resolve) => (this.#eventWaiter = { name: String(n), resolve }));
    const { at: t0, reply } = this.cmd.send(this.frames[n]!);
    const [t1, tEvent, answer] = await withTimeout(Promise.all([resumed, seen, reply]), STEP_TIMEOUT_MS, `switch to workspace ${n}`);
    const ok = Array.isArray(answer) && (answer as { success?: boolean }[]).every((r) => r.success);
    if (!ok) throw new Error(`sway refused "workspace ${n}": ${JSON.stringify(answer)}`);
    this.focused = n;
    return { latency: t1 - t0, swayEvent: tEvent - t0, resumeFirst: t1 < tEvent };
  }

  /** `count` switches round-robin; spaced: each after the previous VM's pause and a gap. */
  async block(count: number, spaced: boolean, into: Sample[]): Promise<void> {
    for (let i = 0; i < count; i++) {
      const n = (this.focused % VMS) + 1;
      const previous = this.observers[this.focused];
      const target = this.observers[n]!;
      if (target.running) {
        // Back-to-back: its pause is not due yet. Not timed: the switch starts once it is paused.
        this.waitedForPause++;
        await withTimeout(target.next('STOP'), STEP_TIMEOUT_MS, `vm${n} pausing after it was hidden`);
      }
      into.push(await this.switchTo(n));
      if (spaced) {
        if (previous?.running) await withTimeout(previous.next('STOP'), STEP_TIMEOUT_MS, 'the previous VM pausing');
        await sleep(GAP_MS[0] + Math.random() * (GAP_MS[1] - GAP_MS[0]));
      }
    }
  }

  /** Until the focused VM runs, every other is paused, and nothing changed for QUIET_MS. */
  async settle(): Promise<void> {
    const since = performance.now();
    const deadline = since + 30_000;
    for (;;) {
      const now = performance.now();
      const wrong = this.observers.findIndex((o, i) => i > 0 && o.running !== (i === this.focused));
      const last = Math.max(since, ...this.observers.slice(1).map((o) => o.lastEventAt));
      if (wrong < 0 && now - last >= QUIET_MS) return;
      if (now > deadline) throw new Error(`VMs did not settle (vm${wrong} ${this.observers[wrong]?.running ? 'running' : 'paused'}, focused ${this.focused})`);
      await sleep(25);
    }
  }

  signal(pid: number, sig: 'SIGSTOP' | 'SIGCONT'): void {
    process.kill(pid, sig);
    if (sig === 'SIGSTOP') this.stopped.add(pid);
    else this.stopped.delete(pid);
  }

  /** The daemon's diagnostics through a short-lived D-Bus client (never open during a block). */
  async diagnostics(): Promise<Diagnostics> {
    const client = await DaemonClient.connect({ busAddress: this.bus.address, requireDaemon: true });
    try {
      return await client.diagnostics();
    } finally {
      client.close();
    }
  }

  async rawBlock(qmp: QmpObserver, count: number): Promise<void> {
    for (let i = 0; i < count; i++) {
      await qmp.execute('stop');
      const resumed = qmp.next('RESUME');
      const { at, reply } = qmp.send('cont');
      const [t1] = await withTimeout(Promise.all([resumed, reply]), STEP_TIMEOUT_MS, 'raw cont');
      this.raw.push(t1 - at);
      this.rawReply.push(performance.now() - at);
      await sleep(5);
    }
  }
}

async function main(): Promise<void> {
  let sandbox: Sandbox | undefined;
  let wm: RunningWm | undefined;
  let bus: RunningBus | undefined;
  let daemon: QuietDaemon | undefined;
  let floor: Started | undefined;
  let raw: RunningQemu | undefined;
  let rawQmp: QmpObserver | undefined;
  const sockets: { close(): void }[] = [];
  let bench: Bench | undefined;
  const started = performance.now();
  try {
    sandbox = makeSandbox('hbbench');
    const root = sandbox.root;
    const benchSocket = (n: number) => path.join(root, `b${n}.sock`);
    const floorSocket = (n: number) => path.join(root, `f${n}.sock`);
    wm = await startSway(sandbox);
    bus = await startSessionBus(sandbox.env);
    const cmd = await IpcSocket.connect(wm.socketPath);
    const events = await IpcSocket.connect(wm.socketPath);
    sockets.push(cmd, events);
    // Start on a workspace without a VM, so that every VM cold-starts on its own focus.
    await cmd.request(RUN_COMMAND, 'workspace 100');
    await events.request(SUBSCRIBE, '["workspace"]');

    const vms: Record<string, unknown> = {};
    for (let n = 1; n <= VMS; n++) {
      vms[`vm${n}`] = {
        workspace: String(n),
        qemu: [
          ...VM_QEMU,
          // hiboss adds its own -qmp; these two are the bench's observer and the floor's monitor.
          ...['-chardev', `socket,id=bench,path=${benchSocket(n)},server=on,wait=off`, '-mon', 'chardev=bench,mode=control'],
          ...['-chardev', `socket,id=floor,path=${floorSocket(n)},server=on,wait=off`, '-mon', 'chardev=floor,mode=control'],
        ],
        memoryMiB: 32,
        restart: 'never',
      };
    }
    let nodeFlags = hibossNodeFlags();
    const flagNote = nodeFlags.some((f) => f.startsWith('--max-semi-space-size')) ? 'from bin/hiboss' : 'added by the bench';
    if (flagNote === 'added by the bench') nodeFlags = [...nodeFlags, SEMI_SPACE_FLAG];
    daemon = await startQuietDaemon(sandbox, wm, bus, { vms, policy: { pauseAfterMs: PAUSE_AFTER_MS, powerdownTimeoutMs: 500 } }, [...nodeFlags, ...EXTRA_DAEMON_FLAGS]);

    // Cold-start every VM by focusing its workspace once; the bench's monitor connects as soon as QEMU listens.
    const observers: QmpObserver[] = [];
    const coldStart: number[] = [];
    for (let n = 1; n <= VMS; n++) {
      const t = performance.now();
      await cmd.request(RUN_COMMAND, `workspace ${n}`);
      await waitForFile(benchSocket(n), 60_000, `vm${n}'s bench monitor`);
      await waitUntilAccepting(benchSocket(n));
      const observer = await QmpObserver.connect(benchSocket(n));
      if (!observer.running) await withTimeout(observer.next('RESUME'), 60_000, `vm${n} cold start`);
      coldStart.push(performance.now() - t);
      observers[n] = observer;
      sockets.push(observer);
    }
    bench = new Bench(cmd, events, observers, daemon, bus);
    bench.focused = VMS;
    await bench.settle();
    await sleep(1000);
    const rssIdle = procStatusKiB(daemon.process.pid, 'VmRSS');

    // The floor, on the same VMs and the same sway, with the daemon's node flags.
    const floorConfig = { swaysock: wm.socketPath, pauseAfterMs: PAUSE_AFTER_MS, vms: Object.fromEntries(Array.from({ length: VMS }, (_, i) => [String(i + 1), floorSocket(i + 1)])) };
    floor = start(process.execPath, [...nodeFlags, FLOOR, JSON.stringify(floorConfig)], {
      env: wm.env,
      extendEnv: false,
      stdout: 'pipe',
      stderr: { file: path.join(root, 'floor.log') },
    });
    const floorProcess = floor;
    await withTimeout(
      new Promise<void>((resolve, reject) => {
        let out = '';
        floorProcess.child.stdout!.on('data', (chunk: Buffer) => {
          out += chunk.toString();
          if (out.includes('ready\n')) resolve();
        });
        void floorProcess.exited.then(() => reject(new Error(`the floor exited: ${fs.readFileSync(path.join(root, 'floor.log'), 'utf8')}`)));
      }),
      STEP_TIMEOUT_MS,
      'the floor starting',
    );

    raw = await startQemu(path.join(root, 'raw'), ['-m', '32']);
    rawQmp = await QmpObserver.connect(raw.qmpSocket);
    sockets.push(rawQmp);

    const pids: Record<System, number> = { hiboss: daemon.process.pid, floor: floor.pid };
    // The daemon's marks are read once after each hiboss block (before it is stopped), so no D-Bus call
    // precedes a measured switch. Its last BLOCK marks are the block's; earlier new ones are its replay.
    let marksSoFar = (await bench.diagnostics()).eventToWriteMs;
    const run = async (system: System) => {
      const other: System = system === 'hiboss' ? 'floor' : 'hiboss';
      if (!bench!.stopped.has(pids[other])) bench!.signal(pids[other], 'SIGSTOP');
      bench!.signal(pids[system], 'SIGCONT');
      await bench!.settle(); // it replays what it missed while stopped: let that finish
      const cpu0 = [cpuMs(pids[system]), cpuMs(wm!.process.pid), cpuMs(bus!.pid), mainThreadCpuMs(pids[system])];
      const blockStart = process.hrtime.bigint() / 1000n;
      const blockStartWall = Date.now();
      await bench!.block(BLOCK, !STRESS, bench!.samples[system]);
      await bench!.settle();
      const own = cpuMs(pids[system]) - cpu0[0]!;
      const main = mainThreadCpuMs(pids[system]) - cpu0[3]!;
      bench!.cpu[system].own += own;
      bench!.cpu[system].main += main;
      // For a daemon profile (--daemon-node-flag=--cpu-prof): its timestamps are the same monotonic µs.
      if (PROFILING) console.error(`${system} block: ${blockStart}..${process.hrtime.bigint() / 1000n} µs (monotonic), ${blockStartWall}..${Date.now()} ms (wall clock); CPU ${own.toFixed(1)} ms (main thread ${main.toFixed(1)})`);
      bench!.cpu[system].sway += cpuMs(wm!.process.pid) - cpu0[1]!;
      bench!.cpu[system].bus += cpuMs(bus!.pid) - cpu0[2]!;
      if (system === 'hiboss') {
        const diagnostics = await bench!.diagnostics();
        const after = diagnostics.eventToWriteMs;
        const marks = appended(marksSoFar, after);
        marksSoFar = after;
        bench!.internal.push(...marks.slice(-BLOCK));
        bench!.internalCall.push(...diagnostics.writeCallMs.slice(-Math.min(BLOCK, marks.length)));
        bench!.replayMarks += Math.max(0, marks.length - BLOCK);
        if (marks.length < BLOCK) bench!.markMismatches.push(`${marks.length} marks for ${BLOCK} switches`);
      }
      bench!.signal(pids[system], 'SIGSTOP');
    };

    const loopStarted = performance.now();
    for (let round = 0; round < ROUNDS; round++) {
      const order: System[] = round % 2 === 0 ? ['hiboss', 'floor'] : ['floor', 'hiboss'];
      for (const system of order) await run(system);
      await bench.rawBlock(rawQmp, BLOCK); // both systems stopped
    }
    const loopSeconds = (performance.now() - loopStarted) / 1000;

    // Memory: the floor ends (a stopped subscriber would pile up sway's events), the daemon switches on alone.
    bench.signal(pids.floor, 'SIGCONT');
    await floor.stop();
    bench.signal(pids.hiboss, 'SIGCONT');
    await bench.settle();
    const rssAfterLatency = procStatusKiB(daemon.process.pid, 'VmRSS');
    const beforeMemory = (await bench.diagnostics()).eventToWriteMs;
    await sleep(50);
    const cpuBeforeMemory = cpuMs(daemon.process.pid);
    await bench.block(MEMORY_SWITCHES, false, bench.memory);
    await bench.settle();
    const memoryCpuMs = (cpuMs(daemon.process.pid) - cpuBeforeMemory) / MEMORY_SWITCHES;
    const rssAfter = procStatusKiB(daemon.process.pid, 'VmRSS');
    // VmRSS = the daemon's own memory (RssAnon) + the pages of node's binary and libraries it has touched (RssFile: shared with every node process, dropped by the kernel at will).
    const rssAnonAfter = procStatusKiB(daemon.process.pid, 'RssAnon');
    const rssFileAfter = procStatusKiB(daemon.process.pid, 'RssFile');
    const rssPeak = procStatusKiB(daemon.process.pid, 'VmHWM');
    const finalDiagnostics = await bench.diagnostics();
    // What a user sees a little later, with nothing happening: V8 shrinks an idle heap by itself (its memory reducer).
    await sleep(IDLE_AFTER_MS);
    const rssLater = procStatusKiB(daemon.process.pid, 'VmRSS');
    const memoryMarks = appended(beforeMemory, finalDiagnostics.eventToWriteMs);
    bench.memoryInternal.push(...memoryMarks);
    bench.memoryInternalCall.push(...finalDiagnostics.writeCallMs.slice(finalDiagnostics.writeCallMs.length - memoryMarks.length));

    report({
      bench,
      nodeFlags,
      flagNote,
      coldStart,
      loopSeconds,
      rss: { idle: rssIdle, afterLatency: rssAfterLatency, after: rssAfter, peak: rssPeak, anonAfter: rssAnonAfter, fileAfter: rssFileAfter, later: rssLater },
      memory: finalDiagnostics.memory,
      memoryCpuMs,
      totalSeconds: (performance.now() - started) / 1000,
    });
  } finally {
    for (const socket of sockets) socket.close();
    for (const pid of bench?.stopped ?? []) {
      try {
        process.kill(pid, 'SIGCONT'); // a stopped process would not act on SIGTERM
      } catch {
        /* gone */
      }
    }
    await floor?.stop().catch(() => {});
    await daemon?.stop().catch(() => {});
    await raw?.process.stop().catch(() => {});
    if (sandbox) {
      // The daemon's QEMUs run in sessions of their own: find them by the sandbox path.
      for (const pid of pidsWithArg(sandbox.root)) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          /* gone */
        }
      }
    }
    await wm?.stop().catch(() => {});
    bus?.stop();
    if (KEEP_DAEMON_LOG && daemon) fs.copyFileSync(daemon.logFile, KEEP_DAEMON_LOG);
    sandbox?.remove();
  }
}

interface Report {
  bench: Bench;
  nodeFlags: string[];
  flagNote: string;
  coldStart: number[];
  loopSeconds: number;
  rss: { idle: number; afterLatency: number; after: number; peak: number; anonAfter: number; fileAfter: number; later: number };
  memory: Record<string, number>;
  /** The daemon's CPU ms per switch over the memory phase's back-to-back switches. */
  memoryCpuMs: number;
  totalSeconds: number;
}

function report(r: Report): void {
  const { bench } = r;
  const hiboss = bench.samples.hiboss.map((s) => s.latency);
  const floor = bench.samples.floor.map((s) => s.latency);
  const all = [...bench.samples.hiboss, ...bench.samples.floor];
  const sway = all.map((s) => s.swayEvent);
  const memory = bench.memory.map((s) => s.latency);
  const negatives = [...hiboss, ...floor, ...memory, ...bench.raw].filter((v) => v < 0).length;
  const measured = hiboss.length + floor.length + memory.length + bench.raw.length;
  const f = (v: number) => (Number.isNaN(v) ? 'n/a' : v.toFixed(3));
  const mib = (kib: number) => `${(kib / 1024).toFixed(1)} MiB`;
  const row = (label: string, values: readonly number[]) =>
    `  ${label.padEnd(44)} ${String(values.length).padStart(5)} ${[50, 90, 99].map((p) => f(percentile(values, p)).padStart(8)).join('')} ${f(percentile(values, 100)).padStart(8)}`;
  const ratio50 = percentile(hiboss, 50) / percentile(floor, 50);
  const ratio99 = percentile(hiboss, 99) / percentile(floor, 99);
  // The daemon's own part: up to the moment it hands `cont` to the kernel. The write call can return
  // late when the kernel runs the QEMU it woke at once: that time is QEMU's (the floor's write has it too).
  const own = bench.internal.map((v, i) => v - (bench.internalCall[i] ?? 0));
  const memoryOwn = bench.memoryInternal.map((v, i) => v - (bench.memoryInternalCall[i] ?? 0));
  const internal50 = percentile(own, 50);
  const internal99 = percentile(own, 99);
  const mode = STRESS ? 'back-to-back (--stress)' : `spaced (each switch after the previous VM's pause + ${GAP_MS[0]}–${GAP_MS[1]} ms)`;
  const load = os.loadavg().map((v) => v.toFixed(2)).join(' ');

  console.log(`hiboss switch latency — headless sway + QEMU (TCG), ${os.cpus().length} CPUs, node ${process.version}, load ${load}`);
  console.log(`${VMS} VMs (bare q35, 32 MiB, 3 QMP monitors each), pauseAfterMs ${PAUSE_AFTER_MS}, mode: ${mode}`);
  console.log(`${ROUNDS} rounds of blocks of ${BLOCK}: hiboss, floor (ABBA order), raw QMP; idle system SIGSTOPped; loop ${r.loopSeconds.toFixed(0)} s, total ${r.totalSeconds.toFixed(0)} s`);
  console.log(`daemon: node ${[...r.nodeFlags, ...EXTRA_DAEMON_FLAGS].join(' ')} bin/hiboss daemon (flags ${r.flagNote}); floor: node ${r.nodeFlags.join(' ')} bench/floor.mjs`);
  console.log(`cold starts: p50 ${percentile(r.coldStart, 50).toFixed(0)} ms, max ${percentile(r.coldStart, 100).toFixed(0)} ms`);
  console.log('');
  console.log(`  ${'ms'.padEnd(44)} ${'n'.padStart(5)}${['p50', 'p90', 'p99', 'max'].map((h) => h.padStart(8)).join('')}`);
  console.log(row('sway: command written → focus event', sway));
  console.log(row('raw QMP: cont written → RESUME', bench.raw));
  console.log(row('raw QMP: cont written → reply', bench.rawReply));
  console.log(row('floor: command written → RESUME', floor));
  console.log(row('hiboss: command written → RESUME', hiboss));
  console.log(row('floor: event (the bench\'s copy) → RESUME', bench.samples.floor.map((s) => s.latency - s.swayEvent)));
  console.log(row('hiboss: event (the bench\'s copy) → RESUME', bench.samples.hiboss.map((s) => s.latency - s.swayEvent)));
  console.log(row('hiboss daemon-internal: event → cont written', own));
  console.log(row('  the cont write call itself (QEMU woken)', bench.internalCall));
  console.log(row('  event → that write call returned', bench.internal));
  console.log(row('hiboss back-to-back (memory phase)', memory));
  console.log(row('  daemon-internal, back-to-back', memoryOwn));
  console.log('');
  console.log(`  ratio hiboss/floor: p50 ${ratio50.toFixed(2)}×, p99 ${ratio99.toFixed(2)}×`);
  console.log(`  negative latencies: ${negatives} of ${measured}`);
  const first = (s: Sample[]) => `${s.filter((x) => x.resumeFirst).length}/${s.length}`;
  console.log(`  RESUME before the bench's own copy of the event: hiboss ${first(bench.samples.hiboss)}, floor ${first(bench.samples.floor)}`);
  const perSwitch = (system: System) => {
    const n = bench.samples[system].length;
    const { own, main, sway, bus } = bench.cpu[system];
    return `${(own / n).toFixed(2)} itself (${(main / n).toFixed(2)} its main thread), ${(sway / n).toFixed(2)} sway, ${(bus / n).toFixed(2)} dbus-daemon`;
  };
  console.log(`  CPU ms per switch (resume and pause): floor ${perSwitch('floor')}; hiboss ${perSwitch('hiboss')}`);
  console.log(`  daemon CPU ms per switch over the ${MEMORY_SWITCHES} back-to-back switches: ${r.memoryCpuMs.toFixed(2)}`);
  console.log(`  switches that waited for a pending pause first (not timed): ${bench.waitedForPause}`);
  console.log(`  daemon marks from replaying missed events after SIGCONT (not counted): ${bench.replayMarks}`);
  if (bench.markMismatches.length > 0) console.log(`  daemon marks not one per switch in ${bench.markMismatches.length} blocks: ${bench.markMismatches.join('; ')}`);
  const heap = Object.entries(r.memory).map(([k, v]) => `${k} ${mib(v / 1024)}`).join(', ');
  console.log(`  daemon RSS: idle ${mib(r.rss.idle)}, after the latency rounds ${mib(r.rss.afterLatency)}, after ${MEMORY_SWITCHES} more back-to-back switches ${mib(r.rss.after)} (peak ${mib(r.rss.peak)}); at the end ${mib(r.rss.anonAfter)} its own (RssAnon) + ${mib(r.rss.fileAfter)} of node's shared code pages (RssFile); ${IDLE_AFTER_MS / 1000} s later, idle: ${mib(r.rss.later)}`);
  console.log(`  daemon's own memory at the end: ${heap}`);
  console.log('');
  const cpuRatio = bench.cpu.hiboss.own / bench.samples.hiboss.length / (bench.cpu.floor.own / bench.samples.floor.length);
  const goal = (label: string, value: string, met: boolean) => console.log(`  ${label.padEnd(44)} ${value.padStart(12)}  ${met ? 'yes' : 'NO'}`);
  console.log('goals (same run):');
  goal(`hiboss p50 ≤ ${GOALS.p50Ratio}× floor p50`, `${ratio50.toFixed(2)}×`, ratio50 <= GOALS.p50Ratio);
  goal(`hiboss p99 ≤ ${GOALS.p99Ratio}× floor p99`, `${ratio99.toFixed(2)}×`, ratio99 <= GOALS.p99Ratio);
  goal(`daemon-internal p50 ≤ ${GOALS.internalP50} ms`, `${f(internal50)} ms`, internal50 <= GOALS.internalP50);
  goal(`daemon-internal p99 ≤ ${GOALS.internalP99} ms`, `${f(internal99)} ms`, internal99 <= GOALS.internalP99);
  goal('negative latencies = 0', String(negatives), negatives === 0);
  goal(`daemon CPU per switch ≤ ${GOALS.cpuRatio}× floor's`, `${cpuRatio.toFixed(2)}×`, cpuRatio <= GOALS.cpuRatio);
  goal(`RSS ≤ ${GOALS.rssMiB} MiB after ${MEMORY_SWITCHES} switches, ${VMS} VMs`, mib(r.rss.after), r.rss.after / 1024 <= GOALS.rssMiB);
  console.log('(informative: the exit code is 0 whether or not the goals are met)');
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error instanceof Error ? error.stack ?? error.message : error);
    process.exit(1);
  },
);
