/**
 * `hiboss join URI`: review what joining a network would fetch and build, ask,
 * then bind the network's VM in the daemon's config and ask the daemon to
 * Reload(). Nothing is built here; the flake's source is fetched (unless
 * --no-fetch) to show its locked revision and inputs.
 */
import path from 'node:path';
import readline from 'node:readline/promises';
import { DaemonClient, DaemonUnavailableError } from '../../api/client.js';
import { parseArgs, UsageError, type Verb } from '../args.js';
import { runningDaemonConfig } from '../daemon-connection.js';
import { ConfigError, defaultConfigPath, putVm, readConfig } from '../../config/file.js';
import { readFileBounded, UnsafeFileError } from '../../config/read-bounded.js';
import { VmName } from '../../config/schema.js';
import { workspaceOwners } from '../../config/workspaces.js';
import { ConfigsError, parseConfigs } from '../../networks/index.js';
import { readFlakeFacts } from '../../networks/flake-facts.js';
import { estimateBuild } from '../../daemon/launch/dry-run.js';
import { buildReview, firstFreeWorkspace, parseJoinUri, quoteUntrusted, type LocalConfigs, type ParsedJoin } from '../../panel/join.js';
import { errorCode, errorMessage } from '../../shared/error-message.js';
import { withoutControlCharacters } from '../../shared/control-chars.js';
import { DEFAULT_IPFS_GATEWAY } from '../../config/market-schema.js';
import { parseFetchLink, resolveFetchLink } from '../../market/links.js';
import { fetchedDir } from '../../market/paths.js';
import { recordOrigin } from '../../market/origins.js';

export const joinVerb: Verb = {
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
  nix://ipfs-CID[/PATH]#NAME         fetched from your IPFS gateway, verified against the CID
  nix://ygg-ADDRESS[/PATH]#NAME      cloned from git+http://[ADDRESS]/PATH over Yggdrasil

  --print-review  print the review and exit (0: could join, 1: cannot)
  --no-fetch      do not fetch the flake to show its locked revision and inputs
  --yes           join without asking (scripts)
  --name NAME     the VM's name (default: the part after #)
  --workspace WS  the workspace to bind (default: the first free number)
  --wait          wait for enter before exiting (the desktop handler's terminal)
  --desktop       started by a clicked link: open a terminal for the review (or notify)
  --config FILE   the config to add it to (default: the running daemon's, else
                  $XDG_CONFIG_HOME/hiboss/config.json)

Exit codes: 0 joined (or review printed), 1 cannot join or declined,
2 the URI was refused, 3 the URI is not supported, 4 an ipfs-/ygg- link could not
be fetched (or verified).`,
  async run(argv) {
    let flags: Map<string, string | true> = new Map();
    let code: number;
    try {
      const parsed = parseArgs(argv, { boolean: ['yes', 'print-review', 'wait', 'desktop', 'no-fetch'], valued: ['name', 'workspace', 'config'], positionals: 'checked-by-verb' });
      flags = parsed.flags;
      if (flags.has('desktop') && !process.stdin.isTTY) return (await import('../desktop-handoff.js')).handOff(argv, parsed.positional);
      code = await join(flags, parsed.positional);
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
    text = readFileBounded(file, 1024 * 1024);
  } catch (error) {
    if (error instanceof UnsafeFileError) return { kind: 'invalid', file, problems: [error.message] };
    return { kind: 'unreadable', why: `cannot read ${file} (${errorCode(error) ?? errorMessage(error)})` };
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
  let parsed = parseJoinUri(positional[0]!, nameFlag);
  const link = !parsed.ok && parsed.reason === 'unsupported' ? parseFetchLink(positional[0]!) : null;
  if (link) parsed = parseJoinUri(`path:/fetched#${link.name ?? nameFlag ?? ''}`); // checks the name; the directory comes below
  else if (!parsed.ok && parsed.reason === 'unsupported') {
    console.error(`hiboss join: refused: ${quoteUntrusted(positional[0]!)} is not a nix://ipfs-CID[/PATH]#NAME or nix://ygg-ADDRESS[/PATH]#NAME link`);
    console.error('Nothing was written.');
    return 2;
  }
  if (!parsed.ok) {
    console.error(`hiboss join: ${parsed.message}`);
    console.error('Nothing was written.');
    return parsed.reason === 'unsupported' ? 3 : 2;
  }
  const vmName = nameFlag ?? parsed.configuration;
  if (!VmName.safeParse(vmName).success) throw new UsageError(`--name "${vmName}": VM names are 1–32 of A–Z a–z 0–9 _ -`);
  const configFile = path.resolve((flags.get('config') as string | undefined) ?? (await runningDaemonConfig()) ?? defaultConfigPath());
  let config;
  try {
    config = readConfig(configFile);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    console.error(`hiboss join: the daemon config is not valid, fix it first:\n  ${error.problems.join('\n  ')}`);
    return 1;
  }
  let fetchedFrom: string | undefined;
  if (link) {
    // Fetched (IPFS: verified against its CID) before the review, which then reads its configs.json.
    const resolved = await resolveFetchLink(link, { gateway: config.market?.ipfsGateway ?? DEFAULT_IPFS_GATEWAY, fetchedRoot: fetchedDir(), timeoutMs: config.market?.fetchTimeoutMs });
    if (!resolved.ok) {
      console.error(`hiboss join: ${resolved.message}`);
      console.error('Nothing was written.');
      return 4;
    }
    console.log(`${positional[0]}: ${resolved.note}`);
    fetchedFrom = resolved.dir;
    const local = parseJoinUri(`path:${resolved.dir}#${parsed.configuration}`);
    if (!local.ok) throw new UsageError(local.message);
    parsed = { ...local, uri: positional[0]! };
  }
  const owners = workspaceOwners(config.vms);
  const workspaceFlag = flags.get('workspace') as string | undefined;
  if (workspaceFlag !== undefined && (workspaceFlag === '' || workspaceFlag.length > 256 || !withoutControlCharacters(workspaceFlag))) {
    throw new UsageError('--workspace: 1–256 characters, no control characters');
  }
  const workspace = workspaceFlag ?? firstFreeWorkspace(owners.keys());
  const existing = Object.hasOwn(config.vms, vmName) ? { flake: config.vms[vmName]!.flake } : undefined;
  const owner = owners.get(workspace);
  // Its lock file: what will run, pinned (nix fetches the source); then what building it costs (nothing is built).
  const facts = flags.has('no-fetch') ? undefined : await readFlakeFacts(parsed.flakeBase);
  const estimate = facts?.kind === 'read' ? await estimateBuild(facts.url, parsed.configuration) : undefined;
  const review = buildReview({
    join: parsed,
    vmName,
    workspace,
    workspaceChosen: workspaceFlag !== undefined,
    local: readLocalConfigs(parsed),
    configFile,
    existing,
    workspaceOwner: owner !== undefined && owner !== vmName ? owner : undefined,
    facts,
    estimate,
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
  // The copy is a fixed path: what it was fetched from is what `hiboss update` follows.
  if (fetchedFrom !== undefined) recordOrigin(vmName, fetchedFrom, { kind: 'link', uri: positional[0]! }, fetchedDir());
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
    return `Reload failed: ${errorMessage(error)}`;
  } finally {
    client?.close();
  }
}
