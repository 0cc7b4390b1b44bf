/**
 * The switch bench's measuring end: a switch timed from the bench's own write to sway
 * to QEMU's RESUME on the bench's monitor, blocks of them, the wait until every VM is
 * quiet, and the raw `cont` block.
 */
import { performance } from 'node:perf_hooks';
import { DaemonClient } from '../api/client.js';
import type { Diagnostics } from '../api/schema.js';
import type { RunningBus } from '../test/harness/dbus.js';
import type { QuietDaemon } from '../test/harness/quiet-daemon.js';
import { withTimeout } from './proc-measure.js';
import { IpcSocket, QmpObserver, RUN_COMMAND, ipcFrame } from './raw.js';
import { GAP_MS, QUIET_MS, STEP_TIMEOUT_MS, VMS, type Sample, type System } from './switch-options.js';

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The entries `after` gained over `before` (the daemon's marks are a ring of ≤ 4096). */
export function appended(before: readonly number[], after: readonly number[]): number[] {
  for (let shift = 0; shift <= before.length; shift++) {
    const kept = before.length - shift;
    if (kept > after.length) continue;
    let same = true;
    for (let i = 0; i < kept && same; i++) same = after[i] === before[shift + i];
    if (same) return after.slice(kept);
  }
  return [...after];
}

export class Bench {
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
