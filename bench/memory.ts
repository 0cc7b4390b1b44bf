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
 *     save, restore cached and not, floor, read-back, running cost, QEMU's memory by
 *     kind and its huge pages, each size's goals met or not (bench/big-guest.ts).
 *
 * This file reads the options and prints the report; the measuring is in
 * bench/memory-restore.ts (1), bench/memory-held.ts (2–4) and bench/big-guest.ts (5),
 * on the desktop bench/memory-session.ts keeps.
 *
 * Goals are informative (printed with their ratios): the bench exits 0 either way,
 * 1 only when it broke.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { GuestRam } from '../config/schema.js';
import { ensureGuest } from '../test/harness/guest.js';
import { measureSize, printSize } from './big-guest.js';
import { BUDGET_VMS, HIDDEN_VMS, measureBudget, measureHidden, measureReporting } from './memory-held.js';
import { measureRestore } from './memory-restore.js';
import { end, guest, GUEST_MIB, MiB, useGuest } from './memory-session.js';

const run = promisify(execFile);
const ROUNDS = Number(process.argv.find((a) => a.startsWith('--rounds='))?.slice('--rounds='.length) ?? 16);
/** `--only=restore,hidden,reporting,budget`: some parts only (while working on one). */
const ONLY = process.argv.find((a) => a.startsWith('--only='))?.slice('--only='.length).split(',');
const part = (name: string) => !ONLY || ONLY.includes(name);
const flag = (name: string) => process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
/** Part 5: `--sizes=256,1024` (MiB) and `--guest-ram=file` to run fewer (the machine is shared). */
const SIZES = (flag('sizes') ?? '256,1024,4096').split(',').map(Number);
const LAYOUTS = (flag('guest-ram') ?? 'file,anonymous').split(',').map((l) => GuestRam.parse(l));
const COST_SECONDS = Number(flag('cost-seconds') ?? 20);
const GOALS = { restoreVsFloor: 1.5, coldVsRestore: 10, reportingWithinMs: 5000 };

const mib = (bytes: number) => `${(bytes / MiB).toFixed(0)} MiB`;
const ms = (value: number) => (value >= 1000 ? `${(value / 1000).toFixed(2)} s` : `${value.toFixed(0)} ms`);

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

// ---- the run ------------------------------------------------------------------------------------

async function main(): Promise<void> {
  useGuest(await ensureGuest());
  // The QEMU on PATH (a wrapper first on PATH benches another one: the image format follows what it offers).
  const qemu = (await run('qemu-system-x86_64', ['--version'])).stdout.split('\n', 1)[0]!.replace(/^QEMU emulator version /, 'QEMU ');
  console.log(`memory bench: real guest (${GUEST_MIB} MiB), ${qemu} TCG, headless sway; ${ROUNDS} restore rounds`);

  if (part('restore')) {
    const r = await measureRestore(ROUNDS);
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
