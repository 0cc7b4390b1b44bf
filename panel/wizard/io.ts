/**
 * The new-network wizard's files: what it reads (the daemon's config.json for
 * names, workspaces and colours in use; a network's configs.json to edit it) and
 * what it writes (the network's directory, its VM's entry in config.json through
 * config/file.ts, then the daemon asked to reload). Nothing is written when
 * anything is wrong.
 */
import fs from 'node:fs';
import path from 'node:path';
import { ConfigError, putVm, readConfig } from '../../config/file.js';
import { readFileBounded } from '../../config/read-bounded.js';
import { workspaceOwners } from '../../config/workspaces.js';
import { freeColor, PALETTE } from '../../config/colors.js';
import { parseConfigs, writeNetwork } from '../../networks/index.js';
import { errorMessage } from '../../shared/error-message.js';
import { answersFromConfigs, buildConfigs, vmEntryFor, type Answers, type ConfigFacts, type WizardLookup, type WizardResult } from './model.js';

/** Where the wizard writes, and what it must not collide with. */
export interface WizardEnv {
  /** $XDG_DATA_HOME/hiboss/networks */
  networksDir: string;
  /** The daemon's config.json */
  configFile: string;
  /** Asks the daemon to re-read its config (Reload()); throws when it is not running. */
  reload(): Promise<string[]>;
}

export function networksDirFor(env: NodeJS.ProcessEnv = process.env): string {
  const dataHome = env.XDG_DATA_HOME || path.join(env.HOME ?? '/', '.local', 'share');
  return path.join(dataHome, 'hiboss', 'networks');
}

/** Validation's view of the disk: read fresh each time (the config may change while the wizard is open). */
export function lookupFor(env: WizardEnv): WizardLookup {
  return {
    networksDir: env.networksDir,
    configFile: env.configFile,
    networkExists: (name) => fs.existsSync(path.join(env.networksDir, name)),
    facts: (): ConfigFacts | string => {
      try {
        const config = readConfig(env.configFile);
        return { owners: workspaceOwners(config.vms), names: new Set(Object.keys(config.vms)) };
      } catch (error) {
        return error instanceof ConfigError ? `the daemon config is not valid: ${error.problems.join('; ')}` : errorMessage(error);
      }
    },
  };
}

/** The answers of an existing wizard network, for `e`dit: its configs.json and its VM's entry. */
export function answersForEdit(env: WizardEnv, name: string): Answers {
  const dir = path.join(env.networksDir, name);
  const configs = parseConfigs(readFileBounded(path.join(dir, 'configs.json'), 1024 * 1024));
  const vm = readConfig(env.configFile).vms[name];
  return { ...answersFromConfigs(name, configs, vm?.workspace ?? ''), color: vm?.color ?? '' };
}

/** The first palette colour no VM has yet. */
export function unusedColor(env: WizardEnv): string {
  try {
    return freeColor(Object.values(readConfig(env.configFile).vms).map((vm) => vm.color));
  } catch {
    return PALETTE[0].hex;
  }
}

/**
 * Writes checked answers: the network's directory, then its VM's entry (a network just
 * created goes again when the config refuses the entry), then asks the daemon to reload.
 */
export async function writeAnswers(env: WizardEnv, answers: Answers, editing: boolean): Promise<{ error: string } | { result: WizardResult }> {
  let written;
  try {
    written = await writeNetwork({ dir: env.networksDir, name: answers.name, configs: buildConfigs(answers) });
  } catch (error) {
    return { error: `could not write the network: ${errorMessage(error)}` };
  }
  try {
    putVm(env.configFile, answers.name, vmEntryFor(answers, env.networksDir));
  } catch (error) {
    // Keep "nothing written on error": a network just created goes again.
    if (written.created) fs.rmSync(written.path, { recursive: true, force: true });
    return { error: error instanceof ConfigError ? `the daemon config refused it: ${error.problems.join('; ')}` : errorMessage(error) };
  }
  let reloadNote: string;
  try {
    const refused = await env.reload();
    reloadNote = refused.length ? `the daemon refused the config: ${refused.join('; ')}` : 'the daemon reloaded its config';
  } catch (error) {
    reloadNote = `the daemon will read it when it starts (${errorMessage(error)})`;
  }
  return {
    result: {
      kind: 'done',
      networkDir: written.path,
      message: `${editing ? 'Updated' : 'Created'} network "${answers.name}" in ${written.path}, bound to workspace ${answers.workspace}; ${reloadNote}.`,
    },
  };
}
