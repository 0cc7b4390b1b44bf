/**
 * The switch bench's report: the latency table, CPU and memory figures, and the goals
 * of one run.
 */
import os from 'node:os';
import type { Bench } from './switch-block.js';
import { percentile } from './proc-measure.js';
import { BLOCK, EXTRA_DAEMON_FLAGS, FLOOR_DUTIES, GAP_MS, GOALS, IDLE_AFTER_MS, MEMORY_SWITCHES, PAUSE_AFTER_MS, ROUNDS, STRESS, VMS, type Sample, type System } from './switch-options.js';

export interface Report {
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

export function report(r: Report): void {
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
  console.log(`daemon: node ${[...r.nodeFlags, ...EXTRA_DAEMON_FLAGS].join(' ')} bin/hiboss daemon (flags ${r.flagNote}); floor: node ${r.nodeFlags.join(' ')} bench/floor.mjs${FLOOR_DUTIES ? ' with duties (QMP parsed, signals, log lines)' : ''}`);
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
