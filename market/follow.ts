/**
 * `hiboss update` for a VM whose flake is a fetched copy (`path:…/fetched/…#NAME`):
 * such a path never changes by itself, so the update first follows where the copy
 * came from (market/origins.ts):
 *   - a catalogue entry: the catalogue fetched again, the entry's signature checked,
 *     and its source now (primary flake, or a mirror at the revision or NAR hash
 *     the entry names) fetched — the VM's flake then names that;
 *   - a nix://ygg- link: cloned again at its newest commit, in the same place;
 *   - a nix://ipfs- link: a CID is fixed content — there is nothing newer to
 *     fetch, and the message says what to do instead.
 */
import type { Config } from '../config/schema.js';
import { DEFAULT_IPFS_GATEWAY } from '../config/market-schema.js';
import { parseFetchLink, resolveFetchLink } from './links.js';
import { findEntry, loadMarket, visibleEntries } from './market.js';
import { resolveEntrySource } from './mirrors.js';
import { fetchedFlakeDir, originOf, type Origin } from './origins.js';

export type Follow =
  /** The VM's flake stays; the copy it names may have been refreshed in place. */
  | { kind: 'same'; note: string }
  /** The VM's flake should now be `flake`; when that is a fetched copy in `dir`, `origin` is still where it comes from. */
  | { kind: 'moved'; flake: string; dir: string | null; origin: Origin; note: string }
  /** Nothing newer can be fetched; `message` says why and what to do. */
  | { kind: 'cannot'; message: string };

export interface FollowContext {
  fetchedRoot: string;
  /** The market's cache (catalogues' git fetches and last good copies). */
  cacheDir: string;
  /** Each fetch attempt, as `hiboss market join` prints them. */
  onLine?: (line: string) => void;
}

/** How `vm`'s fetched flake follows its origin, or null when its flake is not a fetched copy. */
export async function followOrigin(vm: string, flake: string, config: Config, context: FollowContext): Promise<Follow | null> {
  const dir = fetchedFlakeDir(flake, context.fetchedRoot);
  if (dir === null) return null;
  const origin = originOf(vm, dir, context.fetchedRoot);
  const linkContext = { gateway: config.market?.ipfsGateway ?? DEFAULT_IPFS_GATEWAY, fetchedRoot: context.fetchedRoot, timeoutMs: config.market?.fetchTimeoutMs };
  if (origin === null) {
    return {
      kind: 'cannot',
      message:
        `${vm}'s flake is a copy fetched into ${dir}, and hiboss has no record of where it came from (it was joined before hiboss kept one), ` +
        'so there is no newer revision to fetch. To follow the network, join it again under another name — hiboss market join NETWORK --name NEW, ' +
        'or hiboss join LINK --name NEW — and hiboss update follows that VM.',
    };
  }
  switch (origin.kind) {
    case 'link': {
      const link = parseFetchLink(origin.uri);
      if (link === null) return { kind: 'cannot', message: `${vm} was joined from ${origin.uri}, which is no longer a link hiboss can fetch` };
      if (link.kind === 'ipfs') {
        return {
          kind: 'cannot',
          message:
            `${vm} was joined from ${origin.uri}: an IPFS CID names fixed content, so that link has no later revision. ` +
            'To follow the network, join it through a catalogue that lists it (hiboss market join NETWORK --name NEW): its signed entry names each new revision, ' +
            'and hiboss update follows the entry; or join the newer link the network gives you (hiboss join nix://ipfs-NEWCID#NAME --name NEW).',
        };
      }
      const resolved = await resolveFetchLink(link, linkContext);
      if (!resolved.ok) return { kind: 'cannot', message: `${vm} follows ${origin.uri}, which cannot be fetched now: ${resolved.message}; it keeps what it has` };
      return { kind: 'same', note: `${vm}: ${origin.uri}: ${resolved.note}` };
    }
    case 'market': {
      const views = await loadMarket(config.market, { cacheDir: context.cacheDir, ...(config.market?.fetchTimeoutMs ? { timeoutMs: config.market.fetchTimeoutMs } : {}) });
      const qualified = `${origin.catalogue}/${origin.entry}`;
      const hidden = views.find((v) => v.name === origin.catalogue)?.entries.find((e) => !e.visible && e.name === origin.entry);
      if (hidden && !hidden.visible) return { kind: 'cannot', message: `${vm} follows ${qualified}, whose entry is hidden now: ${hidden.reason}; it keeps what it has` };
      const found = findEntry(visibleEntries(views), qualified);
      if (!found.ok) return { kind: 'cannot', message: `${vm} follows ${qualified}: ${found.message}; it keeps what it has` };
      const entry = found.found.entry;
      const source = await resolveEntrySource(entry, { ...linkContext, probeTimeoutMs: config.market?.fetchTimeoutMs ?? 20_000 }, (attempt) =>
        context.onLine?.(`${attempt.outcome === 'used' ? 'using' : attempt.outcome}: ${attempt.uri}: ${attempt.detail}`),
      );
      if (!source.ok) return { kind: 'cannot', message: `${vm} follows ${qualified}, whose source cannot be fetched from its flake nor from any mirror that is the same source; it keeps what it has` };
      const at = entry.revision ?? entry.narHash ?? 'its source';
      if (source.joinRef === flake) return { kind: 'same', note: `${vm}: ${qualified} (signature verified) still names ${at}` };
      return { kind: 'moved', flake: source.joinRef, dir: fetchedFlakeDir(source.joinRef, context.fetchedRoot), origin, note: `${vm}: ${qualified} (signature verified) now names ${at}, fetched as ${source.joinRef}` };
    }
    default: {
      const never: never = origin;
      throw new Error(`unknown origin ${JSON.stringify(never)}`);
    }
  }
}
