/**
 * An update held for review (`updates.review`), in words: the daemon's
 * notification, `hiboss update`/`generations` and the panel all say it so.
 */
import { replaceControlCharacters as plain } from '../shared/control-chars.js';
import { shortRevision, type BuildEstimate, type HeldUpdate } from './schema.js';

// Names and sources come from the network's lock file: no control character reaches a terminal.
const short = (revision: string | null) => (revision === null ? '(none)' : shortRevision(revision) || plain(revision.slice(0, 12)));

/** One line per changed input: `nixpkgs (github:NixOS/nixpkgs) 5e4fbfb → 0c0ffee`. */
export function describeChanges(changes: HeldUpdate['changes']): string[] {
  return changes.map((change) => `${plain(change.name)} (${plain(change.source)}) ${short(change.from)} → ${short(change.to)}`);
}

const mib = (bytes: number) => `${(bytes / 2 ** 20).toFixed(1)} MiB`;

/** The estimate in a few words for a notification or a status line. */
export function briefEstimate(estimate: BuildEstimate | null, problem: string | null): string {
  if (estimate === null) return `build cost unknown (${problem ?? 'not estimated'})`;
  return `${estimate.builds} to build, ${estimate.fetches} to fetch (${mib(estimate.downloadBytes)} download, ${mib(estimate.unpackedBytes)} unpacked)`;
}

/** What the member is told when an update is held. */
export function heldMessage(name: string, held: HeldUpdate): string {
  return (
    `${name}: ${heldHeadline(held)}; inputs changed: ${describeChanges(held.changes).join(', ')}; ` +
    `${briefEstimate(held.estimate, held.estimateProblem)}. Approve: hiboss update --approve ${name}`
  );
}

/** The review's lines: old → new, each changed input, the build's cost. */
export function heldLines(held: HeldUpdate): string[] {
  return [
    heldHeadline(held),
    ...describeChanges(held.changes).map((line) => `  ${line}`),
    `  ${briefEstimate(held.estimate, held.estimateProblem)}`,
  ];
}

/** `update held for review: OLD → NEW`. */
function heldHeadline(held: HeldUpdate): string {
  const from = held.fromRevision === null ? 'nothing' : shortRevision(held.fromRevision);
  return `update held for review: ${from} → ${shortRevision(held.revision)}`;
}
