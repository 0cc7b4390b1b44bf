/**
 * The market as a member sees it: every catalogue she trusts, fetched in the
 * background (concurrently, each reporting its progress), each entry checked
 * against the schema and its publisher's signature. An entry that fails
 * either is kept — hidden, with the reason — so the CLI and the panel can say
 * why it is not offered.
 */
import type { CatalogueConfig, MarketConfig } from '../config/market-schema.js';
import { canonicalJson, CatalogueEntry, describeZod, SignedEntry } from './catalogue-schema.js';
import { fetchCatalogue, type FetchedCatalogue } from './catalogue-fetch.js';
import { verifyPayload } from './signature.js';

export type EntryView =
  | { visible: true; catalogue: string; entry: CatalogueEntry }
  | { visible: false; catalogue: string; name: string; reason: string };

export type CatalogueFetchState =
  | { kind: 'fresh'; fetchedAt: number }
  | { kind: 'stale'; reason: string; fetchedAt: number }
  | { kind: 'failed'; reason: string };

export interface CatalogueView {
  name: string;
  url: string;
  title: string | null;
  state: CatalogueFetchState;
  entries: EntryView[];
}

export type Progress =
  | { kind: 'fetching'; catalogue: string; url: string }
  | { kind: 'verifying'; catalogue: string; entries: number }
  | { kind: 'done'; catalogue: string; view: CatalogueView };

/** An entry's name as best known before it is valid (for the "hidden" line). */
function looseName(raw: unknown): string {
  const name = (raw as { entry?: { name?: unknown } } | null)?.entry?.name;
  return typeof name === 'string' && /^[A-Za-z0-9_-]{1,32}$/.test(name) ? name : '(unnamed)';
}

/** Schema, then signature: the first problem is the reason it is hidden. */
export async function checkEntry(raw: unknown, catalogue: string, allowedSigners: string): Promise<EntryView> {
  const signed = SignedEntry.safeParse(raw);
  if (!signed.success) return { visible: false, catalogue, name: looseName(raw), reason: `not a signed entry: ${describeZod(signed.error)}` };
  const entry = CatalogueEntry.safeParse(signed.data.entry);
  if (!entry.success) return { visible: false, catalogue, name: looseName(raw), reason: `not a valid entry: ${describeZod(entry.error)}` };
  const verdict = await verifyPayload(canonicalJson(entry.data), signed.data.signature, entry.data.publisher, allowedSigners);
  if (!verdict.ok) return { visible: false, catalogue, name: entry.data.name, reason: verdict.reason };
  return { visible: true, catalogue, entry: entry.data };
}

async function viewOf(catalogue: CatalogueConfig, fetched: FetchedCatalogue, onProgress: (p: Progress) => void): Promise<CatalogueView> {
  const document = fetched.ok ? fetched.document : fetched.lastGood?.document;
  const state: CatalogueFetchState = fetched.ok
    ? { kind: 'fresh', fetchedAt: fetched.fetchedAt }
    : fetched.lastGood
      ? { kind: 'stale', reason: fetched.reason, fetchedAt: fetched.lastGood.fetchedAt }
      : { kind: 'failed', reason: fetched.reason };
  if (!document) return { name: catalogue.name, url: catalogue.url, title: null, state, entries: [] };
  onProgress({ kind: 'verifying', catalogue: catalogue.name, entries: document.entries.length });
  const entries: EntryView[] = [];
  // One ssh-keygen at a time: a catalogue of hundreds must not fork hundreds at once.
  for (const raw of document.entries) entries.push(await checkEntry(raw, catalogue.name, catalogue.allowedSigners));
  return { name: catalogue.name, url: catalogue.url, title: document.title, state, entries };
}

export interface LoadOptions {
  cacheDir: string;
  onProgress?: (progress: Progress) => void;
  timeoutMs?: number;
}

/** Fetches and checks every trusted catalogue, concurrently; resolves when all are done. */
export async function loadMarket(market: MarketConfig | undefined, options: LoadOptions): Promise<CatalogueView[]> {
  const onProgress = options.onProgress ?? (() => undefined);
  return Promise.all(
    (market?.catalogues ?? []).map(async (catalogue) => {
      onProgress({ kind: 'fetching', catalogue: catalogue.name, url: catalogue.url });
      const fetched = await fetchCatalogue(catalogue, options.cacheDir, options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs });
      const view = await viewOf(catalogue, fetched, onProgress);
      onProgress({ kind: 'done', catalogue: catalogue.name, view });
      return view;
    }),
  );
}

export function visibleEntries(views: readonly CatalogueView[]): Array<Extract<EntryView, { visible: true }>> {
  return views.flatMap((view) => view.entries.filter((e): e is Extract<EntryView, { visible: true }> => e.visible));
}

/** Case-insensitive search over name, summary, description, apps, layer and contact. */
export function searchEntries<T extends { entry: CatalogueEntry }>(entries: readonly T[], text: string): T[] {
  const words = text.toLowerCase().split(/\s+/).filter(Boolean);
  if (!words.length) return [...entries];
  return entries.filter(({ entry }) => {
    const hay = [entry.name, entry.summary, entry.description, entry.layer, entry.contact, ...entry.apps].join('\n').toLowerCase();
    return words.every((word) => hay.includes(word));
  });
}

/** NAME or CATALOGUE/NAME; an ambiguous NAME is an error listing the choices. */
export function findEntry(entries: ReadonlyArray<Extract<EntryView, { visible: true }>>, wanted: string): { ok: true; found: Extract<EntryView, { visible: true }> } | { ok: false; message: string } {
  const slash = wanted.indexOf('/');
  const matches = entries.filter((e) => (slash === -1 ? e.entry.name === wanted : `${e.catalogue}/${e.entry.name}` === wanted));
  if (matches.length === 1) return { ok: true, found: matches[0]! };
  if (matches.length === 0) return { ok: false, message: `no network "${wanted}" in the trusted catalogues (hiboss market list)` };
  return { ok: false, message: `"${wanted}" is in several catalogues: ${matches.map((m) => `${m.catalogue}/${m.entry.name}`).join(', ')}; name one` };
}
