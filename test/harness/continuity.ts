/**
 * Proving that a guest went on rather than rebooted: the real
 * guest counts "tick N" on its serial console; after a restore it must count
 * on from its last number, without a new "GUEST-UP".
 */

/** What the guest printed since `before` (QEMU reopens its serial file on a restore: it may start afresh). */
export function printedSince(before: string, now: string): string {
  return now.startsWith(before) ? now.slice(before.length) : now;
}

/** The first tick number in `text`, or null. */
export function firstTick(text: string): number | null {
  const match = /tick (\d+)/.exec(text);
  return match ? Number(match[1]) : null;
}
