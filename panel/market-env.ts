/**
 * The Market tab's real environment: the member's config (the file the panel
 * edits), the market's fetch and mirror code, and `hiboss join` itself as a
 * child process (argv) for the review and the join — the same review the CLI
 * and a clicked link show.
 */
import { execa } from 'execa';
import { fileURLToPath } from 'node:url';
import { readConfig } from '../config/file.js';
import { DEFAULT_IPFS_GATEWAY } from '../config/market-schema.js';
import { loadMarket } from '../market/market.js';
import { resolveEntrySource } from '../market/mirrors.js';
import { fetchedDir, marketCacheDir } from '../market/paths.js';
import type { MarketEnv } from './market.js';

const HIBOSS = fileURLToPath(new URL('../../bin/hiboss', import.meta.url));
const MAX_OUTPUT_BYTES = 256 * 1024;

export function marketEnv(configFile: string): MarketEnv {
  const market = () => readConfig(configFile).market;
  return {
    async load(onProgress) {
      const config = market();
      if (!config?.catalogues.length) return null;
      return loadMarket(config, { cacheDir: marketCacheDir(), timeoutMs: config.fetchTimeoutMs, onProgress });
    },
    resolve(entry, onAttempt) {
      const config = market();
      return resolveEntrySource(entry, {
        gateway: config?.ipfsGateway ?? DEFAULT_IPFS_GATEWAY,
        fetchedRoot: fetchedDir(),
        timeoutMs: config?.fetchTimeoutMs,
        probeTimeoutMs: config?.fetchTimeoutMs ?? 20_000,
      }, onAttempt);
    },
    async join(args) {
      const result = await execa(process.execPath, [HIBOSS, 'join', '--config', configFile, ...args], {
        reject: false, stdin: 'ignore', all: true, maxBuffer: MAX_OUTPUT_BYTES, env: { NO_COLOR: '1' },
      });
      return { code: result.exitCode ?? 1, output: String(result.all ?? '').replace(/[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/g, '') };
    },
  };
}
