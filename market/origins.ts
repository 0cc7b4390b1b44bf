/**
 * Where a fetched flake came from: a nix://ipfs-/ygg- link given to `hiboss join`,
 * or a catalogue entry `hiboss market join` fetched from IPFS, Yggdrasil or a
 * mirror. Such a VM's flake is `path:DIR#NAME` on a copy in fetchedDir(), so its
 * origin is what `hiboss update` follows (market/follow.ts). Kept in
 * fetchedDir()/origins.json (one schema, bounded, written atomically) per VM name,
 * with the DIR it was recorded for: a record whose DIR is not the VM's any more
 * (the VM removed and another joined under its name) does not apply.
 */
import fs from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { writeFileAtomic } from '../config/file.js';
import { readFileBounded } from '../config/read-bounded.js';
import { errorMessage } from '../shared/error-message.js';
import { privateDirSync } from './paths.js';

export const Origin = z.discriminatedUnion('kind', [
  z.strictObject({ kind: z.literal('market'), catalogue: z.string().min(1).max(64), entry: z.string().min(1).max(64) }),
  z.strictObject({ kind: z.literal('link'), uri: z.string().min(1).max(2048) }),
]);
export type Origin = z.infer<typeof Origin>;

const OriginRecord = z.strictObject({ dir: z.string().min(1).max(4096), origin: Origin });
const Origins = z.strictObject({ origins: z.record(z.string().min(1).max(64), OriginRecord) });
const MAX_ORIGINS_BYTES = 1024 * 1024;

const originsFile = (fetchedRoot: string) => path.join(fetchedRoot, 'origins.json');

/** The directory a `path:DIR#NAME` flake names when DIR is inside fetchedRoot; else null. */
export function fetchedFlakeDir(flake: string, fetchedRoot: string): string | null {
  const match = /^path:([^#?]+)/.exec(flake);
  if (!match) return null;
  const dir = path.resolve(match[1]!);
  return dir.startsWith(`${path.resolve(fetchedRoot)}${path.sep}`) ? dir : null;
}

function readOrigins(fetchedRoot: string): Record<string, z.infer<typeof OriginRecord>> {
  const file = originsFile(fetchedRoot);
  if (!fs.existsSync(file)) return {};
  let raw: unknown;
  try {
    raw = JSON.parse(readFileBounded(file, MAX_ORIGINS_BYTES));
  } catch (error) {
    throw new Error(`${file} cannot be read as JSON: ${errorMessage(error)}`);
  }
  const parsed = Origins.safeParse(raw);
  if (!parsed.success) throw new Error(`${file} is not a valid origins file: ${parsed.error.issues[0]?.message ?? 'invalid'}`);
  return parsed.data.origins;
}

/** Where VM `vm`'s copy in `dir` came from; null when nothing was recorded for that VM and that copy. */
export function originOf(vm: string, dir: string, fetchedRoot: string): Origin | null {
  const origins = readOrigins(fetchedRoot);
  const record = Object.hasOwn(origins, vm) ? origins[vm] : undefined;
  return record && record.dir === path.resolve(dir) ? record.origin : null;
}

export function recordOrigin(vm: string, dir: string, origin: Origin, fetchedRoot: string): void {
  const origins = { ...readOrigins(fetchedRoot), [vm]: { dir: path.resolve(dir), origin: Origin.parse(origin) } };
  privateDirSync(fetchedRoot);
  writeFileAtomic(originsFile(fetchedRoot), JSON.stringify(Origins.parse({ origins }), null, 2) + '\n');
}
