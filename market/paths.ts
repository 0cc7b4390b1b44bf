/**
 * Where the market keeps things: catalogues' last good copies and git
 * fetches in $XDG_CACHE_HOME/hiboss/market (disposable), flakes fetched from
 * IPFS or over Yggdrasil in $XDG_DATA_HOME/hiboss/fetched (a joined VM is
 * built from there, so it must outlive a cache clean). All 0700.
 */
import fs from 'node:fs';
import path from 'node:path';

export function marketCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  const cacheHome = env.XDG_CACHE_HOME || path.join(env.HOME ?? '/', '.cache');
  return path.join(cacheHome, 'hiboss', 'market');
}

export function fetchedDir(env: NodeJS.ProcessEnv = process.env): string {
  const dataHome = env.XDG_DATA_HOME || path.join(env.HOME ?? '/', '.local', 'share');
  return path.join(dataHome, 'hiboss', 'fetched');
}

/** mkdir -p with 0700 for what we create; an existing directory is tightened to 0700. */
export function privateDirSync(dir: string): string {
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  if ((fs.statSync(dir).mode & 0o777) !== 0o700) fs.chmodSync(dir, 0o700);
  return dir;
}
