/**
 * `hiboss market publish`: a signed catalogue entry for a network, from its
 * checkout — configs.json (layer, applications), flake.nix's description
 * (the summary), the git revision and the NAR hash of its tracked files —
 * signed with the admin's SSH key. With `ipfs`, the same tree packed as a CAR
 * whose CID becomes the entry's first mirror.
 */
import { execa } from 'execa';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { readFileBounded } from '../config/read-bounded.js';
import { listApplications } from '../panel/join.js';
import { APPLICATIONS, parseConfigs } from '../networks/index.js';
import { canonicalJson, CatalogueEntry, describeZod, type SignedEntry } from './catalogue-schema.js';
import { packDirectory } from './car-pack.js';
import { signPayload } from './signature.js';
import { exportTree, gitDirty, gitRevision, narHash } from './source-tree.js';

export class PublishError extends Error {
  override name = 'PublishError';
}

export interface PublishInput {
  checkout: string;
  key: string;
  flake: string;
  publisher: string;
  contact: string;
  name?: string | undefined;
  description?: string | undefined;
  mirrors?: string[];
  funding?: { kind: 'donation' | 'subscription'; url: string } | undefined;
  /** Also pack the tree as a CAR (written to this file); its CID becomes the first mirror. */
  carFile?: string | undefined;
}

/** flake.nix's `description`, read by Nix's own parser (no evaluation of inputs, offline). */
async function flakeDescription(checkout: string): Promise<string | null> {
  const file = path.join(checkout, 'flake.nix');
  if (!fs.existsSync(file)) throw new PublishError(`${checkout} has no flake.nix`);
  const result = await execa('nix-instantiate', ['--eval', '--strict', '--json', '--expr', '{ file }: (import file).description or null', '--argstr', 'file', file], {
    reject: false, stdin: 'ignore', timeout: 60_000, env: { ...process.env, LC_ALL: 'C' },
  });
  if (result.failed) return null;
  const value: unknown = JSON.parse(String(result.stdout));
  return typeof value === 'string' && value.trim() ? value.trim() : null;
}

export async function publishEntry(input: PublishInput): Promise<{ signed: SignedEntry; cid: string | null }> {
  const checkout = path.resolve(input.checkout);
  const configs = parseConfigs(readFileBounded(path.join(checkout, 'configs.json'), 1024 * 1024));
  const names = Object.keys(configs);
  const name = input.name ?? (names.length === 1 ? names[0]! : undefined);
  if (!name) throw new PublishError(`configs.json has several configurations (${names.join(', ')}); choose one with --name`);
  const machine = configs[name];
  if (!machine) throw new PublishError(`configs.json has no configuration "${name}" (it has: ${names.join(', ')})`);
  const revision = await gitRevision(checkout);
  if (revision && (await gitDirty(checkout))) throw new PublishError(`${checkout} has uncommitted changes: commit them, the entry names a revision`);
  const temp = fs.mkdtempSync(path.join(os.tmpdir(), 'hiboss-publish-'));
  try {
    const tree = path.join(temp, 'tree');
    await exportTree(checkout, tree);
    const hash = await narHash(tree);
    let cid: string | null = null;
    const mirrors = [...(input.mirrors ?? [])];
    if (input.carFile) {
      const packed = await packDirectory(tree);
      cid = packed.cid.toString();
      fs.writeFileSync(input.carFile, packed.car, { mode: 0o644 });
      mirrors.unshift(`nix://ipfs-${cid}`);
    }
    const apps = APPLICATIONS.filter((app) => machine.applications[app].enable);
    const summary = (await flakeDescription(checkout)) ?? `${name}: ${machine.networkLayer}${apps.length ? `, ${listApplications(machine.applications).join('; ')}` : ''}`;
    const entry = CatalogueEntry.safeParse({
      name,
      summary: summary.slice(0, 120),
      description: input.description ?? '',
      apps,
      layer: machine.networkLayer,
      contact: input.contact,
      flake: input.flake,
      ...(revision ? { revision } : {}),
      narHash: hash,
      mirrors,
      ...(input.funding ? { funding: input.funding } : {}),
      publisher: input.publisher,
    });
    if (!entry.success) throw new PublishError(`the entry would not be valid: ${describeZod(entry.error)}`);
    const signature = await signPayload(canonicalJson(entry.data), input.key);
    return { signed: { entry: entry.data, signature }, cid };
  } finally {
    fs.rmSync(temp, { recursive: true, force: true });
  }
}
