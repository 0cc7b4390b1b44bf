/**
 * nix://ygg-ADDRESS[/PATH]: a flake served over Yggdrasil as a git repository
 * (`http://[ADDRESS]/PATH`, what `git+http://[ADDRESS]/PATH` names). Fetched
 * only when this host reaches the address the way Yggdrasil routes it —
 * directly, over an interface (its TUN) rather than through a gateway; a host
 * without Yggdrasil would otherwise send 200::/7 traffic out of its default
 * route. The clone's tracked files are kept (as a flake input holds them),
 * with the commit they came from.
 */
import { execa } from 'execa';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { z } from 'zod';
import { GIT_ENV, gitOneLine } from './catalogue-fetch.js';
import { privateDirSync } from './paths.js';
import { exportTree, gitRevision } from './source-tree.js';

export const YGG_TIMEOUT_MS = 60_000;

export class YggError extends Error {
  override name = 'YggError';
}

/** An address in Yggdrasil's 200::/7, or an error saying what it is not. */
export function parseYggAddress(text: string): string {
  if (!net.isIPv6(text)) throw new YggError(`"${text.slice(0, 60)}" is not an IPv6 address`);
  const first = parseInt(text.split(':')[0] || '0', 16);
  if (first < 0x200 || first > 0x3ff) throw new YggError(`${text} is not a Yggdrasil address (those are in 200::/7)`);
  return text.toLowerCase();
}

/** One row of `ip -j -6 route get`. */
const RouteRow = z.looseObject({ dst: z.string(), dev: z.string().optional(), gateway: z.string().optional(), type: z.string().optional() });

export type Reach = { ok: true; dev: string } | { ok: false; why: string };

/** Whether the host reaches `address` directly (Yggdrasil's TUN, or a local stand-in), by the kernel's own answer. */
export async function reachYgg(address: string): Promise<Reach> {
  const result = await execa('ip', ['-j', '-6', 'route', 'get', address], { reject: false, stdin: 'ignore', env: { LC_ALL: 'C' }, maxBuffer: 64 * 1024 });
  if (result.failed) {
    return { ok: false, why: `this host has no route to ${address} (${gitOneLine(String(result.stderr))}): is yggdrasil running and peered? (services.yggdrasil on NixOS, or the yggdrasil package)` };
  }
  let rows;
  try {
    rows = z.array(RouteRow).min(1).parse(JSON.parse(String(result.stdout)));
  } catch {
    return { ok: false, why: `cannot read the route to ${address} from ip route get` };
  }
  const row = rows[0]!;
  if (row.type === 'unreachable' || row.type === 'prohibit' || row.type === 'blackhole') return { ok: false, why: `the route to ${address} is ${row.type}: yggdrasil is not running` };
  if (row.gateway !== undefined) {
    return { ok: false, why: `this host would send ${address} through its gateway ${row.gateway} (dev ${row.dev ?? '?'}), not over Yggdrasil: yggdrasil is not running here (its interface routes 200::/7 directly)` };
  }
  return { ok: true, dev: row.dev ?? 'lo' };
}

const SAFE_SEGMENT = /^[A-Za-z0-9._-]+$/;

/** Clones http://[ADDRESS]/PATH and keeps its tracked files under fetchedRoot/ygg/…; returns that directory and the commit. */
export async function fetchYggTree(address: string, repoPath: string, fetchedRoot: string, timeoutMs = YGG_TIMEOUT_MS): Promise<{ dir: string; revision: string; url: string }> {
  const addr = parseYggAddress(address);
  const segments = repoPath.split('/').filter(Boolean);
  if (segments.some((s) => !SAFE_SEGMENT.test(s) || s === '.' || s === '..')) throw new YggError(`the path "${repoPath.slice(0, 80)}" is not a plain path`);
  const url = `http://[${addr}]/${segments.join('/')}`;
  const reach = await reachYgg(addr);
  if (!reach.ok) throw new YggError(`cannot fetch git+${url}: ${reach.why}`);
  const root = privateDirSync(path.join(fetchedRoot, 'ygg'));
  const dest = path.join(root, [addr.replace(/:/g, '_'), ...segments].join('_'));
  const clone = `${dest}.clone-${process.pid}`;
  const tree = `${dest}.partial-${process.pid}`;
  fs.rmSync(clone, { recursive: true, force: true });
  fs.rmSync(tree, { recursive: true, force: true });
  try {
    const result = await execa('git', ['clone', '--quiet', '--no-tags', '--', url, clone], { reject: false, env: GIT_ENV, stdin: 'ignore', timeout: timeoutMs });
    if (result.timedOut) throw new YggError(`git clone ${url} took longer than ${timeoutMs / 1000} s`);
    if (result.failed) throw new YggError(`git clone ${url}: ${gitOneLine(String(result.stderr))}`);
    const revision = await gitRevision(clone);
    if (!revision) throw new YggError(`${url} has no commit on its default branch`);
    await exportTree(clone, tree);
    fs.rmSync(dest, { recursive: true, force: true });
    fs.renameSync(tree, dest);
    return { dir: dest, revision, url };
  } finally {
    fs.rmSync(clone, { recursive: true, force: true });
    fs.rmSync(tree, { recursive: true, force: true });
  }
}
