/**
 * Parts 2–4 of the memory bench (bench/memory.ts): what hidden VMs hold (paused,
 * ballooned, hibernated), memory a guest frees coming back through free-page
 * reporting, and the budget holding while the member switches among six VMs.
 */
import { performance } from 'node:perf_hooks';
import { tickCount } from '../test/harness/guest.js';
import { waitForContent } from '../test/harness/processes.js';
import { bootVisit, end, focus, fresh, inGuest, MiB, qemuRss, reach, serial, sleep, vmConfig } from './memory-session.js';

export const HIDDEN_VMS = 4;
export const BUDGET_VMS = 6;

export type HiddenMode = 'pause, no balloon' | 'pause only' | 'hibernate' | 'balloon + pause';

export async function measureHidden(mode: HiddenMode): Promise<{ held: number; perVm: number[] }> {
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

export async function measureReporting(balloon: boolean): Promise<{ full: number; after: number; backWithinMs: number | null }> {
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

export async function measureBudget(): Promise<{ budgetMiB: number; samples: number[]; switches: number }> {
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
