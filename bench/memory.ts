/**
 * Memory, measured in one run on real headless sway, the real QEMU on
 * PATH (Debian 12's 7.2, TCG; bench/newer-qemu.ts puts Debian 13's 10.0 first on
 * PATH, whose images are mapped-ram) and the real guest (Debian's kernel + busybox,
 * counting on its serial):
 *
 *   npm run build && npm run bench:memory     (-- --rounds=N: restore rounds, default 16, every 4th prewarmed; --only=restore,hidden,reporting,budget,sizes;
 *                                              --sizes=256,1024,4096 (MiB), --guest-ram=file,anonymous, --cost-seconds=20: part 5 only)
 *
 *  1. restore latency: focus → the daemon's StateChanged(running) of a hibernated
 *     VM (sent right after QEMU's RESUME; nothing polls the restoring QEMU, which
 *     would steal CPU from it); against the floor measured in the same run, round
 *     by round (the same QEMU argv as the daemon's — its -name, -qmp, -pidfile and
 *     balloon included — started with `-incoming defer` until QMP answers, plus
 *     `cat IMAGE` into /dev/null), the image read once beforehand so that floor and
 *     restore both find it in the page cache; and against a cold boot of the same
 *     guest (focus → its first "tick" on the serial console); prewarmed (`hiboss
 *     prewarm`, then focus) against not; save time and image size.
 *  2. host RSS held by N hidden VMs: pause only, hibernate, balloon + pause.
 *  3. a guest frees 200 MiB: its QEMU's RSS with free-page reporting, and without.
 *  4. the budget: 6 VMs, a budget of 2 VMs' worth, switching among them: the RSS
 *     all QEMUs hold, sampled every 50 ms.
 *  5. guests of 256 MiB, 1 GiB and 4 GiB, 60 % filled, RAM in a file and anonymous:
 *     save, restore cached and not, floor, read-back, running cost (bench/big-guest.ts).
 *
 * Goals are informative (printed with their ratios): the bench exits 0 either way,
 * 1 only when it broke.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { promisify } from 'node:util';
import { QmpClient } from '../qmp/client.js';
import { residentBytes } from '../daemon/vm/memory.js';
import { balloonArgs } from '../daemon/launch/balloon.js';
import { findImage } from '../daemon/vm/hibernate.js';
import { controlArgs } from '../daemon/launch/launcher.js';
import { vmPaths, type VmPaths } from '../config/paths.js';
import { HIBOSS, type RunningDaemon } from '../test/harness/daemon.js';
import { ensureGuest, guestQemuArgv, tickCount, type Guest } from '../test/harness/guest.js';
import { pidsWithArg } from '../test/harness/inspect.js';
import { waitForContent } from '../test/harness/processes.js';
import { guestExec, withAgent } from '../test/harness/records.js';
import { startDesktop, type DesktopSession } from '../test/harness/session.js';
import { measureSize, printSize } from './big-guest.js';
import { GuestRam } from '../config/schema.js';

const run = promisify(execFile);
const MiB = 1024 * 1024;
const ROUNDS = Number(process.argv.find((a) => a.startsWith('--rounds='))?.slice('--rounds='.length) ?? 16);
/** `--only=restore,hidden,reporting,budget`: some parts only (while working on one). */
const ONLY = process.argv.find((a) => a.startsWith('--only='))?.slice('--only='.length).split(',');
const part = (name: string) => !ONLY || ONLY.includes(name);
const flag = (name: string) => process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
/** Part 5: `--sizes=256,1024` (MiB) and `--guest-ram=file` to run fewer (the machine is shared). */
const SIZES = (flag('sizes') ?? '256,1024,4096').split(',').map(Number);
const LAYOUTS = (flag('guest-ram') ?? 'file,anonymous').split(',').map((l) => GuestRam.parse(l));
const COST_SECONDS = Number(flag('cost-seconds') ?? 20);
const GUEST_MIB = 256;
const HIDDEN_VMS = 4;
const BUDGET_VMS = 6;
const COLD = ['c1', 'c2', 'c3'];
const GOALS = { restoreVsFloor: 1.5, coldVsRestore: 10, reportingWithinMs: 5000 };

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const mib = (bytes: number) => `${(bytes / MiB).toFixed(0)} MiB`;
const ms = (value: number) => (value >= 1000 ? `${(value / 1000).toFixed(2)} s` : `${value.toFixed(0)} ms`);

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

let guest: Guest;
let session: DesktopSession;
let daemon: RunningDaemon;

const root = () => session.sandbox.root;
const serial = (name: string) => path.join(root(), `${name}.serial`);
const runDir = (name: string) => path.join(session.sandbox.runtimeDir, 'hiboss', name);
const imageOf = (name: string) => path.join(session.sandbox.stateHome, 'hiboss', name, 'memory-image.bin');
/** The daemon's roots in the session's sandbox (its run and state dirs per VM). */
const vmRoots = () => ({ runRoot: path.join(session.sandbox.runtimeDir, 'hiboss'), stateRoot: path.join(session.sandbox.stateHome, 'hiboss') });

/** The real guest with its agent (where hiboss looks for it). */
function vmConfig(name: string, workspace: string, extra: Record<string, unknown> = {}, memoryMiB = GUEST_MIB) {
  return {
    workspace,
    qemu: [
      ...guestQemuArgv(guest, serial(name), '', { agentSocket: path.join(runDir(name), 'qga.sock'), memoryMiB }),
    ],
    restart: 'never',
    ...extra,
  };
}

/** A new desktop and daemon; the config is built once the sandbox (its paths) exists. */
async function fresh(config: () => unknown): Promise<void> {
  session = await startDesktop('sway', 'bmem');
  daemon = await session.startDaemon(config());
}

async function end(): Promise<void> {
  await session?.end();
}

async function stateOf(name: string): Promise<string> {
  return (await daemon.client.status()).vms.find((vm) => vm.name === name)!.state;
}

/** Resolves once `name` is in `state` (already, or by a later change). */
async function reach(name: string, state: string, timeoutMs = 60_000): Promise<void> {
  const changed = daemon.client.waitForState(name, (c) => c.state === state, timeoutMs);
  changed.catch(() => {});
  if ((await stateOf(name)) === state) return;
  await changed;
}

async function focus(workspace: string): Promise<number> {
  const t0 = performance.now();
  await session.wmc.command(`workspace ${workspace}`);
  return t0;
}

/** When the daemon's StateChanged(name, running) arrives here. */
function runningSignal(name: string): Promise<number> {
  return daemon.client.waitForState(name, (c) => c.state === 'running', 60_000).then(() => performance.now());
}

async function bootVisit(name: string, workspace: string): Promise<void> {
  await focus(workspace);
  await reach(name, 'running');
  await waitForContent(serial(name), (text) => /GUEST-AGENT-UP/.test(text) && tickCount(text) >= 2, 60_000);
}

async function inGuest(name: string, argv: string[]): Promise<void> {
  const run = await withAgent(path.join(runDir(name), 'qga.sock'), (agent) => guestExec(agent, argv, 60_000));
  if (run.code !== 0) throw new Error(`${argv.join(' ')} failed in ${name}`);
}

function qemuRss(names: string[]): number {
  let total = 0;
  for (const name of names) for (const pid of pidsWithArg(`${runDir(name)}/`)) total += residentBytes(pid) ?? 0;
  return total;
}

// ---- 1. restore latency, floor, cold boot, prewarm, save ------------------------------------

interface RestoreFigures {
  restore: number[];
  /** How the daemon wrote the image (the QEMU on PATH decides). */
  format: string;
  prewarmed: number[];
  floorQemu: number[];
  floorCat: number[];
  cold: number[];
  save: number[];
  imageBytes: number[];
  /** The daemon's own account of each restore (QEMU up, image loaded, done). */
  phases: string[];
  /** QEMU alone restoring the image (start, migrate-incoming fd:3, cont), no daemon. */
  bare: number[];
  /** Each restore against the floor measured in its own round. */
  pairedRatios: number[];
}

async function measureRestore(): Promise<RestoreFigures> {
  const figures: RestoreFigures = { format: '', restore: [], prewarmed: [], floorQemu: [], floorCat: [], cold: [], save: [], imageBytes: [], phases: [], bare: [], pairedRatios: [] };
  await fresh(() => ({
    vms: { r: vmConfig('r', '1'), ...Object.fromEntries(COLD.map((name, i) => [name, vmConfig(name, String(i + 2), { hibernate: false })])) },
    policy: { pauseAfterMs: 100, hibernateAfterMs: 300 },
  }));
  try {
    await bootVisit('r', '1');
    for (let round = 0; round < ROUNDS; round++) {
      // Hidden: paused, then saved; the figures come from the daemon after the fact.
      await focus('9');
      await reach('r', 'hibernated');
      const status = (await daemon.client.status()).vms.find((vm) => vm.name === 'r')!;
      figures.save.push(status.lastSaveMs!);
      figures.imageBytes.push(status.image!.bytes);
      const image = imageOf('r');
      figures.format = findImage(vmPaths(vmRoots(), 'r'))!.meta.format;
      // The same page cache for floor and restore: the image is read once beforehand (the save
      // has just written it; this makes sure), so neither pays for the disk.
      await catFloor(image);

      // The floor, same argv: QEMU with -incoming defer until QMP answers; reading the image.
      figures.floorQemu.push(await qemuStartFloor());
      figures.floorCat.push(await catFloor(image));
      figures.bare.push(await bareRestore(image, figures.format === 'mapped-ram'));

      const prewarm = round % 4 === 3;
      if (prewarm) {
        await run(process.execPath, [HIBOSS, 'prewarm', 'r'], { env: daemon.env });
        await reach('r', 'paused');
      }
      // t1: the daemon's StateChanged(running), which follows QEMU's RESUME by a millisecond or two.
      const signalled = runningSignal('r');
      const t0 = await focus('1');
      const took = (await signalled) - t0;
      (prewarm ? figures.prewarmed : figures.restore).push(took);
      if (!prewarm) figures.pairedRatios.push(took / (figures.floorQemu.at(-1)! + figures.floorCat.at(-1)!));
      await reach('r', 'running');
    }
    figures.phases = daemon.log().split('\n').filter((line) => /r: restore: QEMU up after/.test(line)).map((line) => line.replace(/^.*r: restore: /, ''));
    // Cold boots of the same guest (VMs never started yet): focus → its first tick.
    for (const [i, name] of COLD.entries()) {
      const t0 = await focus(String(i + 2));
      await waitForContent(serial(name), (text) => /tick 1\b/.test(text), 120_000);
      figures.cold.push(performance.now() - t0);
    }
  } finally {
    await end();
  }
  return figures;
}

/**
 * The argv the daemon starts a restore with (the guest's, then -name/-qmp/-pidfile as
 * controlArgs makes them, the balloon, -incoming defer), for a QEMU of the bench's own.
 */
function restoreArgv(socket: string): { file: string; args: string[] } {
  fs.mkdirSync(runDir('floor'), { recursive: true, mode: 0o700 });
  const [file, ...args] = vmConfig('floor', '99').qemu;
  const control = controlArgs('floor', { qmpSocket: socket, pidFile: path.join(root(), 'floor.pid') } as VmPaths);
  return { file: file!, args: [...args, ...control, ...balloonArgs({}), '-incoming', 'defer'] };
}

async function qmpWhenUp(socket: string): Promise<QmpClient> {
  for (;;) {
    try {
      return await QmpClient.connect(socket);
    } catch {
      await sleep(1);
    }
  }
}

async function quitBenchQemu(client: QmpClient, child: ChildProcess): Promise<void> {
  await client.execute('quit').catch(() => undefined);
  client.close();
  await new Promise((resolve) => (child.exitCode !== null ? resolve(null) : child.once('exit', resolve)));
}

/** The floor's first part: the daemon's restore argv (with -incoming defer) from spawn until QMP answers. */
async function qemuStartFloor(): Promise<number> {
  const socket = path.join(root(), 'floor.qmp');
  fs.rmSync(socket, { force: true });
  const { file, args } = restoreArgv(socket);
  const t0 = performance.now();
  const child = spawn(file, args, { stdio: 'ignore' });
  const client = await qmpWhenUp(socket);
  const elapsed = performance.now() - t0;
  await quitBenchQemu(client, child);
  return elapsed;
}

/**
 * QEMU alone, no daemon, the way the daemon does it: a stream image as its fd 3 and
 * migrate-incoming fd:3 (a mapped-ram image, QEMU ≥ 9: mapped-ram on and
 * migrate-incoming file:), `cont` once the MIGRATION event says completed, until
 * RESUME — the least a restore through this QEMU can take (told by events: a poll
 * would steal CPU from the loading QEMU).
 */
async function bareRestore(image: string, mappedRam: boolean): Promise<number> {
  const socket = path.join(root(), 'bare.qmp');
  fs.rmSync(socket, { force: true });
  const { file, args } = restoreArgv(socket);
  const imageFd = fs.openSync(image, 'r');
  const t0 = performance.now();
  const child = spawn(file, args, { stdio: ['ignore', 'ignore', 'ignore', imageFd] });
  fs.closeSync(imageFd);
  const client = await qmpWhenUp(socket);
  const loaded = new Promise<string>((resolve) => client.onEvent('MIGRATION', (event) => ['completed', 'failed'].includes(event.data.status) && resolve(event.data.status)));
  const resumed = new Promise((resolve) => client.onEvent('RESUME', resolve));
  await client.execute('migrate-set-capabilities', { capabilities: [{ capability: 'events', state: true }, ...(mappedRam ? [{ capability: 'mapped-ram', state: true }] : [])] });
  await client.execute('migrate-incoming', { uri: mappedRam ? `file:${image}` : 'fd:3' });
  if ((await loaded) !== 'completed') throw new Error('QEMU alone could not load the image');
  await client.execute('cont');
  await resumed;
  const elapsed = performance.now() - t0;
  await quitBenchQemu(client, child);
  return elapsed;
}

/** `cat IMAGE > /dev/null`, without a shell: cat's stdout is /dev/null. */
async function catFloor(image: string): Promise<number> {
  const devNull = fs.openSync('/dev/null', 'w');
  try {
    const t0 = performance.now();
    const child = spawn('cat', [image], { stdio: ['ignore', devNull, 'inherit'] });
    await new Promise((resolve) => child.once('exit', resolve));
    return performance.now() - t0;
  } finally {
    fs.closeSync(devNull);
  }
}

// ---- 2. RSS held by hidden VMs ----------------------------------------------------------------

type HiddenMode = 'pause, no balloon' | 'pause only' | 'hibernate' | 'balloon + pause';

async function measureHidden(mode: HiddenMode): Promise<{ held: number; perVm: number[] }> {
  const names = Array.from({ length: HIDDEN_VMS }, (_, i) => `h${i + 1}`);
  await fresh(() => ({
    vms: Object.fromEntries(names.map((name, i) => [name, vmConfig(name, String(i + 1), { balloon: mode !== 'pause, no balloon' })])),
    policy: { pauseAfterMs: 200, hibernateAfterMs: mode === 'hibernate' ? 500 : 0, balloonBeforePause: mode === 'balloon + pause' },
  }));
  try {
    for (const [i, name] of names.entries()) {
      await bootVisit(name, String(i + 1));
      // A working set of its own: 64 MiB kept in its /tmp.
      await inGuest(name, ['/bin/dd', 'if=/dev/zero', 'of=/tmp/keep', 'bs=1M', 'count=64']);
    }
    await focus('9');
    for (const name of names) await reach(name, mode === 'hibernate' ? 'hibernated' : 'paused');
    await sleep(1500); // free-page reporting has its say
    const perVm = names.map((name) => qemuRss([name]));
    return { held: perVm.reduce((a, b) => a + b, 0), perVm };
  } finally {
    await end();
  }
}

// ---- 3. free-page reporting ---------------------------------------------------------------------

async function measureReporting(balloon: boolean): Promise<{ full: number; after: number; backWithinMs: number | null }> {
  // 512 MiB: the guest's /tmp holds half of its memory, and 200 MiB must fit.
  await fresh(() => ({ vms: { f: vmConfig('f', '1', { balloon }, 512) }, policy: { pauseAfterMs: 60_000, hibernateAfterMs: 0 } }));
  try {
    await bootVisit('f', '1');
    await inGuest('f', ['/bin/dd', 'if=/dev/zero', 'of=/tmp/fill', 'bs=1M', 'count=200']);
    const full = qemuRss(['f']);
    const t0 = performance.now();
    await inGuest('f', ['/bin/rm', '/tmp/fill']);
    const samples: { at: number; rss: number }[] = [];
    while (performance.now() - t0 < 8000) {
      samples.push({ at: performance.now() - t0, rss: qemuRss(['f']) });
      await sleep(50);
    }
    // Back: when the RSS came within 2 MiB of the lowest it reached — provided that gives back
    // most (≥ 90 %) of the 200 MiB. Free-page reporting returns free memory in whole 2 MiB
    // blocks, so the few MiB left scattered among used pages never come back, in any run.
    const after = Math.min(...samples.map((sample) => sample.rss));
    const settled = samples.find((sample) => sample.rss <= after + 2 * MiB)!;
    const backWithinMs = full - after >= 180 * MiB ? settled.at : null;
    return { full, after, backWithinMs };
  } finally {
    await end();
  }
}

// ---- 4. the budget ------------------------------------------------------------------------------

async function measureBudget(): Promise<{ budgetMiB: number; samples: number[]; switches: number }> {
  const names = Array.from({ length: BUDGET_VMS }, (_, i) => `b${i + 1}`);
  // One VM's worth, measured first on a booted guest of the same kind.
  await fresh(() => ({ vms: { one: vmConfig('one', '1') }, policy: { pauseAfterMs: 60_000, hibernateAfterMs: 0 } }));
  let one: number;
  try {
    await bootVisit('one', '1');
    one = qemuRss(['one']);
  } finally {
    await end();
  }
  const budgetMiB = Math.round((2 * one) / MiB);
  await fresh(() => ({
    vms: Object.fromEntries(names.map((name, i) => [name, vmConfig(name, String(i + 1))])),
    policy: { pauseAfterMs: 100, hibernateAfterMs: 0, memoryBudgetMiB: budgetMiB },
  }));
  const samples: number[] = [];
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      samples.push(qemuRss(names));
      await sleep(50);
    }
  })();
  let switches = 0;
  try {
    for (let lap = 0; lap < 2; lap++) {
      for (const [i, name] of names.entries()) {
        await focus(String(i + 1));
        await reach(name, 'running', 120_000);
        await waitForContent(serial(name), (text) => tickCount(text) >= 2, 60_000);
        switches++;
      }
    }
  } finally {
    sampling = false;
    await sampler;
    await end();
  }
  return { budgetMiB, samples, switches };
}

// ---- the run ------------------------------------------------------------------------------------

async function main(): Promise<void> {
  guest = await ensureGuest();
  // The QEMU on PATH (a wrapper first on PATH benches another one: the image format follows what it offers).
  const qemu = (await run('qemu-system-x86_64', ['--version'])).stdout.split('\n', 1)[0]!.replace(/^QEMU emulator version /, 'QEMU ');
  console.log(`memory bench: real guest (${GUEST_MIB} MiB), ${qemu} TCG, headless sway; ${ROUNDS} restore rounds`);

  if (part('restore')) {
    const r = await measureRestore();
    const floor = r.floorQemu.map((q, i) => q + r.floorCat[i]!);
    const restoreP50 = percentile(r.restore, 50);
    const floorP50 = percentile(floor, 50);
    const coldP50 = percentile(r.cold, 50);
    console.log('\n1. restore (focus → StateChanged running, right after RESUME)');
    console.log(`   restore p50 ${ms(restoreP50)}  p90 ${ms(percentile(r.restore, 90))}  (${r.restore.length} rounds)`);
    console.log(`   floor p50 ${ms(floorP50)}  = QEMU -incoming defer to QMP ${ms(percentile(r.floorQemu, 50))} + cat image ${ms(percentile(r.floorCat, 50))}`);
    const bareP50 = percentile(r.bare, 50);
    console.log(`   QEMU alone restoring the image (no daemon: start, migrate-incoming ${r.format === 'mapped-ram' ? 'file:' : 'fd:3'}, cont, RESUME) p50 ${ms(bareP50)}: ${(bareP50 / floorP50).toFixed(2)}× the floor; restore/that ${(restoreP50 / bareP50).toFixed(2)}×`);
    console.log(`   restore/floor round by round: p50 ${percentile(r.pairedRatios, 50).toFixed(2)}×, p90 ${percentile(r.pairedRatios, 90).toFixed(2)}×`);
    console.log(`   the daemon's account: ${r.phases.slice(0, 3).join(' | ')}`);
    console.log(`   cold boot p50 ${ms(coldP50)}  (focus → first tick, ${r.cold.length} boots)`);
    if (r.prewarmed.length) console.log(`   prewarmed then focused p50 ${ms(percentile(r.prewarmed, 50))}  (${r.prewarmed.length} rounds)`);
    else console.log("   prewarmed then focused: none (every 4th round is prewarmed: --rounds=4 or more)");
    console.log(`   save p50 ${ms(percentile(r.save, 50))}  image ${mib(percentile(r.imageBytes, 50))} on disk (guest ${GUEST_MIB} MiB; ${r.format})`);
    console.log(`   ratio restore/floor ${(restoreP50 / floorP50).toFixed(2)}× (goal ≤ ${GOALS.restoreVsFloor}×: ${restoreP50 / floorP50 <= GOALS.restoreVsFloor ? 'met' : 'not met'})`);
    console.log(`   cold/restore ${(coldP50 / restoreP50).toFixed(1)}× (goal ≥ ${GOALS.coldVsRestore}×: ${coldP50 / restoreP50 >= GOALS.coldVsRestore ? 'met' : 'not met'})`);
  }

  if (part('hidden')) {
    console.log(`\n2. host RSS held by ${HIDDEN_VMS} hidden VMs (each ${GUEST_MIB} MiB, 64 MiB in use)`);
    for (const mode of ['pause, no balloon', 'pause only', 'balloon + pause', 'hibernate'] as const) {
      const h = await measureHidden(mode);
      console.log(`   ${mode.padEnd(17)} ${mib(h.held).padStart(8)}  (per VM: ${h.perVm.map(mib).join(', ')})`);
    }
  }

  if (part('reporting')) {
    console.log('\n3. a guest frees 200 MiB');
    for (const balloon of [true, false]) {
      const f = await measureReporting(balloon);
      const back = f.backWithinMs === null ? 'not back within 8 s' : `${mib(f.full - f.after)} of 200 MiB back within ${ms(f.backWithinMs)}`;
      console.log(`   ${balloon ? 'free-page reporting' : 'no balloon         '}  RSS ${mib(f.full)} → ${mib(f.after)}  (${back})`);
    }
  }

  if (part('budget')) {
    const b = await measureBudget();
    const over = b.samples.filter((s) => s > b.budgetMiB * MiB).length;
    console.log(`\n4. budget ${b.budgetMiB} MiB (2 VMs' worth), ${BUDGET_VMS} VMs, ${b.switches} switches`);
    console.log(`   held p50 ${mib(percentile(b.samples, 50))}  p95 ${mib(percentile(b.samples, 95))}  max ${mib(Math.max(...b.samples))}; over the budget in ${((100 * over) / b.samples.length).toFixed(0)}% of ${b.samples.length} samples`);
  }

  if (part('sizes')) {
    console.log(`\n5. guests by size, 60 % filled (save and restore without the daemon's hop; running cost over ${COST_SECONDS} s)`);
    for (const size of SIZES) for (const layout of LAYOUTS) printSize(await measureSize(guest, size, layout, COST_SECONDS));
  }
}

main().then(
  () => process.exit(0),
  async (error: Error) => {
    console.error(`bench failed: ${error.stack ?? error.message}`);
    await end().catch(() => undefined);
    process.exit(1);
  },
);
