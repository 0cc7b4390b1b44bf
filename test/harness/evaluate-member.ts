/**
 * What nix/lib/member-config.nix evaluates for one member of a checkout's
 * configs.json: the real function, by nix-instantiate (offline, builtins only),
 * the values going in as --argstr, never spliced into the expression.
 */
import { execa } from 'execa';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { EvaluatedMember, MAX_EVALUATED_BYTES } from './member-config.js';

const NIX_LIB = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../nix/lib');

export async function evaluatedMemberConfig(configsPath: string, member: string): Promise<EvaluatedMember> {
  const expression = '{ lib, file, self }: import (lib + "/member-config.nix") { configs = builtins.fromJSON (builtins.readFile file); inherit self; }';
  const { stdout } = await execa('nix-instantiate', [
    '--eval', '--strict', '--json', '--argstr', 'lib', NIX_LIB, '--argstr', 'file', path.resolve(configsPath), '--argstr', 'self', member, '-E', expression,
  ], { maxBuffer: MAX_EVALUATED_BYTES });
  return EvaluatedMember.parse(JSON.parse(stdout));
}
