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
 *   … -- --floor-duties                          the floor also parses QMP, sends hiboss's signals and log lines
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
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { startSessionBus, type RunningBus } from '../test/harness/dbus.js';
import { pidsWithArg } from '../test/harness/inspect.js';
import { start, waitForFile, waitUntilAccepting, type Started } from '../test/harness/processes.js';
import { startQemu, type RunningQemu } from '../test/harness/qemu.js';
import { startQuietDaemon, hibossNodeFlags, type QuietDaemon } from '../test/harness/quiet-daemon.js';
import { makeSandbox, type Sandbox } from '../test/harness/sandbox.js';
import { startSway, type RunningWm } from '../test/harness/wm.js';
import { cpuMs, mainThreadCpuMs, procStatusKiB, withTimeout } from './proc-measure.js';
import { IpcSocket, QmpObserver, RUN_COMMAND, SUBSCRIBE } from './raw.js';
import { appended, Bench, sleep } from './switch-block.js';
import { report } from './switch-report.js';
import { BLOCK, EXTRA_DAEMON_FLAGS, FLOOR, FLOOR_DUTIES, KEEP_DAEMON_LOG, MEMORY_SWITCHES, IDLE_AFTER_MS, PAUSE_AFTER_MS, PROFILING, ROUNDS, SEMI_SPACE_FLAG, STEP_TIMEOUT_MS, STRESS, VMS, VM_QEMU, type System } from './switch-options.js';

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
    const floorConfig = {
      swaysock: wm.socketPath,
      pauseAfterMs: PAUSE_AFTER_MS,
      vms: Object.fromEntries(Array.from({ length: VMS }, (_, i) => [String(i + 1), floorSocket(i + 1)])),
      duties: FLOOR_DUTIES ? { bus: bus.address, logDir: root } : undefined,
    };
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

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error instanceof Error ? error.stack ?? error.message : error);
    process.exit(1);
  },
);
