/**
 * Where to join a catalogue entry from: its primary flake when that answers,
 * else its mirrors in order — each accepted only when it is the same source
 * as the signed entry names (the same git revision, or the same NAR hash).
 * Every attempt is reported, so the member sees why a mirror was passed over.
 */
import { execa } from 'execa';
import fs from 'node:fs';
import type { CatalogueEntry } from './catalogue-schema.js';
import { GIT_ENV, gitOneLine } from './catalogue-fetch.js';
import { parseFetchLink, resolveFetchLink, type LinkContext } from './links.js';
import { narHash } from './source-tree.js';
import { parseJoinUri, type JoinSource } from '../panel/join.js';

export const PROBE_TIMEOUT_MS = 20_000;

export type Attempt = { uri: string; outcome: 'used' | 'unreachable' | 'refused'; detail: string };

export type EntrySource =
  | { ok: true; joinRef: string; attempts: Attempt[] }
  | { ok: false; attempts: Attempt[] };

/** The git URL behind a remote flake source (for `git ls-remote`), or null for a tarball or a local path. */
function gitUrlOf(source: JoinSource): string | null {
  switch (source.kind) {
    case 'github':
      return `https://github.com/${source.repo.split('/').slice(0, 2).join('/')}`;
    case 'gitlab':
      return `https://gitlab.com/${source.repo.split('/').slice(0, 2).join('/')}`;
    case 'sourcehut':
      return `https://git.sr.ht/${source.repo.split('/').slice(0, 2).join('/')}`;
    case 'git':
      return source.url.replace(/^git\+/, '').replace(/\?.*$/, '');
    case 'tarball':
    case 'local':
      return null;
    default: {
      const never: never = source;
      throw new Error(`unknown source ${JSON.stringify(never)}`);
    }
  }
}

/** Does the primary answer? git: `git ls-remote`; tarball: an HTTP HEAD; local: the directory exists. */
async function probe(source: JoinSource, timeoutMs: number): Promise<string | null> {
  if (source.kind === 'local') return fs.existsSync(source.dir) ? null : `${source.dir} does not exist`;
  if (source.kind === 'tarball') {
    try {
      const response = await fetch(source.url, { method: 'HEAD', signal: AbortSignal.timeout(timeoutMs) });
      return response.ok ? null : `HTTP ${response.status}`;
    } catch (error) {
      const cause = (error as { cause?: { code?: string } }).cause;
      return cause?.code ?? (error as Error).message;
    }
  }
  const url = gitUrlOf(source)!;
  const result = await execa('git', ['ls-remote', '--quiet', '--', url, 'HEAD'], { reject: false, env: GIT_ENV, stdin: 'ignore', timeout: timeoutMs, maxBuffer: 1024 * 1024 });
  if (result.timedOut) return `git ls-remote ${url} took longer than ${timeoutMs / 1000} s`;
  return result.failed ? `git ls-remote ${url}: ${gitOneLine(String(result.stderr))}` : null;
}

/** Checks a fetched tree against what the entry names; null when it is the same source. */
async function sameSource(entry: CatalogueEntry, dir: string, revision: string | null): Promise<string | null> {
  if (entry.revision !== undefined && revision !== null) {
    return revision === entry.revision ? null : `it is at revision ${revision}, the entry names ${entry.revision}`;
  }
  if (entry.narHash !== undefined) {
    const hash = await narHash(dir);
    return hash === entry.narHash ? null : `its NAR hash is ${hash}, the entry names ${entry.narHash}`;
  }
  return `the entry names no ${revision === null ? 'NAR hash' : 'revision'} to check it against`;
}

/** Fetches a nix://ipfs-/ygg- link and checks it against the entry; the join reference on success. */
async function viaLink(uri: string, entry: CatalogueEntry, context: LinkContext): Promise<Attempt & { joinRef?: string }> {
  const link = parseFetchLink(uri);
  if (!link) return { uri, outcome: 'refused', detail: 'not a nix://ipfs-… or nix://ygg-… link' };
  const resolved = await resolveFetchLink(link, context);
  if (!resolved.ok) return { uri, outcome: 'unreachable', detail: resolved.message };
  const different = await sameSource(entry, resolved.dir, resolved.revision);
  if (different) return { uri, outcome: 'refused', detail: `not the same source: ${different}` };
  return { uri, outcome: 'used', detail: `${resolved.note}; the same source as the entry names`, joinRef: `path:${resolved.dir}#${entry.name}` };
}

export async function resolveEntrySource(entry: CatalogueEntry, context: LinkContext & { probeTimeoutMs?: number }, onAttempt: (a: Attempt) => void = () => undefined): Promise<EntrySource> {
  const attempts: Attempt[] = [];
  const record = (attempt: Attempt) => {
    attempts.push(attempt);
    onAttempt(attempt);
  };
  const primary = parseJoinUri(entry.flake, entry.name);
  if (primary.ok && primary.source.kind === 'local') {
    record({ uri: entry.flake, outcome: 'refused', detail: 'a catalogue entry may not name a local path' });
  } else if (primary.ok) {
    const problem = await probe(primary.source, context.probeTimeoutMs ?? PROBE_TIMEOUT_MS);
    if (problem === null) {
      record({ uri: entry.flake, outcome: 'used', detail: 'the primary flake answers' });
      return { ok: true, joinRef: entry.flake, attempts };
    }
    record({ uri: entry.flake, outcome: 'unreachable', detail: problem });
  } else if (primary.reason === 'unsupported') {
    const attempt = await viaLink(entry.flake, entry, context);
    record(attempt);
    if (attempt.joinRef) return { ok: true, joinRef: attempt.joinRef, attempts };
  } else {
    record({ uri: entry.flake, outcome: 'refused', detail: primary.message });
  }
  for (const mirror of entry.mirrors) {
    const attempt = await viaLink(`${mirror}#${entry.name}`, entry, context);
    record(attempt);
    if (attempt.joinRef) return { ok: true, joinRef: attempt.joinRef, attempts };
  }
  return { ok: false, attempts };
}
