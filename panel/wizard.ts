/**
 * The new-network wizard as a state machine: steps, key handling, per-step
 * validation and the final commit. No blessed here — panel/screens/wizard.ts
 * draws `view()` and forwards keys, and tests drive it directly.
 *
 * Every option offered is an enum exported by networks/ (one source of truth);
 * the labels below are keyed by those enums, so a new value fails to compile
 * until it is described.
 */
import fs from 'node:fs';
import path from 'node:path';
import { ConfigError, putVm, readConfig } from '../config/file.js';
import { readFileBounded } from '../config/read-bounded.js';
import { VmConfig, VmName, describeIssues } from '../config/schema.js';
import { workspaceOwners } from '../config/workspaces.js';
import { withoutControlCharacters } from '../shared/control-chars.js';
import { colorName, freeColor, PALETTE } from '../config/colors.js';
import {
  ADMIN_MODES,
  APPLICATIONS,
  ConfigsError,
  FlakeRefError,
  NETWORK_LAYERS,
  PATTERNS,
  checkConfigs,
  checkFlakeRef,
  parseConfigs,
  wholeMatch,
  writeNetwork,
  type Configs,
  type NetworkLayer,
} from '../networks/index.js';
import { escapeTags } from './view-model.js';
import { errorMessage } from '../shared/error-message.js';

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

type StepId = keyof Answers | 'review';
export type Step =
  | { id: 'name' | 'layerSetting' | 'adminKey' | 'sharedFolders' | 'mumbleServer' | 'workspace'; kind: 'text'; title: string; hint: string }
  | { id: 'networkLayer'; kind: 'choice'; title: string; options: readonly NetworkLayer[]; labels: Record<string, string> }
  | { id: 'adminMode'; kind: 'choice'; title: string; options: readonly AdminMode[]; labels: Record<string, string> }
  | { id: 'color'; kind: 'choice'; title: string; options: readonly string[]; labels: Record<string, string> }
  | { id: 'applications'; kind: 'multi'; title: string; options: readonly Application[]; labels: Record<string, string> }
  | { id: 'review'; kind: 'review'; title: string };

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

/** The flake setting of a wizard network's VM. */
export function vmFlakeFor(networksDir: string, name: string): string {
  return `path:${path.join(networksDir, name)}#${name}`;
}

const EMPTY: Answers = {
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

/** Answers back from a wizard network's configs.json (for `e`dit). */
export function answersFromConfigs(name: string, configs: Configs, workspace: string): Answers {
  const machine = configs[name] ?? Object.values(configs)[0];
  if (!machine) return { ...EMPTY, name, workspace };
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

export type WizardResult =
  | { kind: 'cancelled' }
  | { kind: 'done'; message: string; networkDir: string };

/** Reads who owns which workspace and which VM names exist, fresh from the config file. */
function configFacts(configFile: string): { owners: Map<string, string>; names: Set<string> } {
  const config = readConfig(configFile);
  return { owners: workspaceOwners(config.vms), names: new Set(Object.keys(config.vms)) };
}

export class Wizard {
  answers: Answers;
  stepIndex = 0;
  /** The text being typed, or the highlighted option. */
  input = '';
  cursor = 0;
  error: string | null = null;
  busy = false;
  result: WizardResult | null = null;
  readonly editing: string | null;

  constructor(private readonly env: WizardEnv, edit?: { name: string; answers: Answers }) {
    this.editing = edit?.name ?? null;
    this.answers = edit ? { ...edit.answers } : { ...EMPTY, applications: [] };
    this.#enterStep();
  }

  /** Opens the wizard on an existing wizard network. */
  static forEdit(env: WizardEnv, name: string): Wizard {
    const dir = path.join(env.networksDir, name);
    const configs = parseConfigs(readFileBounded(path.join(dir, 'configs.json'), 1024 * 1024));
    const vm = readConfig(env.configFile).vms[name];
    return new Wizard(env, { name, answers: { ...answersFromConfigs(name, configs, vm?.workspace ?? ''), color: vm?.color ?? '' } });
  }

  #freeColor(): string {
    try {
      return freeColor(Object.values(readConfig(this.env.configFile).vms).map((vm) => vm.color));
    } catch {
      return PALETTE[0].hex;
    }
  }

  get steps(): Step[] {
    return stepsFor(this.answers, this.editing !== null);
  }

  get step(): Step {
    return this.steps[this.stepIndex]!;
  }

  #enterStep(): void {
    const step = this.step;
    this.error = null;
    if (step.kind === 'text') this.input = this.answers[step.id];
    else if (step.kind === 'choice') {
      // No colour yet: the first one no other VM has.
      const current = step.id === 'color' && this.answers.color === '' ? this.#freeColor() : this.answers[step.id];
      this.cursor = Math.max(0, (step.options as readonly string[]).indexOf(current));
    }
    else this.cursor = 0;
  }

  /**
   * One key press (blessed's `key.full`/`ch`). Resolves when any commit it
   * triggered is over; `result` is set once the wizard is finished.
   */
  async key(name: string, ch?: string): Promise<void> {
    if (this.busy || this.result) return;
    const step = this.step;
    if (name === 'escape') {
      if (this.stepIndex === 0) this.result = { kind: 'cancelled' };
      else {
        this.stepIndex -= 1;
        this.#enterStep();
      }
      return;
    }
    if (name === 'C-c') {
      this.result = { kind: 'cancelled' };
      return;
    }
    // blessed reports a carriage return twice ("return", then "enter"); only "enter" counts.
    const submit = name === 'enter';
    if (step.kind === 'text') {
      if (submit) return this.#submitText(step.id, this.input.trim());
      const before = this.input;
      if (name === 'backspace') this.input = this.input.slice(0, -1);
      else if (name === 'C-u') this.input = '';
      else if (ch !== undefined && ch.length === 1 && withoutControlCharacters(ch) && this.input.length < 1024) this.input += ch;
      // The error stays until the answer changes (blessed also sends "return" after "enter").
      if (this.input !== before) this.error = null;
      return;
    }
    if (step.kind === 'choice' || step.kind === 'multi') {
      const count = step.options.length;
      if (name === 'up' || name === 'k') this.cursor = (this.cursor + count - 1) % count;
      else if (name === 'down' || name === 'j' || name === 'tab') this.cursor = (this.cursor + 1) % count;
      else if (step.kind === 'multi' && (name === 'space' || ch === ' ')) {
        const app = step.options[this.cursor]!;
        const chosen = this.answers.applications;
        this.answers.applications = chosen.includes(app) ? chosen.filter((a) => a !== app) : APPLICATIONS.filter((a) => a === app || chosen.includes(a));
      } else if (submit) {
        if (step.kind === 'choice') {
          if (step.id === 'networkLayer') {
            const layer = step.options[this.cursor]!;
            if (layer !== this.answers.networkLayer) this.answers.layerSetting = '';
            this.answers.networkLayer = layer;
          } else if (step.id === 'color') this.answers.color = step.options[this.cursor]!;
          else this.answers.adminMode = step.options[this.cursor]!;
        }
        this.#next();
      }
      return;
    }
    // review
    if (submit || name === 'y') await this.commit();
  }

  #next(): void {
    this.stepIndex = Math.min(this.stepIndex + 1, this.steps.length - 1);
    this.#enterStep();
  }

  #submitText(id: Extract<Step, { kind: 'text' }>['id'], value: string): void {
    const problem = this.validate(id, value);
    if (problem) {
      this.error = problem;
      return;
    }
    this.answers[id] = value;
    this.#next();
  }

  /** The problem with one answer, worded for the user; null when fine. */
  validate(id: StepId, value: string): string | null {
    switch (id) {
      case 'name': {
        if (!VmName.safeParse(value).success) return `"${value}" is not a valid name: use 1–32 of A–Z a–z 0–9 _ -`;
        if (this.editing !== null) return null;
        if (fs.existsSync(path.join(this.env.networksDir, value))) return `a network named "${value}" already exists in ${this.env.networksDir}`;
        const facts = this.#facts();
        if (typeof facts === 'string') return facts;
        if (facts.names.has(value)) return `a VM named "${value}" is already in ${this.env.configFile}`;
        return null;
      }
      case 'layerSetting':
        if (this.answers.networkLayer === 'zerotier') return wholeMatch(PATTERNS.zerotierNetworkId).test(value) ? null : `"${value}" is not a ZeroTier network id (16 hex digits, lower case)`;
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
        const facts = this.#facts();
        if (typeof facts === 'string') return facts;
        const owner = facts.owners.get(value);
        if (owner !== undefined && owner !== this.answers.name) return `workspace "${value}" is already bound to VM "${owner}"`;
        return null;
      }
      default:
        return null;
    }
  }

  #facts(): ReturnType<typeof configFacts> | string {
    try {
      return configFacts(this.env.configFile);
    } catch (error) {
      return error instanceof ConfigError ? `the daemon config is not valid: ${error.problems.join('; ')}` : errorMessage(error);
    }
  }

  /** Everything checked again (the config may have changed meanwhile), then written. Nothing is written on error. */
  async commit(): Promise<void> {
    this.busy = true;
    try {
      const answers = this.answers;
      const problems: string[] = [];
      for (const step of this.steps) {
        if (step.kind !== 'text') continue;
        const problem = this.validate(step.id, answers[step.id]);
        if (problem) problems.push(`${step.title}: ${problem}`);
      }
      const configs = buildConfigs(answers);
      try {
        checkConfigs(configs);
      } catch (error) {
        if (!(error instanceof ConfigsError)) throw error;
        problems.push(...error.problems);
      }
      const flake = vmFlakeFor(this.env.networksDir, answers.name);
      try {
        checkFlakeRef(flake);
      } catch (error) {
        if (!(error instanceof FlakeRefError)) throw error;
        problems.push(`the network's directory cannot be a flake reference: ${error.message}`);
      }
      const vm = { workspace: answers.workspace, flake, ...(answers.color ? { color: answers.color } : {}) };
      const vmCheck = VmConfig.safeParse(vm);
      if (!vmCheck.success) problems.push(...describeIssues(vmCheck.error));
      if (problems.length) {
        this.error = problems.join('\n');
        return;
      }

      let written;
      try {
        written = await writeNetwork({ dir: this.env.networksDir, name: answers.name, configs });
      } catch (error) {
        this.error = `could not write the network: ${errorMessage(error)}`;
        return;
      }
      try {
        putVm(this.env.configFile, answers.name, vm);
      } catch (error) {
        // Keep "nothing written on error": a network just created goes again.
        if (written.created) fs.rmSync(written.path, { recursive: true, force: true });
        this.error = error instanceof ConfigError ? `the daemon config refused it: ${error.problems.join('; ')}` : errorMessage(error);
        return;
      }
      let reloadNote: string;
      try {
        const refused = await this.env.reload();
        reloadNote = refused.length ? `the daemon refused the config: ${refused.join('; ')}` : 'the daemon reloaded its config';
      } catch (error) {
        reloadNote = `the daemon will read it when it starts (${errorMessage(error)})`;
      }
      this.result = {
        kind: 'done',
        networkDir: written.path,
        message: `${this.editing ? 'Updated' : 'Created'} network "${answers.name}" in ${written.path}, bound to workspace ${answers.workspace}; ${reloadNote}.`,
      };
    } finally {
      this.busy = false;
    }
  }

  /** What the wizard box shows (blessed tags; user text escaped). */
  view(): string[] {
    const step = this.step;
    const steps = this.steps;
    const title = `${this.editing ? `Edit network ${escapeTags(this.editing)}` : 'New network'} — step ${this.stepIndex + 1}/${steps.length}: ${step.title}`;
    const lines = [`{bold}${title}{/bold}`, ''];
    if (step.kind === 'text') {
      lines.push(`{gray-fg}${escapeTags(step.hint)}{/gray-fg}`, `> ${escapeTags(this.input)}█`);
    } else if (step.kind === 'choice' || step.kind === 'multi') {
      const current = step.kind === 'choice' ? this.answers[step.id] : null;
      step.options.forEach((option, index) => {
        const pointer = index === this.cursor ? '>' : ' ';
        const mark = step.kind === 'multi'
          ? (this.answers.applications.includes(option as Application) ? '[x]' : '[ ]')
          : option === current ? '(*)' : '( )';
        const line = `${pointer} ${mark} ${option.padEnd(13)} ${step.labels[option] ?? ''}`;
        lines.push(index === this.cursor ? `{inverse}${line}{/inverse}` : line);
      });
      lines.push('', step.kind === 'multi' ? '{gray-fg}space: toggle  enter: continue{/gray-fg}' : '{gray-fg}↑/↓: choose  enter: continue{/gray-fg}');
    } else {
      lines.push(...this.reviewLines().map(escapeTags), '', 'Press {bold}enter{/bold} to write it, esc to go back.');
    }
    if (this.error) lines.push('', ...this.error.split('\n').map((line) => `{red-fg}✖ ${escapeTags(line)}{/red-fg}`));
    lines.push('', '{gray-fg}esc: back (cancel on the first step){/gray-fg}');
    return lines;
  }

  reviewLines(): string[] {
    const a = this.answers;
    const dir = path.join(this.env.networksDir, a.name);
    const layer = a.networkLayer === 'yggdrasil' ? a.networkLayer : `${a.networkLayer} (${a.layerSetting})`;
    const apps = a.applications.map((app) =>
      app === 'syncthing' ? `syncthing (folders: ${splitFolders(a.sharedFolders).join(', ') || 'none'})` : app === 'mumbleClient' ? `mumbleClient (server ${a.mumbleServer})` : app,
    );
    return [
      `name           ${a.name}`,
      `network layer  ${layer}`,
      `admin mode     ${a.adminMode}`,
      `applications   ${apps.join(', ') || 'none'}`,
      `workspace      ${a.workspace}`,
      `colour         ${a.color ? colorName(a.color) : 'none'}`,
      `writes         ${path.join(dir, 'configs.json')}, ${path.join(dir, 'flake.nix')}`,
      `adds VM        ${a.name} (flake ${vmFlakeFor(this.env.networksDir, a.name)}) to ${this.env.configFile}`,
    ];
  }
}
