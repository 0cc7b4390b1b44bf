/** Offline Nix evaluation for the tests: nix-instantiate (Nix 2.8, no flakes, no nixpkgs). */
import { execa } from 'execa';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root (this file runs from dist/test/nix/). */
export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
export const FIXTURES = path.join(REPO, 'test', 'fixtures', 'networks');
export const NIX_LIB = path.join(REPO, 'nix', 'lib');

/**
 * Evaluates `expr` (a function of its string arguments, e.g. `{ file }: …`)
 * strictly to JSON. Values go in as --argstr, never spliced into the expression.
 */
export async function nixEval(expr: string, args: Record<string, string> = {}): Promise<unknown> {
  const argv = ['--eval', '--strict', '--json', ...Object.entries(args).flatMap(([k, v]) => ['--argstr', k, v]), '-E', expr];
  const result = await execa('nix-instantiate', argv, { reject: false, cwd: REPO });
  if (result.failed) throw new NixEvalError(result.stderr);
  return JSON.parse(result.stdout);
}

export class NixEvalError extends Error {
  constructor(readonly stderr: string) {
    super(`nix-instantiate failed:\n${stderr}`);
  }
  /** The `NAME.path: message` of a configs.json rejection, if that is what failed. */
  get configsProblem(): string | undefined {
    return /hiboss configs\.json: (.*)/.exec(this.stderr)?.[1]?.trim();
  }
}

/** shape-configs.nix applied to a configs.json file. */
export function shapeConfigsFile(file: string): Promise<unknown> {
  return nixEval(`{ file, lib }: import (lib + "/shape-configs.nix") (builtins.fromJSON (builtins.readFile file))`, { file, lib: NIX_LIB });
}
