/**
 * A network's configs.json: the schema the panel's wizard offers and the join
 * review checks. It mirrors nix/lib/options-spec.nix (the `hiboss.*` NixOS
 * options) and nix/lib/checks.nix rule for rule; test/nix/spec-vs-schema.test.ts
 * fails when they drift.
 *
 *   { "default": { "system": "x86_64-linux", "adminMode": "local", "networkLayer": "yggdrasil",
 *                  "applications": { "syncthing": { "enable": true, "sharedFolders": ["/shared/docs"] } } } }
 */
import { z } from 'zod';
import { errorMessage } from '../shared/error-message.js';

/** Same strings as options-spec.nix `patterns`; each must match a whole value. */
export const PATTERNS = {
  name: '[A-Za-z0-9_-]{1,32}',
  absolutePath: '/[A-Za-z0-9._/@+-]*',
  hostPort: '([A-Za-z0-9.-]+|\\[[0-9A-Fa-f:.]+])(:[0-9]{1,5})?',
  cidr: '[0-9A-Fa-f:.]+/[0-9]{1,3}',
  ipAddress: '[0-9A-Fa-f:.]+',
  peerUri: '(tcp|tls|quic|ws|wss)://([A-Za-z0-9.-]+|\\[[0-9A-Fa-f:.]+]):[0-9]{1,5}(\\?[A-Za-z0-9=&._-]*)?',
  sshPublicKey: '(ssh-ed25519|sk-ssh-ed25519@openssh.com|ecdsa-sha2-nistp256|ssh-rsa) [A-Za-z0-9+/]+={0,3}( [ -~]{0,200})?',
  wireguardKey: '[A-Za-z0-9+/]{42}[AEIMQUYcgkosw480]=',
  ed25519TincKey: '[A-Za-z0-9+/]{43}',
  zerotierNetworkId: '[0-9a-f]{16}',
  syncthingDeviceId: '[A-Z2-7]{7}(-[A-Z2-7]{7}){7}',
  yggdrasilKey: '[0-9a-f]{64}',
  zerotierNodeId: '[0-9a-f]{10}',
  tincRsaKey: '-----BEGIN RSA PUBLIC KEY-----\n[A-Za-z0-9+/=\n]{40,1400}-----END RSA PUBLIC KEY-----\n?',
  domain: '[a-z0-9]([a-z0-9-]{0,30}[a-z0-9])?',
} as const;

export const SYSTEMS = ['x86_64-linux', 'aarch64-linux'] as const;
export const ADMIN_MODES = ['local', 'remote', 'shared'] as const;
export const NETWORK_LAYERS = ['yggdrasil', 'wireguard', 'zerotier', 'tinc'] as const;
export const APPLICATIONS = ['syncthing', 'mumbleClient', 'mumbleServer', 'gitServer', 'nextcloud'] as const;
/** The network's services a member can serve, each named SERVICE.DOMAIN (options-spec.nix memberServices). */
export const MEMBER_SERVICES = ['mumble', 'git', 'cloud'] as const;
export type MemberService = (typeof MEMBER_SERVICES)[number];
/** The application that provides each member service. */
export const SERVICE_APPLICATION = { mumble: 'mumbleServer', git: 'gitServer', cloud: 'nextcloud' } as const satisfies Record<MemberService, (typeof APPLICATIONS)[number]>;
export type NetworkLayer = (typeof NETWORK_LAYERS)[number];

export function wholeMatch(pattern: string): RegExp {
  return new RegExp(`^(?:${pattern})$`);
}

function text(pattern: string, maxLength: number) {
  return z
    .string()
    .max(maxLength, `at most ${maxLength} characters`)
    .regex(wholeMatch(pattern), { error: (issue) => `"${String(issue.input)}" is not valid here` });
}
function list<T extends z.ZodType>(element: T, maxItems: number) {
  return z.array(element).max(maxItems, `at most ${maxItems} items`);
}
const enableFlag = () => z.boolean().default(false);
/** A block whose keys all have defaults: absent means "all defaults", as in the NixOS module. */
function block<S extends z.ZodRawShape>(shape: S) {
  return z.strictObject(shape).prefault({} as z.input<z.ZodObject<S, z.core.$strict>>);
}

export const ConfigName = text(PATTERNS.name, 32);

const Yggdrasil = z.strictObject({
  peers: list(text(PATTERNS.peerUri, 256), 64).default([]),
  address: text(PATTERNS.ipAddress, 64).nullable().default(null),
});

const WireguardPeer = z.strictObject({
  publicKey: text(PATTERNS.wireguardKey, 44),
  allowedIPs: list(text(PATTERNS.cidr, 64), 64).default([]),
  endpoint: text(PATTERNS.hostPort, 256).nullable().default(null),
});
const Wireguard = z.strictObject({
  address: text(PATTERNS.cidr, 64).nullable().default(null),
  listenPort: z.number().int().min(1).max(65535).default(51820),
  privateKeyFile: text(PATTERNS.absolutePath, 256).default('/var/lib/hiboss/wireguard.key'),
  peers: list(WireguardPeer, 256).default([]),
});

const Zerotier = z.strictObject({
  networkId: text(PATTERNS.zerotierNetworkId, 16).nullable().default(null),
  address: text(PATTERNS.ipAddress, 64).nullable().default(null),
});

const TincPeer = z.strictObject({
  name: text(PATTERNS.name, 32),
  ed25519PublicKey: text(PATTERNS.ed25519TincKey, 43),
  subnet: text(PATTERNS.cidr, 64),
  addresses: list(text(PATTERNS.hostPort, 256), 16).default([]),
});
const Tinc = z.strictObject({
  hostName: text(PATTERNS.name, 32).nullable().default(null),
  address: text(PATTERNS.cidr, 64).nullable().default(null),
  peers: list(TincPeer, 256).default([]),
});

const Applications = block({
  syncthing: block({
    enable: enableFlag(),
    sharedFolders: list(text(PATTERNS.absolutePath, 256), 64).default([]),
    devices: list(z.strictObject({ name: text(PATTERNS.name, 32), id: text(PATTERNS.syncthingDeviceId, 63) }), 256).default([]),
  }),
  mumbleClient: block({ enable: enableFlag(), server: text(PATTERNS.hostPort, 256).nullable().default(null) }),
  mumbleServer: block({ enable: enableFlag() }),
  gitServer: block({ enable: enableFlag() }),
  nextcloud: block({
    enable: enableFlag(),
    adminPasswordFile: text(PATTERNS.absolutePath, 256).default('/var/lib/hiboss/nextcloud-admin-pass'),
  }),
});

const identity = <S extends z.ZodRawShape>(shape: S) => z.strictObject(shape).nullable().default(null);

/** What the other members need to know of a member (configs.json `members.NAME`). */
export const Member = z.strictObject({
  address: text(PATTERNS.ipAddress, 64),
  admin: z.boolean().default(false),
  endpoint: text(PATTERNS.hostPort, 256).nullable().default(null),
  wireguard: identity({ publicKey: text(PATTERNS.wireguardKey, 44) }),
  yggdrasil: identity({ publicKey: text(PATTERNS.yggdrasilKey, 64) }),
  tinc: identity({
    rsaPublicKey: text(PATTERNS.tincRsaKey, 1500).nullable().default(null),
    ed25519PublicKey: text(PATTERNS.ed25519TincKey, 43).nullable().default(null),
  }),
  zerotier: identity({ nodeId: text(PATTERNS.zerotierNodeId, 10) }),
  syncthing: identity({ deviceId: text(PATTERNS.syncthingDeviceId, 63) }),
  serves: list(z.enum(MEMBER_SERVICES, { error: `expected one of ${MEMBER_SERVICES.join(', ')}` }), 3).default([]),
});
export type Member = z.output<typeof Member>;
export type MemberInput = z.input<typeof Member>;
export const MAX_MEMBERS = 256;

const Members = z
  .record(ConfigName, Member)
  .refine((members) => Object.keys(members).length <= MAX_MEMBERS, `at most ${MAX_MEMBERS} entries`)
  .default({});

/**
 * The `hiboss.*` options of one machine (everything but `system`). Layer
 * blocks stay optional here so a block for an unused layer can be reported;
 * MachineConfig fills them in afterwards.
 */
export const HibossOptions = z.strictObject({
  adminMode: z.enum(ADMIN_MODES, { error: `expected one of ${ADMIN_MODES.join(', ')}` }).default('local'),
  adminKeys: list(text(PATTERNS.sshPublicKey, 1024), 32).default([]),
  networkLayer: z.enum(NETWORK_LAYERS, { error: `expected one of ${NETWORK_LAYERS.join(', ')}` }).default('yggdrasil'),
  yggdrasil: Yggdrasil.optional(),
  wireguard: Wireguard.optional(),
  zerotier: Zerotier.optional(),
  tinc: Tinc.optional(),
  desktop: block({ enable: z.boolean().default(true) }),
  applications: Applications,
  domain: text(PATTERNS.domain, 32).default('hiboss'),
  members: Members,
});

const LAYER_BLOCKS = { yggdrasil: Yggdrasil, wireguard: Wireguard, zerotier: Zerotier, tinc: Tinc } as const;

type WithOptionalLayers = z.output<typeof HibossOptions>;
export type Hiboss = Omit<WithOptionalLayers, NetworkLayer> & { [L in NetworkLayer]: NonNullable<WithOptionalLayers[L]> };

function withLayerDefaults<T extends WithOptionalLayers>(machine: T): Omit<T, NetworkLayer> & Hiboss {
  return {
    ...machine,
    yggdrasil: machine.yggdrasil ?? LAYER_BLOCKS.yggdrasil.parse({}),
    wireguard: machine.wireguard ?? LAYER_BLOCKS.wireguard.parse({}),
    zerotier: machine.zerotier ?? LAYER_BLOCKS.zerotier.parse({}),
    tinc: machine.tinc ?? LAYER_BLOCKS.tinc.parse({}),
  };
}

interface Problem {
  path: string;
  message: string;
}

const inStore = (path: string) => path.startsWith('/nix/store/');

/** 200::/7, as written: the first group 200–3ff (checks.nix's pattern). */
export function isYggdrasilAddress(address: string): boolean {
  return /^0?[23][0-9a-fA-F]{2}:/.test(address);
}

/** Nix's attribute order (builtins.attrNames: byte order), so both name the same first problem. */
export function compareNames(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** members.nix `problems`: the rules across configs (one network), paths from the root. */
export function networkProblems(configs: Record<string, { networkLayer: NetworkLayer; members: Record<string, Member> }>): Problem[] {
  const problems: Problem[] = [];
  const seen: Array<{ config: string; name: string; address: string; layer: NetworkLayer; serves: readonly string[] }> = [];
  for (const config of Object.keys(configs).sort(compareNames)) {
    const { networkLayer: layer, members } = configs[config]!;
    for (const name of Object.keys(members).sort(compareNames)) {
      const at = `${config}.members.${name}`;
      const address = members[name]!.address;
      if (Object.hasOwn(configs, name)) problems.push({ path: at, message: 'a member cannot have the name of a config' });
      const twin = seen.find((other) => other.name === name);
      if (twin) problems.push({ path: at, message: `is also a member in ${twin.config}` });
      const sameAddress = seen.find((other) => other.address === address && other.layer === layer);
      if (sameAddress) problems.push({ path: `${at}.address`, message: `is also the address of ${sameAddress.name}` });
      // One member serves each service: SERVICE.DOMAIN names one address.
      for (const service of members[name]!.serves) {
        const other = seen.find((o) => o.layer === layer && o.serves.includes(service));
        if (other) problems.push({ path: `${at}.serves`, message: `${service} is served by ${other.name} already` });
      }
      seen.push({ config, name, address, layer, serves: members[name]!.serves });
    }
  }
  return problems;
}

/** nix/lib/checks.nix, rule for rule and message for message. */
export function semanticProblems(hiboss: Hiboss): Problem[] {
  const problems: Problem[] = [];
  const rule = (ok: boolean, path: string, message: string) => {
    if (!ok) problems.push({ path, message });
  };
  const layer = hiboss.networkLayer;
  const apps = hiboss.applications;
  rule(hiboss.adminMode === 'local' || hiboss.adminKeys.length > 0, 'adminKeys', `adminMode ${hiboss.adminMode} needs at least one admin SSH key`);
  rule(layer !== 'wireguard' || hiboss.wireguard.address !== null, 'wireguard.address', 'required when networkLayer is wireguard');
  rule(layer !== 'tinc' || hiboss.tinc.address !== null, 'tinc.address', 'required when networkLayer is tinc');
  rule(layer !== 'zerotier' || hiboss.zerotier.networkId !== null, 'zerotier.networkId', 'required when networkLayer is zerotier');
  rule(!inStore(hiboss.wireguard.privateKeyFile), 'wireguard.privateKeyFile', 'must not be in the Nix store (it is world-readable)');
  rule(!inStore(apps.nextcloud.adminPasswordFile), 'applications.nextcloud.adminPasswordFile', 'must not be in the Nix store (it is world-readable)');
  rule(!apps.mumbleClient.enable || apps.mumbleClient.server !== null, 'applications.mumbleClient.server', 'required when the Mumble client is enabled');
  rule(
    apps.syncthing.sharedFolders.every((folder) => !inStore(folder) && folder !== '/'),
    'applications.syncthing.sharedFolders',
    'a shared folder cannot be / or in the Nix store',
  );
  rule(new Set(apps.syncthing.sharedFolders).size === apps.syncthing.sharedFolders.length, 'applications.syncthing.sharedFolders', 'lists a folder twice');
  // Each member carries the identity its network layer needs, and serves only what runs.
  for (const [name, member] of Object.entries(hiboss.members).sort(([a], [b]) => compareNames(a, b))) {
    const at = `members.${name}`;
    rule(layer !== 'wireguard' || member.wireguard !== null, `${at}.wireguard`, 'required when networkLayer is wireguard');
    rule(layer !== 'yggdrasil' || member.yggdrasil !== null, `${at}.yggdrasil`, 'required when networkLayer is yggdrasil');
    rule(
      layer !== 'tinc' || (member.tinc !== null && (member.tinc.rsaPublicKey !== null || member.tinc.ed25519PublicKey !== null)),
      `${at}.tinc`,
      'rsaPublicKey or ed25519PublicKey required when networkLayer is tinc',
    );
    rule(layer !== 'yggdrasil' || isYggdrasilAddress(member.address), `${at}.address`, 'a yggdrasil address is in 200::/7');
    for (const service of member.serves) {
      const app = SERVICE_APPLICATION[service];
      rule(apps[app].enable, `${at}.serves`, `serves ${service}, but applications.${app} is not enabled`);
    }
    rule(new Set(member.serves).size === member.serves.length, `${at}.serves`, 'lists a service twice');
  }
  return problems;
}

/** One machine of configs.json: `system` plus the hiboss options, defaults filled in. */
export const MachineConfig = z
  .strictObject({
    system: z.enum(SYSTEMS, { error: `expected one of ${SYSTEMS.join(', ')}` }).default('x86_64-linux'),
    ...HibossOptions.shape,
  })
  .superRefine((machine, ctx) => {
    // A block for a layer that is not used would be silently ignored.
    for (const layer of NETWORK_LAYERS) {
      if (layer !== machine.networkLayer && machine[layer] !== undefined) {
        ctx.addIssue({ code: 'custom', path: [layer], message: `set, but networkLayer is ${machine.networkLayer}` });
      }
    }
    for (const problem of semanticProblems(withLayerDefaults(machine))) {
      ctx.addIssue({ code: 'custom', path: problem.path.split('.'), message: problem.message });
    }
  })
  .transform((machine) => withLayerDefaults(machine));
export type MachineConfig = z.output<typeof MachineConfig>;
export type MachineConfigInput = z.input<typeof MachineConfig>;

/** configs.json: config (machine) name -> its settings. */
export const Configs = z
  .record(ConfigName.describe('config name'), MachineConfig)
  .refine((configs) => Object.keys(configs).length > 0, 'needs at least one config')
  .superRefine((configs, ctx) => {
    for (const problem of networkProblems(configs)) ctx.addIssue({ code: 'custom', path: problem.path.split('.'), message: problem.message });
  });
export type Configs = z.output<typeof Configs>;
export type ConfigsInput = z.input<typeof Configs>;

export class ConfigsError extends Error {
  constructor(readonly problems: string[]) {
    super(`configs.json is not valid:\n  ${problems.join('\n  ')}`);
    this.name = 'ConfigsError';
  }
}

/** Problems the way users read them: `default.networkLayer: expected one of …`. */
export function describeConfigsIssues(error: z.ZodError): string[] {
  return error.issues.flatMap((issue) => {
    const at = (path: PropertyKey[]) => (path.length ? path.map(String).join('.') : '(root)');
    if (issue.code === 'unrecognized_keys') return issue.keys.map((key) => `${at([...issue.path, key])}: unknown key`);
    if (issue.code === 'invalid_key') {
      return [`${at(issue.path)}: ${issue.path.length <= 1 ? 'config names' : 'names'} are 1–32 of A–Z a–z 0–9 _ -`];
    }
    return [`${at(issue.path)}: ${issue.message}`];
  });
}

/** Validates configs.json text; throws ConfigsError listing every problem with its path. */
export function parseConfigs(text: string): Configs {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    throw new ConfigsError([`(root): not JSON (${errorMessage(error)})`]);
  }
  return checkConfigs(raw);
}

/** As parseConfigs, for a value already parsed (what the wizard builds). */
export function checkConfigs(raw: unknown): Configs {
  const result = Configs.safeParse(raw);
  if (!result.success) throw new ConfigsError(describeConfigsIssues(result.error));
  return result.data;
}
