/**
 * `updates.review`: does an update need the member's approval, and what does
 * it change? The selected generation's inputs against the new locked
 * revision's, input by input (api/held-update.ts words it for people).
 */
import type { Generation, HeldUpdate, LockedInput } from '../../api/schema.js';
import type { EstimateResult } from '../launch/dry-run.js';
import type { Locked } from '../launch/flake.js';

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

/**
 * The update to hold when `locked` changes the inputs of the generation that
 * runs (`current`; none: the first build, which the join reviewed — not held),
 * with what building it would cost; null when nothing needs review.
 */
export async function heldUpdate(
  flake: string,
  current: Generation | undefined,
  locked: Locked,
  now: number,
  estimate: (lockedUrl: string) => Promise<EstimateResult>,
): Promise<HeldUpdate | null> {
  const changes = inputChanges(current?.inputs, locked.inputs);
  if (!current || changes.length === 0) return null;
  const cost = await estimate(locked.url);
  return {
    flake,
    revision: locked.revision,
    lockedUrl: locked.url,
    lastModified: locked.lastModified,
    fromRevision: current.revision,
    changes,
    inputs: locked.inputs,
    estimate: cost.kind === 'read' ? cost.estimate : null,
    estimateProblem: cost.kind === 'read' ? null : cost.why.slice(0, 1000),
    heldAt: now,
  };
}
