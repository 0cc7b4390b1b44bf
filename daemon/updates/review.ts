/**
 * `updates.review`: does an update need the member's approval, and what does
 * it change? Pure: the selected generation's inputs against the new locked
 * revision's, input by input (api/held-update.ts words it for people).
 */
import type { HeldUpdate, LockedInput } from '../../api/schema.js';

export type InputChange = HeldUpdate['changes'][number];

/**
 * Each input whose locked revision differs (added: from null; removed: to
 * null). A generation built before inputs were recorded (`before` undefined):
 * every input counts as changed, its old revision unknown.
 */
export function inputChanges(before: LockedInput[] | undefined, after: LockedInput[]): InputChange[] {
  const old = new Map((before ?? []).map((input) => [input.name, input]));
  const changes: InputChange[] = [];
  for (const input of after) {
    const was = old.get(input.name);
    if (was?.revision !== input.revision || was.source !== input.source) changes.push({ name: input.name, source: input.source, from: was?.revision ?? null, to: input.revision });
    old.delete(input.name);
  }
  for (const gone of old.values()) changes.push({ name: gone.name, source: gone.source, from: gone.revision, to: null });
  return changes;
}
