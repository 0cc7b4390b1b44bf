/**
 * The one place a test's give-up points are stretched for a busy machine. Every
 * wait stays event-driven; only the moment it gives up moves, by a load factor:
 *   - HIBOSS_TEST_LOAD_FACTOR when set (CI may fix it), else
 *   - the 1-minute load average ÷ cores, measured when the wait starts,
 * never below 1 and never above MAX_LOAD_FACTOR, so a hang still fails in bounded time.
 */
import os from 'node:os';

export const MAX_LOAD_FACTOR = 4;

/** The factor a wait that starts now is stretched by: 1 on a quiet machine, at most MAX_LOAD_FACTOR. */
export function loadFactor(): number {
  const set = process.env.HIBOSS_TEST_LOAD_FACTOR;
  const raw = set !== undefined && set !== '' ? Number(set) : os.loadavg()[0]! / Math.max(1, os.availableParallelism());
  if (!Number.isFinite(raw)) throw new Error(`HIBOSS_TEST_LOAD_FACTOR must be a number, got ${JSON.stringify(set)}`);
  return Math.min(MAX_LOAD_FACTOR, Math.max(1, raw));
}

/** `ms` stretched by the load factor: the bound to give every boot, serial, state or log wait. */
export function bound(ms: number): number {
  return Math.round(ms * loadFactor());
}
