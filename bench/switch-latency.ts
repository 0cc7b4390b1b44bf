/**
 * Switch latency on real sway and QEMU: how long after sway reports a workspace
 * focus does the paused VM bound to it run again?
 *
 *   npm run bench        (after `npx tsc -p .`)
 *
 * Measured in one run:
 *  - 200 switches round-robin between 4 bare QEMU VMs run by the real daemon
 *    (`bin/hiboss daemon`), each one paused beforehand: t0 = the bench's own sway
 *    subscription delivers the `workspace` focus event, t1 = a second QMP monitor
 *    on that VM (the daemon owns the main one) delivers RESUME;
 *  - the raw QMP `cont` round trip (send → reply) on a separate bare QEMU the
 *    bench starts itself, 200 times after a `stop`;
 *  - the daemon's RSS at the end.
 * Goal (informative, exit code 0 either way): p50 ≤ 2× raw cont, p99 ≤ 5 ms.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { QmpClient } from '../qmp/client.js';
import type { EventMessage } from '../qmp/protocol.js';
import { WmClient } from '../wm-ipc/client.js';
import type { WorkspaceEvent } from '../wm-ipc/protocol.js';
import { startDaemon, type RunningDaemon } from '../test/harness/daemon.js';
import { startSessionBus, type RunningBus } from '../test/harness/dbus.js';
import { pidsWithArg } from '../test/harness/inspect.js';
import { BARE_QEMU, startQemu, type RunningQemu } from '../test/harness/qemu.js';
import { makeSandbox, type Sandbox } from '../test/harness/sandbox.js';
import { startSway, type RunningWm } from '../test/harness/wm.js';

const VMS = 4;
const SWITCHES = 200;
const RAW_CONTS = 200;
const PAUSE_AFTER_MS = 30;
const P99_GOAL_MS = 5;
const P50_RATIO_GOAL = 2;
const STEP_TIMEOUT_MS = 10_000;

const vmName = (n: number) => `vm${n}`;

function percentile(sorted: number[], p: number): number {
  // Nearest rank.
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1]!;
}

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    promise,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what}: nothing within ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

function rssKiB(pid: number): number | undefined {
  try {
    const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

/** QEMU creates the socket file just before it listens: retry a refused connect briefly. */
async function connectQmp(socket: string): Promise<QmpClient> {
  const deadline = performance.now() + STEP_TIMEOUT_MS;
  for (;;) {
    try {
      return await QmpClient.connect(socket);
    } catch (error) {
      if (performance.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }
}

/** A second QMP monitor on a daemon-run VM: follows its run state from STOP/RESUME. */
class BenchMonitor {
  running = true;
  #waiters: { event: string; resolve: (at: number) => void }[] = [];

  constructor(readonly qmp: QmpClient) {
    qmp.on('event', (message: EventMessage) => {
      const at = performance.now();
      if (message.event === 'STOP') this.running = false;
      else if (message.event === 'RESUME') this.running = true;
      else return;
      for (const waiter of this.#waiters.filter((w) => w.event === message.event)) {
        this.#waiters.splice(this.#waiters.indexOf(waiter), 1);
        waiter.resolve(at);
      }
    });
  }

  /** Resolves with the arrival time (performance.now()) of the next `event`. */
  next(event: 'STOP' | 'RESUME'): Promise<number> {
    return new Promise((resolve) => this.#waiters.push({ event, resolve }));
  }
}

async function main(): Promise<void> {
  let sandbox: Sandbox | undefined;
  let wm: RunningWm | undefined;
  let bus: RunningBus | undefined;
  let daemon: RunningDaemon | undefined;
  let wmc: WmClient | undefined;
  let raw: RunningQemu | undefined;
  let rawQmp: QmpClient | undefined;
  const monitors: BenchMonitor[] = [];
  try {
    sandbox = makeSandbox('hbbench');
    const root = sandbox.root;
    const benchSocket = (n: number) => path.join(root, `bench${n}.sock`);
    wm = await startSway(sandbox);
    bus = await startSessionBus(sandbox.env);
    wmc = await WmClient.connect({ socketPath: wm.socketPath, reconnect: false });
    // Start on a workspace without a VM, so that every VM cold-starts on its own focus.
    await wmc.command('workspace 9');

    const vms: Record<string, unknown> = {};
    for (let n = 1; n <= VMS; n++) {
      vms[vmName(n)] = {
        workspace: String(n),
        qemu: [...BARE_QEMU, '-chardev', `socket,id=bench,path=${benchSocket(n)},server=on,wait=off`, '-mon', 'chardev=bench,mode=control'],
        memoryMiB: 64,
        restart: 'never',
      };
    }
    daemon = await startDaemon(sandbox, wm, bus, { vms, policy: { pauseAfterMs: PAUSE_AFTER_MS, powerdownTimeoutMs: 500 } });
    const client = daemon.client;

    // Cold-start every VM by focusing its workspace once.
    const coldStart: number[] = [];
    for (let n = 1; n <= VMS; n++) {
      const running = client.waitForState(vmName(n), (c) => c.state === 'running', 60_000);
      const t = performance.now();
      await wmc.command(`workspace ${n}`);
      await running;
      coldStart.push(performance.now() - t);
      const qmp = await connectQmp(benchSocket(n));
      const monitor = new BenchMonitor(qmp);
      monitor.running = (await qmp.execute('query-status')).running;
      monitors.push(monitor);
    }

    // The bench's own sway subscription: t0 is when it delivers the focus event.
    let onFocus: ((name: string, at: number) => void) | undefined;
    await wmc.subscribe(['workspace']);
    wmc.on('workspace', (event: WorkspaceEvent) => {
      const at = performance.now();
      if (event.change === 'focus' && event.current) onFocus?.(event.current.name, at);
    });

    const latencies: number[] = [];
    let waitedForPause = 0;
    for (let i = 0; i < SWITCHES; i++) {
      // Round-robin; the last cold-started workspace (VMS) is focused now, so start at 1.
      const n = (i % VMS) + 1;
      const monitor = monitors[n - 1]!;
      if (monitor.running) {
        waitedForPause++;
        await withTimeout(monitor.next('STOP'), STEP_TIMEOUT_MS, `${vmName(n)} pausing after it was hidden`);
      }
      const focused = new Promise<number>((resolve) => {
        onFocus = (name, at) => {
          if (name === String(n)) resolve(at);
        };
      });
      const resumed = monitor.next('RESUME');
      await wmc.command(`workspace ${n}`);
      const [t0, t1] = await withTimeout(Promise.all([focused, resumed]), STEP_TIMEOUT_MS, `switch ${i + 1} to workspace ${n}`);
      onFocus = undefined;
      latencies.push(t1 - t0);
    }

    // Raw QMP `cont` round trip on a bare QEMU the bench runs itself, in the same run.
    raw = await startQemu(path.join(root, 'raw'));
    rawQmp = await connectQmp(raw.qmpSocket);
    const conts: number[] = [];
    for (let i = 0; i < RAW_CONTS; i++) {
      await rawQmp.execute('stop');
      const t = performance.now();
      await rawQmp.execute('cont');
      conts.push(performance.now() - t);
    }

    const rss = rssKiB(daemon.process.pid);

    const sorted = [...latencies].sort((a, b) => a - b);
    const contSorted = [...conts].sort((a, b) => a - b);
    const p50 = percentile(sorted, 50);
    const p90 = percentile(sorted, 90);
    const p99 = percentile(sorted, 99);
    const max = sorted[sorted.length - 1]!;
    const rawP50 = percentile(contSorted, 50);
    const ratio = p50 / rawP50;
    const ms = (v: number) => `${v.toFixed(3)} ms`;
    const rows: [string, string][] = [
      ['switches (4 VMs, round-robin)', String(latencies.length)],
      ['switch p50 (focus event → RESUME)', ms(p50)],
      ['switch p90', ms(p90)],
      ['switch p99', ms(p99)],
      ['switch max', ms(max)],
      ['raw QMP cont round trip p50', `${ms(rawP50)}  (n=${conts.length}, p99 ${ms(percentile(contSorted, 99))})`],
      ['ratio switch p50 / raw cont p50', `${ratio.toFixed(2)}×  (goal ≤ ${P50_RATIO_GOAL}×: ${ratio <= P50_RATIO_GOAL ? 'PASS' : 'MISS'})`],
      ['switch p99 vs goal', `${ms(p99)} vs ≤ ${P99_GOAL_MS} ms: ${p99 <= P99_GOAL_MS ? 'PASS' : 'MISS'}`],
      ['daemon RSS at end', rss === undefined ? 'unknown' : `${(rss / 1024).toFixed(1)} MiB (${rss} kB)`],
    ];
    const width = Math.max(...rows.map(([k]) => k.length));
    console.log(`hiboss switch latency — sway + QEMU, ${os.cpus().length} CPUs, node ${process.version}, pauseAfterMs ${PAUSE_AFTER_MS}`);
    console.log(`cold starts: ${coldStart.map((v) => v.toFixed(0)).join(', ')} ms; waited for the pause before ${waitedForPause}/${SWITCHES} switches; switch min ${ms(sorted[0]!)}`);
    for (const [k, v] of rows) console.log(`  ${k.padEnd(width)}  ${v}`);
    console.log('(goals are informative; the exit code is 0 either way)');
    console.log('reproduce: npx tsc -p . && npm run bench');
  } finally {
    rawQmp?.close();
    for (const m of monitors) m.qmp.close();
    wmc?.close();
    await daemon?.stop().catch(() => {});
    await raw?.process.stop().catch(() => {});
    if (sandbox) {
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
