/**
 * The nix commands hiboss runs for flake VMs, and the one schema each reads.
 * Every command refuses the flake's own nix.conf settings
 * (`accept-flake-config = false`: a flake's nixConfig could name substituters,
 * post-build hooks or sandbox exceptions) and none passes --impure.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import type { LockedInput } from '../../api/schema.js';
export type { LockedInput } from '../../api/schema.js';

const FLAKES = ['--extra-experimental-features', 'nix-command flakes'];
const NO_FLAKE_CONFIG = ['--option', 'accept-flake-config', 'false'];

/**
 * `--file` evaluates impurely (nix turns pure-eval off for it), so the network's
 * configuration could read any file of the member's (`builtins.readFile
 * ~/.ssh/id_ed25519`) into its VM. Restricted evaluation allows only the
 * store (the locked flake and its inputs) and hiboss's own nix/ directory.
 */
function restrictedEval(expression: string): string[] {
  return ['--option', 'restrict-eval', 'true', '-I', `hiboss-nix=${path.dirname(expression)}`];
}

/** hiboss's own expression around the network's configuration (shipped with hiboss, never the network's). */
export const VM_IMAGE_EXPRESSION = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../nix/vm-image.nix');

/** `nix flake metadata`: the locked revision a build will use and its inputs. `refresh`: look for the newest one. */
export function nixMetadataArgs(flake: string, options: { refresh?: boolean; updateLock?: boolean } = {}): string[] {
  return [
    'flake',
    'metadata',
    ...FLAKES,
    ...NO_FLAKE_CONFIG,
    '--json',
    // A remote flake: fetch its newest revision (the admin's lock file comes with it).
    ...(options.refresh ? ['--refresh'] : []),
    // A local network flake: its inputs (hiboss, nixpkgs) are the member's to update.
    ...(options.updateLock ? ['--recreate-lock-file'] : []),
    flake,
  ];
}

/**
 * The build: hiboss's expression (nix/vm-image.nix) over the locked flake's
 * nixosConfigurations.NAME. `outLink` is the generation's GC root
 * (STATE/generations/N/result).
 */
export function nixBuildArgs(lockedUrl: string, configuration: string, outLink: string, expression = VM_IMAGE_EXPRESSION): string[] {
  return imageBuildArgs(expression, lockedUrl, configuration, [
    // The GC root; it also says where the build is (--print-out-paths needs Nix ≥ 2.11).
    '--out-link',
    outLink,
    // Build logs on stderr, so progress shows more than "building …".
    '--print-build-logs',
  ]);
}

/**
 * What building it would cost, before anything is built: `nix build --dry-run`
 * of the same expression (daemon/launch/dry-run.ts reads its plan). Nothing
 * is built or fetched; nix evaluates the configuration.
 */
export function nixDryRunArgs(lockedUrl: string, configuration: string, expression = VM_IMAGE_EXPRESSION): string[] {
  return imageBuildArgs(expression, lockedUrl, configuration, ['--dry-run']);
}

/** `nix build` of the image expression, the same for the build and its dry run but for `mode`. */
function imageBuildArgs(expression: string, lockedUrl: string, configuration: string, mode: string[]): string[] {
  return [
    'build',
    ...FLAKES,
    ...NO_FLAKE_CONFIG,
    ...restrictedEval(expression),
    ...mode,
    '--file',
    expression,
    '--argstr',
    'flake',
    lockedUrl,
    '--argstr',
    'configuration',
    configuration,
  ];
}

const MAX_JSON_BYTES = 4 * 1024 * 1024;
export { MAX_JSON_BYTES };

/** A lock file node: what an input is locked to. */
const LockNode = z.looseObject({
  inputs: z.record(z.string().max(256), z.union([z.string().max(256), z.array(z.string().max(256)).max(64)])).optional(),
  locked: z
    .looseObject({
      type: z.string().max(64).optional(),
      rev: z.string().max(256).optional(),
      narHash: z.string().max(256).optional(),
      owner: z.string().max(256).optional(),
      repo: z.string().max(256).optional(),
      url: z.string().max(4096).optional(),
      path: z.string().max(4096).optional(),
      lastModified: z.number().int().optional(),
    })
    .optional(),
});

/** What `nix flake metadata --json` says that we use; the rest is ignored. */
export const FlakeMetadata = z.looseObject({
  url: z.string().min(1).max(4096),
  revision: z.string().max(256).optional(),
  lastModified: z.number().int().optional(),
  locked: z.looseObject({ rev: z.string().max(256).optional(), narHash: z.string().max(256).optional(), lastModified: z.number().int().optional() }).optional(),
  locks: z
    .looseObject({
      root: z.string().max(256),
      nodes: z.record(z.string().max(256), LockNode).refine((nodes) => Object.keys(nodes).length <= 4096, 'too many lock nodes'),
    })
    .optional(),
});
export type FlakeMetadata = z.infer<typeof FlakeMetadata>;

export function lockedInputs(metadata: FlakeMetadata): LockedInput[] {
  const locks = metadata.locks;
  if (!locks) return [];
  const root = locks.nodes[locks.root];
  return Object.entries(root?.inputs ?? {}).map(([name, target]) => {
    // A "follows" (array) input is another input's node: name it by the path it follows.
    const nodeName = typeof target === 'string' ? target : null;
    const node = nodeName === null ? undefined : locks.nodes[nodeName];
    const locked = node?.locked;
    const source =
      nodeName === null
        ? `follows ${(target as string[]).join('/')}`
        : locked?.type === 'github' || locked?.type === 'gitlab' || locked?.type === 'sourcehut'
          ? `${locked.type}:${locked.owner ?? '?'}/${locked.repo ?? '?'}`
          : (locked?.url ?? (locked?.path !== undefined ? `path:${locked.path}` : (locked?.type ?? 'unknown')));
    return { name, source, revision: locked?.rev ?? locked?.narHash ?? (nodeName === null ? '' : 'unlocked') };
  });
}
