/**
 * The new-network wizard's model: the answers, the steps they lead through, what
 * each answer may be, and the network they describe (configs.json and the VM's
 * config entry). Pure: no files, no terminal — panel/wizard/io.ts reads and
 * writes, panel/wizard/view.ts draws, panel/wizard.ts drives the steps.
 *
 * Every option offered is an enum exported by networks/ (one source of truth);
 * the labels below are keyed by those enums, so a new value fails to compile
 * until it is described.
 */
import path from 'node:path';
import { VmConfig, VmName, describeIssues } from '../../config/schema.js';
import { PALETTE } from '../../config/colors.js';
import {
  ADMIN_MODES,
  APPLICATIONS,
  ConfigsError,
  FlakeRefError,
  NETWORK_LAYERS,
  PATTERNS,
  SERVICE_APPLICATION,
  checkConfigs,
  checkFlakeRef,
  wholeMatch,
  type Configs,
  type NetworkLayer,
} from '../../networks/index.js';

export type AdminMode = (typeof ADMIN_MODES)[number];
export type Application = (typeof APPLICATIONS)[number];

export const LAYER_LABELS: Record<NetworkLayer, string> = {
  yggdrasil: 'Yggdrasil (mesh, no setup)',
  wireguard: 'WireGuard (asks for this node\'s address)',
  zerotier: 'ZeroTier (asks for the network id)',
  tinc: 'tinc (asks for this node\'s address)',
};
export const ADMIN_LABELS: Record<AdminMode, string> = {
  local: 'the member, at the VM\'s console',
  remote: 'network admins over SSH (asks for a key)',
  shared: 'both (asks for a key)',
};
export const APPLICATION_LABELS: Record<Application, string> = {
  syncthing: 'Syncthing (asks for shared folders)',
  mumbleClient: 'Mumble client (asks for its server)',
  mumbleServer: 'Mumble server',
  gitServer: 'git server (forgejo)',
  nextcloud: 'Nextcloud',
};

export interface Answers {
  name: string;
  networkLayer: NetworkLayer;
  /** wireguard/tinc: this node's CIDR address; zerotier: the network id. */
  layerSetting: string;
  adminMode: AdminMode;
  adminKey: string;
  applications: Application[];
  /** Comma-separated absolute paths. */
  sharedFolders: string;
  mumbleServer: string;
  workspace: string;
  /** The network's colour (#rrggbb) on its windows, bar and panel; '' none. */
  color: string;
}

export type StepId = keyof Answers | 'review';
export type Step =
  | { id: 'name' | 'layerSetting' | 'adminKey' | 'sharedFolders' | 'mumbleServer' | 'workspace'; kind: 'text'; title: string; hint: string }
  | { id: 'networkLayer'; kind: 'choice'; title: string; options: readonly NetworkLayer[]; labels: Record<string, string> }
  | { id: 'adminMode'; kind: 'choice'; title: string; options: readonly AdminMode[]; labels: Record<string, string> }
  | { id: 'color'; kind: 'choice'; title: string; options: readonly string[]; labels: Record<string, string> }
  | { id: 'applications'; kind: 'multi'; title: string; options: readonly Application[]; labels: Record<string, string> }
  | { id: 'review'; kind: 'review'; title: string };

export type WizardResult =
  | { kind: 'cancelled' }
  | { kind: 'done'; message: string; networkDir: string };

export const EMPTY_ANSWERS: Answers = {
  name: '',
  networkLayer: 'yggdrasil',
  layerSetting: '',
  adminMode: 'local',
  adminKey: '',
  applications: [],
  sharedFolders: '',
  mumbleServer: '',
  workspace: '',
  color: '',
};

/** The palette as the wizard offers it: a swatch and a name per colour. */
const COLOR_LABELS: Record<string, string> = Object.fromEntries(PALETTE.map((c) => [c.hex, `{${c.hex}-fg}██{/${c.hex}-fg} ${c.name}`]));

export function stepsFor(answers: Answers, editing: boolean): Step[] {
  const steps: Step[] = [];
  if (!editing) steps.push({ id: 'name', kind: 'text', title: 'Network name', hint: '1–32 of A–Z a–z 0–9 _ -; also the VM\'s name' });
  steps.push({ id: 'networkLayer', kind: 'choice', title: 'Network layer', options: NETWORK_LAYERS, labels: LAYER_LABELS });
  if (answers.networkLayer === 'zerotier') steps.push({ id: 'layerSetting', kind: 'text', title: 'ZeroTier network id', hint: '16 hex digits, e.g. 8056c2e21c000001' });
  if (answers.networkLayer === 'wireguard' || answers.networkLayer === 'tinc') {
    steps.push({ id: 'layerSetting', kind: 'text', title: `This node's ${answers.networkLayer} address`, hint: 'CIDR, e.g. 10.77.0.2/24' });
  }
  steps.push({ id: 'adminMode', kind: 'choice', title: 'Who administers the VM', options: ADMIN_MODES, labels: ADMIN_LABELS });
  if (answers.adminMode !== 'local') steps.push({ id: 'adminKey', kind: 'text', title: 'Admin SSH public key', hint: 'ssh-ed25519 AAAA… comment' });
  steps.push({ id: 'applications', kind: 'multi', title: 'Applications', options: APPLICATIONS, labels: APPLICATION_LABELS });
  if (answers.applications.includes('syncthing')) {
    steps.push({ id: 'sharedFolders', kind: 'text', title: 'Syncthing shared folders', hint: 'absolute paths, comma-separated, e.g. /shared/docs (may be empty)' });
  }
  if (answers.applications.includes('mumbleClient')) steps.push({ id: 'mumbleServer', kind: 'text', title: 'Mumble server', hint: 'host[:port]' });
  steps.push({ id: 'workspace', kind: 'text', title: 'Workspace to bind', hint: 'e.g. 3; one VM per workspace' });
  steps.push({ id: 'color', kind: 'choice', title: 'Colour (its windows, the bar, the panel)', options: PALETTE.map((c) => c.hex), labels: COLOR_LABELS });
  steps.push({ id: 'review', kind: 'review', title: 'Review' });
  return steps;
}

export function splitFolders(text: string): string[] {
  return text.split(',').map((f) => f.trim()).filter((f) => f !== '');
}

/** The flake setting of a wizard network's VM. */
export function vmFlakeFor(networksDir: string, name: string): string {
  return `path:${path.join(networksDir, name)}#${name}`;
}

/** configs.json for the answers: one configuration, named like the network (and its VM). */
export function buildConfigs(answers: Answers): Record<string, unknown> {
  const machine: Record<string, unknown> = {
    system: 'x86_64-linux',
    adminMode: answers.adminMode,
    networkLayer: answers.networkLayer,
  };
  if (answers.adminMode !== 'local') machine.adminKeys = [answers.adminKey.trim()];
  if (answers.networkLayer === 'wireguard') machine.wireguard = { address: answers.layerSetting.trim() };
  if (answers.networkLayer === 'tinc') machine.tinc = { address: answers.layerSetting.trim() };
  if (answers.networkLayer === 'zerotier') machine.zerotier = { networkId: answers.layerSetting.trim() };
  const applications: Record<string, unknown> = {};
  for (const app of APPLICATIONS) {
    if (!answers.applications.includes(app)) continue;
    if (app === 'syncthing') applications.syncthing = { enable: true, sharedFolders: splitFolders(answers.sharedFolders) };
    else if (app === 'mumbleClient') applications.mumbleClient = { enable: true, server: answers.mumbleServer.trim() };
    else applications[app] = { enable: true };
  }
  machine.applications = applications;
  return { [answers.name]: machine };
}

/** The VM's entry in the daemon's config.json for the answers. */
/**
 * config.json's entry for the network's VM on this machine. The wizard's network starts with its
 * creator alone, so her VM is the one that serves the network's servers (Mumble, git, Nextcloud):
 * such a VM keeps running while its workspace is hidden (`whenHidden: "run"`), or the network's
 * services would stop whenever she looks elsewhere.
 */
export function vmEntryFor(answers: Answers, networksDir: string): { workspace: string; flake: string; color?: string; whenHidden?: 'run' } {
  const serves = answers.applications.some((app) => (Object.values(SERVICE_APPLICATION) as readonly string[]).includes(app));
  return {
    workspace: answers.workspace,
    flake: vmFlakeFor(networksDir, answers.name),
    ...(answers.color ? { color: answers.color } : {}),
    ...(serves ? { whenHidden: 'run' as const } : {}),
  };
}

/** Answers back from a wizard network's configs.json (for `e`dit). */
export function answersFromConfigs(name: string, configs: Configs, workspace: string): Answers {
  const machine = configs[name] ?? Object.values(configs)[0];
  if (!machine) return { ...EMPTY_ANSWERS, name, workspace };
  const apps = machine.applications;
  return {
    name,
    networkLayer: machine.networkLayer,
    layerSetting:
      machine.networkLayer === 'wireguard' ? machine.wireguard.address ?? ''
      : machine.networkLayer === 'tinc' ? machine.tinc.address ?? ''
      : machine.networkLayer === 'zerotier' ? machine.zerotier.networkId ?? ''
      : '',
    adminMode: machine.adminMode,
    adminKey: machine.adminKeys[0] ?? '',
    applications: APPLICATIONS.filter((app) => apps[app].enable),
    sharedFolders: apps.syncthing.sharedFolders.join(', '),
    mumbleServer: apps.mumbleClient.server ?? '',
    workspace,
    color: '',
  };
}

/** Who owns which workspace and which VM names exist (from the config file: panel/wizard/io.ts). */
export interface ConfigFacts {
  owners: Map<string, string>;
  names: Set<string>;
}

/** What validation needs to know of the world; panel/wizard/io.ts answers from the disk. */
export interface WizardLookup {
  networksDir: string;
  configFile: string;
  networkExists(name: string): boolean;
  /** The config's facts, or why they cannot be had (worded for the user). */
  facts(): ConfigFacts | string;
}

/** The problem with one answer, worded for the user; null when fine. */
export function validateAnswer(id: StepId, value: string, answers: Answers, editing: boolean, lookup: WizardLookup): string | null {
  switch (id) {
    case 'name': {
      if (!VmName.safeParse(value).success) return `"${value}" is not a valid name: use 1–32 of A–Z a–z 0–9 _ -`;
      if (editing) return null;
      if (lookup.networkExists(value)) return `a network named "${value}" already exists in ${lookup.networksDir}`;
      const facts = lookup.facts();
      if (typeof facts === 'string') return facts;
      if (facts.names.has(value)) return `a VM named "${value}" is already in ${lookup.configFile}`;
      return null;
    }
    case 'layerSetting':
      if (answers.networkLayer === 'zerotier') return wholeMatch(PATTERNS.zerotierNetworkId).test(value) ? null : `"${value}" is not a ZeroTier network id (16 hex digits, lower case)`;
      return wholeMatch(PATTERNS.cidr).test(value) ? null : `"${value}" is not an address in CIDR form (e.g. 10.77.0.2/24)`;
    case 'adminKey':
      return wholeMatch(PATTERNS.sshPublicKey).test(value) ? null : 'not an SSH public key (ssh-ed25519 AAAA… [comment])';
    case 'sharedFolders': {
      const folders = splitFolders(value);
      const bad = folders.find((f) => !wholeMatch(PATTERNS.absolutePath).test(f) || f === '/' || f.startsWith('/nix/store/'));
      if (bad !== undefined) return `"${bad}" is not usable: shared folders are absolute paths, not / and not in /nix/store`;
      if (new Set(folders).size !== folders.length) return 'a folder is listed twice';
      return null;
    }
    case 'mumbleServer':
      return wholeMatch(PATTERNS.hostPort).test(value) ? null : `"${value}" is not host[:port]`;
    case 'workspace': {
      if (value === '') return 'a workspace is needed: the VM runs while its workspace is shown';
      if (value.length > 256) return 'at most 256 characters';
      const facts = lookup.facts();
      if (typeof facts === 'string') return facts;
      const owner = facts.owners.get(value);
      if (owner !== undefined && owner !== answers.name) return `workspace "${value}" is already bound to VM "${owner}"`;
      return null;
    }
    default:
      return null;
  }
}

/** Every problem with the answers as a whole (each text answer again, configs.json, the flake, the VM entry). */
export function commitProblems(answers: Answers, editing: boolean, lookup: WizardLookup): string[] {
  const problems: string[] = [];
  for (const step of stepsFor(answers, editing)) {
    if (step.kind !== 'text') continue;
    const problem = validateAnswer(step.id, answers[step.id], answers, editing, lookup);
    if (problem) problems.push(`${step.title}: ${problem}`);
  }
  try {
    checkConfigs(buildConfigs(answers));
  } catch (error) {
    if (!(error instanceof ConfigsError)) throw error;
    problems.push(...error.problems);
  }
  const vm = vmEntryFor(answers, lookup.networksDir);
  try {
    checkFlakeRef(vm.flake);
  } catch (error) {
    if (!(error instanceof FlakeRefError)) throw error;
    problems.push(`the network's directory cannot be a flake reference: ${error.message}`);
  }
  const vmCheck = VmConfig.safeParse(vm);
  if (!vmCheck.success) problems.push(...describeIssues(vmCheck.error));
  return problems;
}
