/**
 * Fixtures shared by the memory tests of the pure policy (memory.test.ts and
 * memory-budget.test.ts): a hibernated VM, and three VMs under a budget.
 */
import type { PolicySettings, VmSpec } from '../../../daemon/policy/policy.js';
import { T0, SETTINGS, DEV, MAIL, vm, Driver, clock } from './driver.js';

export const MiB = 1024 * 1024;
export const HIBERNATE: PolicySettings = { ...SETTINGS, hibernateAfterMs: 60_000 };
export const IMAGE = { bytes: 96 * MiB, savedAt: T0 + 60_100 };

/** dev booted on 1, the user went to 2 (mail runs); dev paused at 1500. */
export function devPausedHidden(settings: PolicySettings = HIBERNATE, specs: VmSpec[] = [DEV, MAIL]): Driver {
  const d = new Driver(specs, settings);
  d.bootFocused('1');
  d.switchTo('2');
  d.observe('mail', 'running');
  clock.tick(1500);
  d.observe('dev', 'paused');
  d.take();
  d.takeTold();
  return d;
}

/** …and saved to disk after a minute hidden. */
export function devHibernated(settings: PolicySettings = HIBERNATE, specs: VmSpec[] = [DEV, MAIL]): Driver {
  const d = devPausedHidden(settings, specs);
  clock.tick(60_000 - 1500);
  d.send({ type: 'observed', name: 'dev', state: 'hibernated', image: IMAGE });
  d.take();
  d.takeTold();
  return d;
}

export const A = vm('a', '1');
export const B = vm('b', '2');
export const C = vm('c', '3');
export const BUDGET: PolicySettings = { ...SETTINGS, memoryBudgetMiB: 250 };
