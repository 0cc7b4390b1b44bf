/**
 * The market as text, for the CLI and the panel alike: one row per entry, a
 * catalogue's heading (with its fetch state), an entry's detail. Untrusted
 * strings passed the schema (no control characters), and are cut to width.
 */
import type { CatalogueView, EntryView } from './market.js';

type Visible = Extract<EntryView, { visible: true }>;

function age(ms: number): string {
  const minutes = Math.round(ms / 60_000);
  if (minutes < 2) return 'just now';
  if (minutes < 120) return `${minutes} min ago`;
  const hours = Math.round(minutes / 60);
  return hours < 48 ? `${hours} h ago` : `${Math.round(hours / 24)} days ago`;
}

export function entryRow({ catalogue, entry }: Visible): string {
  return `  ${`${catalogue}/${entry.name}`.padEnd(24)} ${entry.layer.padEnd(9)} ${entry.summary.slice(0, 70)}`;
}

export function catalogueState(view: CatalogueView, now = Date.now()): string {
  const state = view.state;
  switch (state.kind) {
    case 'fresh':
      return 'fetched now';
    case 'stale':
      return `cannot be fetched (${state.reason}); showing its last good copy from ${age(now - state.fetchedAt)}`;
    case 'failed':
      return `cannot be fetched (${state.reason}); no earlier copy`;
    default: {
      const never: never = state;
      throw new Error(`unknown state ${JSON.stringify(never)}`);
    }
  }
}

export function catalogueLines(view: CatalogueView, now = Date.now()): string[] {
  const visible = view.entries.filter((e): e is Visible => e.visible);
  const hidden = view.entries.filter((e): e is Extract<EntryView, { visible: false }> => !e.visible);
  return [
    `catalogue ${view.name}${view.title ? ` — ${view.title}` : ''} (${view.url}): ${catalogueState(view, now)}`,
    ...visible.map(entryRow),
    ...hidden.map((e) => `  hidden: ${e.catalogue}/${e.name}: ${e.reason}`),
    ...(view.entries.length === 0 && view.state.kind !== 'failed' ? ['  (no entries)'] : []),
  ];
}

export function entryLines({ catalogue, entry }: Visible, view: CatalogueView): string[] {
  const rows: Array<[string, string]> = [
    ['network', entry.name],
    ['catalogue', `${catalogue}${view.title ? ` — ${view.title}` : ''}`],
    ['summary', entry.summary],
    ['layer', entry.layer],
    ['apps', entry.apps.length ? entry.apps.join(', ') : 'none'],
    ['contact', entry.contact],
    ['flake', entry.flake],
    ['revision', entry.revision ?? '(not named)'],
    ['NAR hash', entry.narHash ?? '(not named)'],
    ['mirrors', entry.mirrors.length ? entry.mirrors.join(' ') : 'none'],
    [entry.funding?.kind ?? 'funding', entry.funding?.url ?? 'none'],
    ['signed by', `${entry.publisher} (verified with the catalogue's allowed signers)`],
  ];
  const width = Math.max(...rows.map(([key]) => key.length));
  const lines = rows.map(([key, value]) => `${key.padEnd(width)}  ${value}`);
  if (entry.description) lines.push('', ...entry.description.split('\n'));
  return lines;
}
