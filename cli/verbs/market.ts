/**
 * `hiboss market list|search|show|join|publish`: the networks the member's
 * trusted catalogues offer (config.json market.catalogues), fetched with
 * progress on stderr; joining one goes through `hiboss join`'s review, from
 * the entry's primary flake or, when that cannot be fetched, a mirror that is
 * the same source.
 */
import path from 'node:path';
import { parseArgs, UsageError, type Verb } from '../args.js';
import { runningDaemonConfig } from '../daemon-connection.js';
import { ConfigError, defaultConfigPath, readConfig } from '../../config/file.js';
import { DEFAULT_IPFS_GATEWAY } from '../../config/market-schema.js';
import type { Config } from '../../config/schema.js';
import { findEntry, loadMarket, searchEntries, visibleEntries, type CatalogueView, type Progress } from '../../market/market.js';
import { resolveEntrySource } from '../../market/mirrors.js';
import { fetchedDir, marketCacheDir } from '../../market/paths.js';
import { fetchedFlakeDir, recordOrigin } from '../../market/origins.js';
import { entryLines, catalogueLines, entryRow } from '../../market/render.js';

const USAGE = `usage: hiboss market list [--config FILE]
       hiboss market search TEXT
       hiboss market show NAME            (NAME or CATALOGUE/NAME)
       hiboss market join NAME [--yes | --print-review] [--name VM] [--workspace WS]
       hiboss market publish CHECKOUT --key KEY --flake URI --publisher ID --contact TEXT [--name CONFIG] [--description TEXT] [--mirrors URI,URI] [--donation URL | --subscription URL] [--ipfs FILE.car]

The market lists networks from the catalogues you trust (config.json
"market": { "catalogues": [{ "name", "url", "allowedSigners" }] }, none by
default). Each entry is signed by its publisher (ssh-keygen -Y); one whose
signature does not verify against the catalogue's allowed signers is hidden,
with the reason. A catalogue that cannot be fetched is shown from its last good
copy, with the reason.

join: tries the entry's flake, then its mirrors in order (nix://ipfs-CID: verified
against the CID; nix://ygg-ADDRESS), accepting a mirror only at the revision or
NAR hash the entry names; then shows hiboss join's review.

publish: prints a signed entry (JSON) for the catalogue's catalogue.json, from
CHECKOUT's configs.json and flake.nix description, its git revision and NAR hash.
--ipfs FILE.car also packs the tree as a CAR and lists its CID as the first mirror
(serve it with: ipfs dag import FILE.car).

Exit codes: 0 done, 1 nothing to show / cannot join, 2 usage.`;

async function loadConfig(flags: Map<string, string | true>): Promise<Config> {
  const file = path.resolve((flags.get('config') as string | undefined) ?? (await runningDaemonConfig()) ?? defaultConfigPath());
  try {
    return readConfig(file);
  } catch (error) {
    if (error instanceof ConfigError) throw new UsageError(`the config is not valid: ${error.problems.join('; ')}`);
    throw error;
  }
}

function progressLine(progress: Progress): string | null {
  switch (progress.kind) {
    case 'fetching':
      return `fetching catalogue ${progress.catalogue} (${progress.url})…`;
    case 'verifying':
      return `checking the signatures of ${progress.entries} entries of ${progress.catalogue}…`;
    case 'done':
      return null;
    default: {
      const never: never = progress;
      throw new Error(`unknown progress ${JSON.stringify(never)}`);
    }
  }
}

async function market(config: Config): Promise<CatalogueView[]> {
  if (!config.market?.catalogues.length) return [];
  return loadMarket(config.market, {
    cacheDir: marketCacheDir(),
    timeoutMs: config.market.fetchTimeoutMs,
    onProgress: (progress) => {
      const text = progressLine(progress);
      if (text) console.error(text);
    },
  });
}

const NO_CATALOGUES = 'No catalogues trusted yet: add one to config.json ("market": { "catalogues": [ { "name", "url", "allowedSigners" } ] }).';

export const marketVerb: Verb = {
  usage: USAGE,
  async run(argv) {
    const { flags, positional } = parseArgs(argv, {
      boolean: ['yes', 'print-review'],
      valued: ['config', 'name', 'workspace', 'key', 'flake', 'publisher', 'contact', 'description', 'mirrors', 'donation', 'subscription', 'ipfs'],
    });
    const [sub, ...rest] = positional;
    switch (sub) {
      case 'list':
      case 'search': {
        if (sub === 'list' ? rest.length !== 0 : rest.length === 0) throw new UsageError(sub === 'list' ? 'list takes no arguments' : 'search needs TEXT');
        const config = await loadConfig(flags);
        const views = await market(config);
        if (!views.length) {
          console.log(NO_CATALOGUES);
          return 1;
        }
        if (sub === 'list') {
          for (const view of views) console.log(catalogueLines(view).join('\n'));
          return 0;
        }
        const found = searchEntries(visibleEntries(views), rest.join(' '));
        for (const entry of found) console.log(entryRow(entry));
        if (!found.length) console.log(`No network matches "${rest.join(' ')}".`);
        return found.length ? 0 : 1;
      }
      case 'show':
      case 'join': {
        if (rest.length !== 1) throw new UsageError(`${sub} needs one NAME (or CATALOGUE/NAME)`);
        const config = await loadConfig(flags);
        const views = await market(config);
        if (!views.length) {
          console.log(NO_CATALOGUES);
          return 1;
        }
        const hidden = views.flatMap((v) => v.entries).find((e) => !e.visible && (e.name === rest[0] || `${e.catalogue}/${e.name}` === rest[0]));
        const found = findEntry(visibleEntries(views), rest[0]!);
        if (!found.ok) {
          console.error(`hiboss market: ${found.message}${hidden && !hidden.visible ? ` (an entry "${hidden.name}" in ${hidden.catalogue} is hidden: ${hidden.reason})` : ''}`);
          return 1;
        }
        if (sub === 'show') {
          console.log(entryLines(found.found, views.find((v) => v.name === found.found.catalogue)!).join('\n'));
          return 0;
        }
        const entry = found.found.entry;
        const source = await resolveEntrySource(
          entry,
          { gateway: config.market?.ipfsGateway ?? DEFAULT_IPFS_GATEWAY, fetchedRoot: fetchedDir(), timeoutMs: config.market?.fetchTimeoutMs, probeTimeoutMs: config.market?.fetchTimeoutMs ?? 20_000 },
          (attempt) => console.log(`${attempt.outcome === 'used' ? 'using' : attempt.outcome}: ${attempt.uri}: ${attempt.detail}`),
        );
        if (!source.ok) {
          console.error(`hiboss market: ${entry.name} cannot be fetched from its flake nor from any mirror that is the same source. Nothing was written.`);
          return 1;
        }
        const forwarded: string[] = [];
        for (const flag of ['yes', 'print-review']) if (flags.has(flag)) forwarded.push(`--${flag}`);
        for (const flag of ['name', 'workspace', 'config']) if (flags.has(flag)) forwarded.push(`--${flag}`, flags.get(flag) as string);
        const { joinVerb } = await import('./join.js');
        const code = await joinVerb.run([...forwarded, source.joinRef]);
        // Joined from a fetched copy (IPFS, Yggdrasil, a mirror): `hiboss update` follows the entry it came from.
        const fetched = fetchedFlakeDir(source.joinRef, fetchedDir());
        if (code === 0 && !flags.has('print-review') && fetched !== null) recordOrigin((flags.get('name') as string | undefined) ?? entry.name, fetched, { kind: 'market', catalogue: found.found.catalogue, entry: entry.name }, fetchedDir());
        return code;
      }
      case 'publish': {
        if (rest.length !== 1) throw new UsageError('publish needs the network\'s CHECKOUT directory');
        for (const flag of ['key', 'flake', 'publisher', 'contact']) if (!flags.has(flag)) throw new UsageError(`publish needs --${flag}`);
        if (flags.has('donation') && flags.has('subscription')) throw new UsageError('--donation and --subscription exclude each other');
        const { publishEntry } = await import('../../market/publish.js');
        const fundingKind = flags.has('donation') ? 'donation' : flags.has('subscription') ? 'subscription' : null;
        const carFile = flags.get('ipfs') as string | undefined;
        const { signed, cid } = await publishEntry({
          checkout: rest[0]!,
          key: flags.get('key') as string,
          flake: flags.get('flake') as string,
          publisher: flags.get('publisher') as string,
          contact: flags.get('contact') as string,
          name: flags.get('name') as string | undefined,
          description: flags.get('description') as string | undefined,
          mirrors: ((flags.get('mirrors') as string | undefined) ?? '').split(',').filter(Boolean),
          funding: fundingKind ? { kind: fundingKind, url: flags.get(fundingKind) as string } : undefined,
          carFile: carFile ? path.resolve(carFile) : undefined,
        });
        console.log(JSON.stringify(signed, null, 2));
        if (cid) console.error(`packed the flake's source as ${carFile}: CID ${cid} (nix://ipfs-${cid}#${(signed.entry as { name: string }).name})`);
        return 0;
      }
      case undefined:
        throw new UsageError('missing subcommand: list, search, show, join or publish');
      default:
        throw new UsageError(`unknown subcommand "${sub.slice(0, 40)}": list, search, show, join or publish`);
    }
  },
};
