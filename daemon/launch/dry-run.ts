/**
 * What a flake VM's build will cost, read before anything is built: the plan
 * `nix build --dry-run` prints (on stderr), in the wording Nix has used from
 * 2.4 on:
 *
 *   this derivation will be built:            these 3 derivations will be built:
 *   this path will be fetched (0.01 MiB download, 0.03 MiB unpacked):
 *   these 12 paths will be fetched (45.67 MiB download, 200.12 MiB unpacked):
 *     /nix/store/…                            (one store path per line)
 *
 * The text is bounded, read line by line into BuildEstimate (one schema, used
 * by the join review, the update review and their D-Bus form: api/schema.ts).
 */
import { execa } from 'execa';
import { BuildEstimate } from '../../api/schema.js';
import { errorMessage } from '../../shared/error-message.js';
import { nixDryRunArgs, VM_IMAGE_EXPRESSION } from './nix-cli.js';

const MAX_PLAN_BYTES = 1024 * 1024;
/** The names of what will be built that an estimate keeps (the count is exact; BuildEstimate's bound). */
const MAX_NAMES = 8;
const STORE_NAME = /^\s+\/nix\/store\/[0-9a-z]{32}-([A-Za-z0-9+._?=-]{1,200})$/;
const BUILD_HEAD = /^(?:this derivation|these (\d{1,7}) derivations) will be built:$/;
const FETCH_HEAD = /^(?:this path|these (\d{1,7}) paths) will be fetched \(([\d.]{1,20}) ([KMGT]i?B) download, ([\d.]{1,20}) ([KMGT]i?B) unpacked\):$/;


const UNITS: Record<string, number> = { KiB: 2 ** 10, MiB: 2 ** 20, GiB: 2 ** 30, TiB: 2 ** 40, KB: 1e3, MB: 1e6, GB: 1e9, TB: 1e12 };

function bytes(value: string, unit: string): number {
  return Math.round(Number(value) * (UNITS[unit] ?? Number.NaN));
}

/** The estimate in a dry run's stderr, or why none can be read. */
export function parseDryRun(stderr: string): BuildEstimate | string {
  if (stderr.length > MAX_PLAN_BYTES) return `nix build --dry-run printed more than ${MAX_PLAN_BYTES} bytes`;
  const estimate = { builds: 0, buildNames: [] as string[], fetches: 0, downloadBytes: 0, unpackedBytes: 0 };
  let section: 'build' | 'fetch' | null = null;
  for (const line of stderr.split('\n')) {
    const build = BUILD_HEAD.exec(line);
    const fetch = FETCH_HEAD.exec(line);
    if (build) {
      section = 'build';
      estimate.builds = build[1] === undefined ? 1 : Number(build[1]);
    } else if (fetch) {
      section = 'fetch';
      estimate.fetches = fetch[1] === undefined ? 1 : Number(fetch[1]);
      estimate.downloadBytes = bytes(fetch[2]!, fetch[3]!);
      estimate.unpackedBytes = bytes(fetch[4]!, fetch[5]!);
    } else if (/will be (?:built|fetched)/.test(line)) {
      // A heading this reader does not know: no estimate rather than a wrong one.
      return `nix build --dry-run: unexpected plan line ${JSON.stringify(line.slice(0, 120))}`;
    } else {
      const name = STORE_NAME.exec(line)?.[1];
      if (name !== undefined && section === 'build' && estimate.buildNames.length < MAX_NAMES) estimate.buildNames.push(name.replace(/\.drv$/, ''));
      else if (name === undefined) section = null;
    }
  }
  const parsed = BuildEstimate.safeParse(estimate);
  return parsed.success ? parsed.data : `nix build --dry-run: unexpected plan (${parsed.error.issues[0]?.path.join('.')}: ${parsed.error.issues[0]?.message})`;
}

const mib = (n: number) => `${(n / 2 ** 20).toFixed(1)} MiB`;

/** One line for a review: what will be built and fetched. */
export function describeEstimate(estimate: BuildEstimate): string {
  const built =
    estimate.builds === 0
      ? 'nothing to build'
      : `${estimate.builds} derivation${estimate.builds === 1 ? '' : 's'} to build (${estimate.buildNames.join(', ')}${estimate.builds > estimate.buildNames.length ? ', …' : ''})`;
  const fetched =
    estimate.fetches === 0
      ? 'nothing to fetch'
      : `${estimate.fetches} path${estimate.fetches === 1 ? '' : 's'} to fetch: ${mib(estimate.downloadBytes)} download, ${mib(estimate.unpackedBytes)} unpacked`;
  return `${built}; ${fetched}`;
}

export type EstimateResult = { kind: 'read'; estimate: BuildEstimate } | { kind: 'unreadable'; why: string };

/** Runs the dry run of hiboss's expression around LOCKED-URL#CONFIGURATION (nothing is built). */
export async function estimateBuild(
  lockedUrl: string,
  configuration: string,
  options: { nix?: string; env?: Record<string, string>; timeoutMs?: number; signal?: AbortSignal; expression?: string } = {},
): Promise<EstimateResult> {
  try {
    const result = await execa(options.nix ?? 'nix', nixDryRunArgs(lockedUrl, configuration, options.expression ?? VM_IMAGE_EXPRESSION), {
      reject: false,
      stdin: 'ignore',
      env: options.env ?? {},
      timeout: options.timeoutMs ?? 300_000,
      maxBuffer: MAX_PLAN_BYTES,
      ...(options.signal ? { cancelSignal: options.signal } : {}),
    });
    const stderr = String(result.stderr ?? '');
    if (result.failed) {
      const last = stderr.split('\n').filter((line) => line.startsWith('error:')).pop();
      return { kind: 'unreadable', why: `nix build --dry-run failed (${(last ?? result.shortMessage ?? 'no output').slice(0, 300)})` };
    }
    const estimate = parseDryRun(stderr);
    return typeof estimate === 'string' ? { kind: 'unreadable', why: estimate } : { kind: 'read', estimate };
  } catch (error) {
    return { kind: 'unreadable', why: `nix build --dry-run: ${errorMessage(error)}` };
  }
}
