/**
 * `hiboss panel` (the terminal VM manager) and `hiboss join URI` (review, then
 * bind a network's VM). Both are clients of the daemon's D-Bus API; the only
 * file they write besides a wizard network is the daemon's config, through
 * daemon/config/file.ts, after which they ask the daemon to Reload().
 */
import blessed from 'blessed';
import fs from 'node:fs';
import path from 'node:path';
import readline from 'node:readline/promises';
import { DaemonClient, DaemonUnavailableError } from '../api/client.js';
import { parseArgs, UsageError, type Verb } from '../cli/args.js';
import { ConfigError, defaultConfigPath, putVm, readConfig } from '../daemon/config/file.js';
import { VmName } from '../daemon/config/schema.js';
import { ConfigsError, parseConfigs } from '../networks/index.js';
import { Panel } from './app.js';
import { buildReview, firstFreeWorkspace, parseJoinUri, type LocalConfigs, type ParsedJoin } from './join.js';
import { networksDirFor } from './wizard.js';

export const panelVerb: Verb = {
  summary: 'the terminal VM manager and network wizard',
  usage: `usage: hiboss panel [--config FILE]

A terminal manager for the daemon's VMs: networks and their VMs on the left,
the selected VM's details on the right, its log below. It follows the daemon's
D-Bus signals live and waits for the daemon if it is not running.

Keys: s start, x stop, p pause/resume, r restart, g go to its workspace,
      e edit (networks made here), d delete (asks first), n new network, q quit.

  --config FILE   the daemon's config (default $XDG_CONFIG_HOME/hiboss/config.json);
                  new networks go to $XDG_DATA_HOME/hiboss/networks/NAME/`,
  async run(argv) {
    const { flags, positional } = parseArgs(argv, { valued: ['config'] });
    if (positional.length) throw new UsageError(`unexpected argument "${positional[0]}"`);
    const configFile = path.resolve((flags.get('config') as string | undefined) ?? defaultConfigPath());
    if (!process.stdout.isTTY) throw new UsageError('the panel needs a terminal (stdout is not a TTY)');
    let client: DaemonClient;
    try {
      // Without requireDaemon: a missing daemon is shown inline and waited for.
      client = await DaemonClient.connect();
    } catch (error) {
      console.error(`hiboss panel: ${(error as Error).message}`);
      return 1;
    }
    const screen = blessed.screen({ smartCSR: true, fullUnicode: true, title: 'hiboss panel', autoPadding: true });
    return new Promise<number>((resolve) => {
      const panel = new Panel({
        screen,
        client,
        configFile,
        networksDir: networksDirFor(),
        onQuit: () => {
          panel.dispose();
          screen.destroy();
          client.close();
          resolve(0);
        },
      });
      void panel.start();
    });
  },
};

export const joinVerb: Verb = {
  summary: 'review and join a network from a nix:// URI',
  usage: `usage: hiboss join [--print-review | --yes] [--name NAME] [--workspace WS] [--config FILE] URI

Shows what joining would fetch and build, asks, then adds the network's VM to
the daemon's config (nothing is built now: the daemon builds it the first time
its workspace is shown).

URI is a nix:// link or a flake reference:
  nix://github/OWNER/REPO#NAME         github:OWNER/REPO#NAME
  nix://gitlab/OWNER/REPO#NAME         gitlab:OWNER/REPO#NAME
  nix://sourcehut/~OWNER/REPO#NAME     sourcehut:~OWNER/REPO#NAME
  nix://git+https://HOST/PATH#NAME     git+https://HOST/PATH#NAME (also git+ssh://)
  nix://https://HOST/FILE.tar.gz#NAME  https://HOST/FILE.tar.gz#NAME
                                       path:/ABSOLUTE/DIR#NAME (command line only)
  nix://ipfs-… and nix://ygg-… are recognised but not supported yet.

  --print-review  print the review and exit (0: could join, 1: cannot)
  --yes           join without asking (scripts)
  --name NAME     the VM's name (default: the part after #)
  --workspace WS  the workspace to bind (default: the first free number)
  --wait          wait for enter before exiting (the desktop handler's terminal)

Exit codes: 0 joined (or review printed), 1 cannot join or declined,
2 the URI was refused, 3 the URI is not supported yet.`,
  async run(argv) {
    const { flags, positional } = parseArgs(argv, { boolean: ['yes', 'print-review', 'wait'], valued: ['name', 'workspace', 'config'] });
    let code: number;
    try {
      code = await join(flags, positional);
    } catch (error) {
      if (!(error instanceof UsageError)) throw error;
      // Printed here rather than by main(), so the terminal the desktop opened shows it before closing.
      console.error(`hiboss join: ${error.message}`);
      code = 2;
    }
    if (flags.has('wait') && process.stdin.isTTY) await ask('Press enter to close. ');
    return code;
  },
};

async function ask(question: string): Promise<string> {
  const rl = readline.createInterface({ input: process.stdin, output: process.stdout });
  try {
    return await rl.question(question);
  } finally {
    rl.close();
  }
}

function readLocalConfigs(join: Extract<ParsedJoin, { ok: true }>): LocalConfigs {
  if (join.source.kind !== 'local') {
    return { kind: 'unreadable', why: 'configs.json is not locally readable; nix fetches the flake when the VM is first built' };
  }
  const file = path.join(join.source.dir, 'configs.json');
  let text: string;
  try {
    if (fs.statSync(file).size > 1024 * 1024) return { kind: 'invalid', file, problems: ['larger than 1 MiB'] };
    text = fs.readFileSync(file, 'utf8');
  } catch (error) {
    return { kind: 'unreadable', why: `cannot read ${file} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})` };
  }
  try {
    return { kind: 'read', file, configs: parseConfigs(text) };
  } catch (error) {
    if (error instanceof ConfigsError) return { kind: 'invalid', file, problems: error.problems };
    throw error;
  }
}

async function join(flags: Map<string, string | true>, positional: string[]): Promise<number> {
  if (positional.length !== 1) throw new UsageError(positional.length ? 'give exactly one URI' : 'missing URI (hiboss join --help)');
  if (flags.has('yes') && flags.has('print-review')) throw new UsageError('--yes and --print-review exclude each other');
  const nameFlag = flags.get('name') as string | undefined;
  const parsed = parseJoinUri(positional[0]!, nameFlag);
  if (!parsed.ok) {
    console.error(`hiboss join: ${parsed.message}`);
    console.error('Nothing was written.');
    return parsed.reason === 'unsupported' ? 3 : 2;
  }
  const vmName = nameFlag ?? parsed.configuration;
  if (!VmName.safeParse(vmName).success) throw new UsageError(`--name "${vmName}": VM names are 1–32 of A–Z a–z 0–9 _ -`);
  const configFile = path.resolve((flags.get('config') as string | undefined) ?? defaultConfigPath());
  let config;
  try {
    config = readConfig(configFile);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    console.error(`hiboss join: the daemon config is not valid, fix it first:\n  ${error.problems.join('\n  ')}`);
    return 1;
  }
  const owners = new Map<string, string>();
  for (const [name, vm] of Object.entries(config.vms)) if (vm.workspace !== undefined) owners.set(vm.workspace, name);
  const workspaceFlag = flags.get('workspace') as string | undefined;
  if (workspaceFlag !== undefined && (workspaceFlag === '' || workspaceFlag.length > 256 || /[\u0000-\u001f\u007f]/.test(workspaceFlag))) {
    throw new UsageError('--workspace: 1–256 printable characters');
  }
  const workspace = workspaceFlag ?? firstFreeWorkspace(owners.keys());
  const existing = Object.hasOwn(config.vms, vmName) ? { flake: config.vms[vmName]!.flake } : undefined;
  const owner = owners.get(workspace);
  const review = buildReview({
    join: parsed,
    vmName,
    workspace,
    workspaceChosen: workspaceFlag !== undefined,
    local: readLocalConfigs(parsed),
    configFile,
    existing,
    workspaceOwner: owner !== undefined && owner !== vmName ? owner : undefined,
  });
  console.log(review.text);
  if (flags.has('print-review') || review.blockers.length) return review.blockers.length ? 1 : 0;
  if (!flags.has('yes')) {
    if (!process.stdin.isTTY) {
      console.error('hiboss join: stdin is not a terminal; pass --yes to join without asking. Nothing was written.');
      return 1;
    }
    const answer = (await ask('\nJoin? [y/N] ')).trim().toLowerCase();
    if (answer !== 'y' && answer !== 'yes') {
      console.log('Nothing was written.');
      return 1;
    }
  }
  try {
    putVm(configFile, vmName, { workspace, flake: parsed.flake });
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    console.error(`hiboss join: the config refused it:\n  ${error.problems.join('\n  ')}`);
    return 1;
  }
  console.log(`Added VM "${vmName}" on workspace ${workspace} to ${configFile}.`);
  console.log(await reloadDaemon());
  return 0;
}

/** Tells a running daemon to re-read its config; a missing one reads it when it starts. */
async function reloadDaemon(): Promise<string> {
  let client: DaemonClient | undefined;
  try {
    client = await DaemonClient.connect({ requireDaemon: true, callTimeoutMs: 5000 });
    const problems = await client.reload();
    return problems.length ? `The daemon refused the config: ${problems.join('; ')}` : 'The daemon re-read its config.';
  } catch (error) {
    if (error instanceof DaemonUnavailableError) return `The daemon is not running; it reads the config when it starts (${error.message}).`;
    return `Reload failed: ${(error as Error).message}`;
  } finally {
    client?.close();
  }
}
