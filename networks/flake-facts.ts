/**
 * What the join review shows of a network's flake before anything is built
 * (issue 21): its locked revision and its inputs as its lock file pins them,
 * from `nix flake metadata --json` (which fetches the flake's source, builds
 * nothing and refuses the flake's nix.conf settings). Read with the one schema
 * of that output (daemon/launch/nix-cli.ts).
 */
import { execa } from 'execa';
import { FlakeMetadata, lockedInputs, MAX_JSON_BYTES, nixMetadataArgs, type LockedInput } from '../daemon/launch/nix-cli.js';

export type FlakeFacts =
  | { kind: 'read'; url: string; revision: string; inputs: LockedInput[] }
  | { kind: 'unreadable'; why: string };

export async function readFlakeFacts(flake: string, options: { nix?: string; timeoutMs?: number } = {}): Promise<FlakeFacts> {
  const result = await execa(options.nix ?? 'nix', nixMetadataArgs(flake), {
    reject: false,
    stdin: 'ignore',
    timeout: options.timeoutMs ?? 120_000,
    maxBuffer: MAX_JSON_BYTES,
  });
  if (result.failed) {
    const last = String(result.stderr ?? '').split('\n').filter((line) => line.startsWith('error:')).pop();
    return { kind: 'unreadable', why: `nix flake metadata failed (${last ?? result.shortMessage ?? 'no output'})`.slice(0, 300) };
  }
  let json: unknown;
  try {
    json = JSON.parse(String(result.stdout));
  } catch {
    return { kind: 'unreadable', why: 'nix flake metadata printed no JSON' };
  }
  const parsed = FlakeMetadata.safeParse(json);
  if (!parsed.success) return { kind: 'unreadable', why: `nix flake metadata: unexpected output (${parsed.error.issues[0]?.path.join('.')})` };
  const metadata = parsed.data;
  return {
    kind: 'read',
    url: metadata.url,
    revision: metadata.revision ?? metadata.locked?.rev ?? metadata.locked?.narHash ?? 'unlocked',
    inputs: lockedInputs(metadata),
  };
}
