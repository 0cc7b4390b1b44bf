/**
 * nix://ipfs-CID[/PATH][#NAME] and nix://ygg-ADDRESS[/PATH][#NAME]: fetched
 * (IPFS: verified against the CID; Yggdrasil: cloned when reachable) into a
 * local directory, which `hiboss join` then reviews and joins like any
 * `path:` flake. Nothing here writes the member's config.
 */
import path from 'node:path';
import { fetchIpfsTree, IpfsError } from './ipfs.js';
import { fetchYggTree, YggError } from './ygg.js';

export type FetchLink =
  | { kind: 'ipfs'; cid: string; subpath: string[]; name: string | null }
  | { kind: 'ygg'; address: string; repoPath: string[]; name: string | null };

const IPFS_LINK = /^nix:\/\/ipfs-([A-Za-z0-9]{1,200})((?:\/[A-Za-z0-9._-]+)*)\/?(?:#([A-Za-z0-9_-]{1,64}))?$/i;
const YGG_LINK = /^nix:\/\/ygg-([0-9A-Fa-f:]{2,39})((?:\/[A-Za-z0-9._-]+)*)\/?(?:#([A-Za-z0-9_-]{1,64}))?$/i;

/** The link's parts, or null when it is not a well-formed ipfs-/ygg- link. */
export function parseFetchLink(uri: string): FetchLink | null {
  const segments = (tail: string) => tail.split('/').filter(Boolean);
  const ipfs = IPFS_LINK.exec(uri);
  if (ipfs) {
    const subpath = segments(ipfs[2] ?? '');
    if (subpath.some((s) => s === '.' || s === '..')) return null;
    return { kind: 'ipfs', cid: ipfs[1]!, subpath, name: ipfs[3] ?? null };
  }
  const ygg = YGG_LINK.exec(uri);
  if (ygg) {
    const repoPath = segments(ygg[2] ?? '');
    if (repoPath.some((s) => s === '.' || s === '..')) return null;
    return { kind: 'ygg', address: ygg[1]!, repoPath, name: ygg[3] ?? null };
  }
  return null;
}

export interface LinkContext {
  gateway: string;
  fetchedRoot: string;
  timeoutMs?: number | undefined;
}

export type ResolvedLink =
  | { ok: true; dir: string; note: string; revision: string | null }
  | { ok: false; message: string };

/** Fetches what the link names into a local directory (the flake's root). */
export async function resolveFetchLink(link: FetchLink, context: LinkContext): Promise<ResolvedLink> {
  try {
    switch (link.kind) {
      case 'ipfs': {
        const tree = await fetchIpfsTree(link.cid, { gateway: context.gateway, fetchedRoot: context.fetchedRoot, ...(context.timeoutMs ? { timeoutMs: context.timeoutMs } : {}) });
        const dir = path.join(tree.dir, ...link.subpath);
        const how = tree.fetched ? `fetched from the IPFS gateway ${context.gateway} as a CAR` : 'fetched before';
        return { ok: true, dir, revision: null, note: `${how}, every block verified against CID ${tree.cid}; unpacked in ${tree.dir}` };
      }
      case 'ygg': {
        const tree = await fetchYggTree(link.address, link.repoPath.join('/'), context.fetchedRoot, context.timeoutMs);
        return { ok: true, dir: tree.dir, revision: tree.revision, note: `cloned git+${tree.url} over Yggdrasil at commit ${tree.revision}; its files are in ${tree.dir}` };
      }
      default: {
        const never: never = link;
        throw new Error(`unknown link ${JSON.stringify(never)}`);
      }
    }
  } catch (error) {
    if (error instanceof IpfsError || error instanceof YggError) return { ok: false, message: error.message };
    throw error;
  }
}
