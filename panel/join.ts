/**
 * `hiboss join URI`: what a nix:// link (or a plain flake reference) means,
 * and the review a member reads before anything is added. Pure: parsing and
 * the review text; reading configs.json and the daemon config are passed in.
 *
 * nix:// mapping (a link on a web page or in a chat, handed to us by the
 * desktop's x-scheme-handler/nix):
 *
 *   nix://github/OWNER/REPO[/REF]#NAME     → github:OWNER/REPO[/REF]#NAME
 *   nix://gitlab/OWNER/REPO[/REF]#NAME     → gitlab:OWNER/REPO[/REF]#NAME
 *   nix://sourcehut/~OWNER/REPO[/REF]#NAME → sourcehut:~OWNER/REPO[/REF]#NAME
 *   nix://git+https://HOST/PATH#NAME       → git+https://HOST/PATH#NAME
 *   nix://https://HOST/PATH.tar.gz#NAME    → https://HOST/PATH.tar.gz#NAME (tarball flake)
 *   nix://ipfs-CID[/PATH]#NAME             → parsed, not supported yet
 *   nix://ygg-ADDRESS[/PATH]#NAME          → parsed, not supported yet
 *
 * A link from the web never names a local path (path:, file:, git+file:): a
 * page must not make hiboss build from the member's disk. A plain flake
 * reference typed on the command line may (`path:/…#NAME`), and only then is a
 * configs.json locally readable for the review.
 */
import path from 'node:path';
import { checkFlakeRef, FlakeRefError, parseFlakeVmRef, type Configs } from '../networks/index.js';
import { VmName } from '../config/schema.js';
import { controlCharacterProblem } from '../shared/control-chars.js';
import type { FlakeFacts } from '../networks/flake-facts.js';
import { describeEstimate, type EstimateResult } from '../daemon/launch/dry-run.js';

export const MAX_URI_LENGTH = 2048;

/** Characters a shell (or a terminal, or a Nix string) reads specially. */
const SHELL_META = /[;&|$`'"\\<>(){}[\]*!\s^]/;

export type JoinSource =
  | { kind: 'github' | 'gitlab' | 'sourcehut'; repo: string }
  | { kind: 'git'; url: string }
  | { kind: 'tarball'; url: string }
  | { kind: 'local'; dir: string };

export type ParsedJoin =
  | { ok: true; uri: string; flake: string; flakeBase: string; configuration: string; source: JoinSource }
  | { ok: false; uri: string; reason: 'unsupported'; what: string; message: string }
  | { ok: false; uri: string; reason: 'refused'; message: string };

/** How an untrusted string is shown: printable ASCII as is, the rest escaped, cut short. */
export function quoteUntrusted(text: string, max = 80): string {
  const cut = text.length > max ? text.slice(0, max) : text;
  const shown = [...cut]
    .map((char) => (/[\x20-\x7e]/.test(char) && char !== '"' && char !== '\\' ? char : `\\u{${char.codePointAt(0)!.toString(16)}}`))
    .join('');
  return `"${shown}"${text.length > max ? `… (${text.length} characters)` : ''}`;
}

function refuse(uri: string, message: string): ParsedJoin {
  return { ok: false, uri, reason: 'refused', message };
}

const HOSTED = { github: 'github', gitlab: 'gitlab', sourcehut: 'sourcehut' } as const;
/** OWNER/REPO or OWNER/REPO/REF: no empty, `.` or `..` segments. */
const REPO_PATH = /^(?!.*(?:^|\/)\.{1,2}(?:\/|$))[A-Za-z0-9~._-]+\/[A-Za-z0-9._-]+(?:\/[A-Za-z0-9._/-]+)?$/;
/** A host, then an optional port and a path. */
const REMOTE_URL = /^(git\+https|git\+ssh|https):\/\/(?:[A-Za-z0-9._-]+@)?[A-Za-z0-9.-]+(?::[0-9]{1,5})?(?:\/[A-Za-z0-9._~/%+=,@:-]*)?(?:\?[A-Za-z0-9._=%-]*)?$/;

/**
 * Parses a nix:// URI or a flake reference. `defaultName` (from --name) stands
 * in when the reference names no configuration ("#NAME").
 */
export function parseJoinUri(input: string, defaultName?: string): ParsedJoin {
  const uri = input;
  // Checked in this order so the cheapest, most telling refusal wins and
  // nothing overlong or with control characters is looked at further.
  if (uri.length === 0) return refuse(uri, 'refused: the URI is empty');
  if (uri.length > MAX_URI_LENGTH) return refuse(uri, `refused: the URI is ${uri.length} characters long; at most ${MAX_URI_LENGTH} are accepted`);
  // C0, DEL and C1 controls could rewrite the review on the terminal.
  const control = controlCharacterProblem(uri, 'the URI');
  if (control) return refuse(uri, `refused: ${control}`);
  // Percent-encoded controls are controls too: nix, git and a terminal all decode them.
  const encoded = /%(?:[01][0-9A-Fa-f]|7[Ff]|[89][0-9A-Fa-f])/.exec(uri);
  if (encoded) {
    return refuse(uri, `refused: the URI contains a percent-encoded control character (${encoded[0].toUpperCase()}) at position ${encoded.index + 1}`);
  }
  if (/[^\x20-\x7e]/.test(uri)) return refuse(uri, 'refused: the URI contains non-ASCII characters (they can disguise a host name)');
  if (uri.startsWith('-')) return refuse(uri, `refused: ${quoteUntrusted(uri)} starts with "-" and would read as an option`);
  const meta = SHELL_META.exec(uri);
  if (meta) {
    const what = meta[0] === ' ' ? 'a space' : meta[0] === '\t' ? 'a tab' : `"${meta[0]}"`;
    return refuse(uri, `refused: the URI contains ${what} at position ${meta.index + 1}, which a shell would read specially`);
  }

  let flake: string;
  let source: JoinSource;
  const hashAt = uri.indexOf('#');
  const base = hashAt === -1 ? uri : uri.slice(0, hashAt);
  const fragment = hashAt === -1 ? '' : uri.slice(hashAt);

  if (/^nix:/i.test(base)) {
    if (!/^nix:\/\//i.test(base)) return refuse(uri, 'refused: a nix: URI must start with nix://');
    const rest = base.slice('nix://'.length);
    const lower = rest.toLowerCase();
    if (lower.startsWith('ipfs-')) {
      const cid = rest.slice(5).split('/')[0] ?? '';
      return {
        ok: false, uri, reason: 'unsupported', what: 'ipfs',
        message: `not yet supported: ${quoteUntrusted(uri)} names a flake on IPFS (CID ${quoteUntrusted(cid, 64)}). ` +
          'hiboss cannot fetch flakes from IPFS yet; ask for a github:, git+https: or https: link to the same network.',
      };
    }
    if (lower.startsWith('ygg-')) {
      const address = rest.slice(4).split('/')[0] ?? '';
      return {
        ok: false, uri, reason: 'unsupported', what: 'yggdrasil',
        message: `not yet supported: ${quoteUntrusted(uri)} names a flake served over Yggdrasil (address ${quoteUntrusted(address, 64)}). ` +
          'hiboss cannot fetch over Yggdrasil before the network is joined; ask for a github:, git+https: or https: link.',
      };
    }
    const slash = rest.indexOf('/');
    const head = slash === -1 ? rest : rest.slice(0, slash);
    if (Object.hasOwn(HOSTED, head.toLowerCase())) {
      const kind = HOSTED[head.toLowerCase() as keyof typeof HOSTED];
      const repo = slash === -1 ? '' : rest.slice(slash + 1).replace(/\/$/, '');
      if (!REPO_PATH.test(repo)) return refuse(uri, `refused: nix://${head}/ must be followed by OWNER/REPO (got ${quoteUntrusted(repo)})`);
      flake = `${kind}:${repo}`;
      source = { kind, repo };
    } else if (/^(git\+https|git\+ssh|https):\/\//i.test(rest)) {
      if (!REMOTE_URL.test(rest)) return refuse(uri, `refused: ${quoteUntrusted(rest)} is not a plain URL (host, optional port, path)`);
      flake = rest;
      source = rest.startsWith('https:') ? { kind: 'tarball', url: rest } : { kind: 'git', url: rest };
    } else if (/^(path|file|git\+file):/i.test(rest) || rest.startsWith('/')) {
      return refuse(uri, 'refused: a nix:// link may not name a local path (path:, file:, git+file:); run hiboss join with the flake reference itself');
    } else {
      return refuse(uri, `refused: unknown nix:// source ${quoteUntrusted(head, 40)}; supported are nix://github/…, nix://gitlab/…, nix://sourcehut/…, nix://git+https://…, nix://git+ssh://…, nix://https://… (ipfs- and ygg- are not yet supported)`);
    }
  } else {
    const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):/.exec(base)?.[1]?.toLowerCase();
    if (scheme === 'github' || scheme === 'gitlab' || scheme === 'sourcehut') {
      const repo = base.slice(scheme.length + 1);
      if (!REPO_PATH.test(repo)) return refuse(uri, `refused: ${scheme}: must be followed by OWNER/REPO (got ${quoteUntrusted(repo)})`);
      flake = base;
      source = { kind: scheme, repo };
    } else if (scheme === 'git+https' || scheme === 'git+ssh' || scheme === 'https') {
      if (!REMOTE_URL.test(base)) return refuse(uri, `refused: ${quoteUntrusted(base)} is not a plain URL (host, optional port, path)`);
      flake = base;
      source = scheme === 'https' ? { kind: 'tarball', url: base } : { kind: 'git', url: base };
    } else if (scheme === 'path') {
      const dir = base.slice('path:'.length);
      if (!dir.startsWith('/') || dir.split('/').some((segment) => segment === '..')) {
        return refuse(uri, 'refused: a path: flake reference must be an absolute path without ".."');
      }
      flake = base;
      source = { kind: 'local', dir: path.normalize(dir) };
    } else if (scheme === undefined) {
      return refuse(uri, `refused: ${quoteUntrusted(uri)} has no scheme; expected nix://…, github:…, gitlab:…, sourcehut:…, git+https://…, git+ssh://…, https://… or path:/…`);
    } else {
      return refuse(uri, `refused: unknown scheme "${scheme}:"; expected nix://…, github:…, gitlab:…, sourcehut:…, git+https://…, git+ssh://…, https://… or path:/…`);
    }
  }

  const fragmentName = fragment.slice(1);
  const configuration = fragmentName || defaultName || '';
  if (configuration === '') return refuse(uri, 'refused: the URI names no VM: add "#NAME" (the network\'s configuration) or pass --name NAME');
  const full = `${flake}#${configuration}`;
  try {
    checkFlakeRef(full);
    parseFlakeVmRef(full, configuration);
  } catch (error) {
    if (error instanceof FlakeRefError) return refuse(uri, `refused: ${error.message}`);
    throw error;
  }
  if (!VmName.safeParse(configuration).success) {
    return refuse(uri, `refused: ${quoteUntrusted(configuration)} cannot be a VM name (1–32 of A–Z a–z 0–9 _ -)`);
  }
  return { ok: true, uri, flake: full, flakeBase: flake, configuration, source };
}

function describeSource(source: JoinSource): string {
  switch (source.kind) {
    case 'github':
      return `GitHub repository ${source.repo} (fetched by nix over HTTPS)`;
    case 'gitlab':
      return `GitLab repository ${source.repo} (fetched by nix over HTTPS)`;
    case 'sourcehut':
      return `sourcehut repository ${source.repo} (fetched by nix over HTTPS)`;
    case 'git':
      return `git repository ${source.url} (cloned by nix)`;
    case 'tarball':
      return `tarball ${source.url} (downloaded by nix)`;
    case 'local':
      return `local directory ${source.dir}`;
    default: {
      const never: never = source;
      throw new Error(`unknown flake source ${JSON.stringify(never)}`);
    }
  }
}

/** What a locally readable configs.json says, or why there is nothing to say. */
export type LocalConfigs =
  | { kind: 'read'; file: string; configs: Configs }
  | { kind: 'invalid'; file: string; problems: string[] }
  | { kind: 'unreadable'; why: string };

export interface ReviewInput {
  join: Extract<ParsedJoin, { ok: true }>;
  /** The VM name it gets in hiboss's config. */
  vmName: string;
  workspace: string;
  /** True when --workspace did not choose it. */
  workspaceChosen: boolean;
  local: LocalConfigs;
  configFile: string;
  /** A VM of that name already in the config (with its flake), if any. */
  existing?: { flake: string | undefined } | undefined;
  /** The workspace's current owner, if it is taken. */
  workspaceOwner?: string | undefined;
  /** The flake's locked revision and inputs (networks/flake-facts.ts), when they were read. */
  facts?: FlakeFacts | undefined;
  /** What building it will cost (`nix build --dry-run`), when it was asked. */
  estimate?: EstimateResult | undefined;
}

export interface Review {
  text: string;
  /** Problems that make joining impossible (shown in the text too). */
  blockers: string[];
}

export function listApplications(apps: Configs[string]['applications']): string[] {
  const out: string[] = [];
  if (apps.syncthing.enable) out.push(`syncthing (shared folders: ${apps.syncthing.sharedFolders.length ? apps.syncthing.sharedFolders.join(', ') : 'none'})`);
  if (apps.mumbleClient.enable) out.push(`mumble client (server ${apps.mumbleClient.server ?? '?'})`);
  if (apps.mumbleServer.enable) out.push('mumble server');
  if (apps.gitServer.enable) out.push('git server (forgejo)');
  if (apps.nextcloud.enable) out.push('nextcloud');
  return out;
}

export function buildReview(input: ReviewInput): Review {
  const { join, local } = input;
  const blockers: string[] = [];
  const rows: Array<[string, string]> = [
    ['URI', input.join.uri],
    ['flake', join.flake],
    ['source', describeSource(join.source)],
    ['configuration', join.configuration],
    ['builds', `hiboss's own VM image of ${join.flakeBase}#nixosConfigurations.${join.configuration} (kernel, initrd, closure: data for your QEMU; nothing of the flake runs on this machine)`],
    ['VM name', input.vmName],
    ['workspace', `${input.workspace}${input.workspaceChosen ? '' : ' (the first free one; --workspace WS to choose)'}`],
  ];
  if (local.kind === 'read') {
    const machine = local.configs[join.configuration];
    if (machine) {
      rows.push(['network layer', machine.networkLayer]);
      rows.push(['admin mode', machine.adminMode]);
      const apps = listApplications(machine.applications);
      rows.push(['applications', apps.length ? apps.join('; ') : 'none']);
    } else {
      const names = Object.keys(local.configs).join(', ');
      blockers.push(`${local.file} has no configuration "${join.configuration}" (it has: ${names})`);
    }
  } else if (local.kind === 'invalid') {
    blockers.push(`${local.file} is not valid: ${local.problems.join('; ')}`);
  } else {
    rows.push(['network layer', `unknown: ${local.why}`]);
    rows.push(['applications', 'unknown (nix fetches the flake when the VM is first built)']);
  }
  const facts = input.facts;
  if (facts?.kind === 'read') {
    rows.push(['revision', quoteUntrusted(facts.revision, 80)]);
    if (facts.inputs.length === 0) rows.push(['inputs', 'none']);
    facts.inputs.forEach((locked, index) =>
      rows.push([index === 0 ? 'inputs' : '', `${quoteUntrusted(locked.name, 40)} ${quoteUntrusted(locked.source, 100)} @ ${quoteUntrusted(locked.revision, 80)}`]),
    );
  } else {
    rows.push(['inputs', facts ? `unknown: ${facts.why}` : 'not read (nothing fetched)']);
  }
  // nix's dry run of the build: what will be built and fetched (the closure's size once built is in its manifest).
  const estimate = input.estimate;
  rows.push(['build cost', estimate?.kind === 'read' ? describeEstimate(estimate.estimate) : estimate ? `unknown: ${estimate.why}` : 'not estimated (nothing fetched)']);
  if (input.existing) {
    blockers.push(
      input.existing.flake === join.flake
        ? `VM "${input.vmName}" is already in ${input.configFile} with this flake: nothing to do`
        : `a VM named "${input.vmName}" is already in ${input.configFile} (flake ${input.existing.flake ?? 'none: a QEMU VM'}); pass --name to choose another name`,
    );
  }
  if (input.workspaceOwner) blockers.push(`workspace "${input.workspace}" is already bound to VM "${input.workspaceOwner}"`);

  const width = Math.max(...rows.map(([key]) => key.length));
  const lines = [
    facts?.kind === 'read' ? 'hiboss join: review (the flake was fetched to read its lock file; nothing has been built)' : 'hiboss join: review (nothing has been fetched or built)',
    '',
    ...rows.map(([key, value]) => `  ${key.padEnd(width)}  ${value}`),
    '',
  ];
  if (blockers.length) lines.push('Cannot join:', ...blockers.map((b) => `  - ${b}`));
  else {
    lines.push(
      `Joining adds VM "${input.vmName}" to ${input.configFile}.`,
      `Nothing is built now: the daemon builds the flake the first time you go to workspace ${input.workspace}.`,
    );
  }
  return { text: lines.join('\n'), blockers };
}

/** The lowest numbered workspace no VM is bound to. */
export function firstFreeWorkspace(taken: Iterable<string>): string {
  const used = new Set(taken);
  for (let n = 1; ; n++) if (!used.has(String(n))) return String(n);
}
