/**
 * What nix/lib/member-config.nix evaluates for one member of configs.json.
 *
 * TO SWITCH TO THE REAL EVALUATION (once nix/lib/member-config.nix is on main):
 * in evaluatedMemberConfig, replace the stand-in line by the commented
 * nix-instantiate line under it, and delete member-config-standin.ts.
 */
import { execa } from 'execa';
import path from 'node:path';
import { EvaluatedMember, MAX_EVALUATED_BYTES, readMembersConfigs } from './member-config.js';
import { standInMemberConfig } from './member-config-standin.js';

/** What nix/lib/member-config.nix evaluates for `member` (today: the stand-in; see the header). */
export async function evaluatedMemberConfig(configsPath: string, member: string): Promise<EvaluatedMember> {
  return EvaluatedMember.parse(standInMemberConfig(readMembersConfigs(configsPath), member));
  // return evaluateWithNix(configsPath, member);
}

/** The real evaluation: nix-instantiate on the repo's nix/lib/member-config.nix. */
export async function evaluateWithNix(configsPath: string, member: string, repo = process.cwd()): Promise<EvaluatedMember> {
  const expression = `import ${path.join(repo, 'nix/lib/member-config.nix')} { configs = builtins.fromJSON (builtins.readFile ${path.resolve(configsPath)}); self = builtins.getEnv "HIBOSS_MEMBER"; }`;
  const { stdout } = await execa('nix-instantiate', ['--eval', '--strict', '--json', '-E', expression], {
    env: { HIBOSS_MEMBER: member },
    maxBuffer: MAX_EVALUATED_BYTES,
  });
  return EvaluatedMember.parse(JSON.parse(stdout));
}

