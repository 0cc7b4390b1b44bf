/**
 * The member data of a network, as the network tests see it: configs.json with
 * its `members`, and what nix/lib/member-config.nix evaluates for one member —
 * the NixOS option values, keyed by real NixOS option paths. One zod schema for
 * that evaluated shape, used by the adapter (net-adapter.ts) and the stand-in.
 * The evaluation itself: evaluate-member.ts. removeMember stands for the CLI
 * (`hiboss network remove CHECKOUT NAME`) until that verb is merged.
 */
import fs from 'node:fs';
import path from 'node:path';
import { z } from 'zod';

/** configs.json and the evaluation's JSON are small; a runaway one is an error, not a memory hog. */
export const MAX_EVALUATED_BYTES = 1024 * 1024;

// ---- configs.json: the part the network tests write -------------------------------------------

const MemberSchema = z.strictObject({
  address: z.string().max(64),
  admin: z.boolean().optional(),
  endpoint: z.string().max(256).optional(),
  wireguard: z.strictObject({ publicKey: z.string().max(64) }).optional(),
  yggdrasil: z.strictObject({ publicKey: z.string().regex(/^[0-9a-f]{64}$/) }).optional(),
  tinc: z.strictObject({ rsaPublicKey: z.string().max(4096) }).optional(),
  syncthing: z.strictObject({ deviceId: z.string().max(63) }).optional(),
  serves: z.array(z.string().max(32)).max(16).optional(),
});
export type Member = z.infer<typeof MemberSchema>;

/** One network config of configs.json: its layer and settings (see networks/configs-schema.ts), and its members. */
const NetworkConfig = z.looseObject({
  networkLayer: z.enum(['wireguard', 'yggdrasil', 'tinc', 'zerotier']),
  yggdrasil: z.looseObject({ peers: z.array(z.string().max(256)).max(64).optional() }).optional(),
  applications: z.looseObject({
    syncthing: z.looseObject({ enable: z.boolean().optional(), sharedFolders: z.array(z.string().max(256)).max(64).optional() }).optional(),
  }).optional(),
  members: z.record(z.string().regex(/^[A-Za-z0-9_-]{1,32}$/), MemberSchema),
});

/** configs.json as these tests write it: exactly one network config, whose `members` are the network's. */
export const MembersConfigs = z
  .record(z.string().regex(/^[A-Za-z0-9_-]{1,32}$/), NetworkConfig)
  .refine((configs) => Object.keys(configs).length === 1, 'exactly one network config');
export type MembersConfigs = z.infer<typeof MembersConfigs>;
export type NetworkConfig = z.infer<typeof NetworkConfig>;

/** The one network config: its name and content. */
export function networkOf(configs: MembersConfigs): { name: string; config: NetworkConfig } {
  const [name, config] = Object.entries(configs)[0]!;
  return { name, config };
}

// ---- the evaluated NixOS option values for one member ---------------------------------------

const Ports = z.array(z.number().int().min(1).max(65535)).max(64);
const FirewallPorts = z.strictObject({ allowedTCPPorts: Ports.optional(), allowedUDPPorts: Ports.optional() });

const WireguardInterface = z.strictObject({
  ips: z.array(z.string().max(64)).max(16),
  listenPort: z.number().int().min(1).max(65535).optional(),
  privateKeyFile: z.string().max(256).optional(),
  generatePrivateKeyFile: z.boolean().optional(),
  peers: z.array(z.strictObject({
    publicKey: z.string().max(64),
    allowedIPs: z.array(z.string().max(64)).max(64),
    endpoint: z.string().max(256).optional(),
    persistentKeepalive: z.number().int().min(0).max(65535).optional(),
  })).max(256),
});

const YggdrasilSettings = z.looseObject({
  Peers: z.array(z.string().max(256)).max(256).optional(),
  Listen: z.array(z.string().max(256)).max(64).optional(),
  AllowedPublicKeys: z.array(z.string().regex(/^[0-9a-f]{64}$/)).max(256).optional(),
  MulticastInterfaces: z.array(z.unknown()).max(16).optional(),
  IfName: z.string().max(15).optional(),
});

const TincNetwork = z.strictObject({
  name: z.string().max(32),
  hostSettings: z.record(z.string().max(32), z.strictObject({
    addresses: z.array(z.strictObject({ address: z.string().max(256), port: z.number().int().min(1).max(65535).optional() })).max(16).default([]),
    subnets: z.array(z.strictObject({ address: z.string().max(64), prefixLength: z.number().int().min(0).max(128).optional() })).max(64).default([]),
    rsaPublicKey: z.string().max(4096),
  })),
  /** tinc.conf settings beyond Name (ConnectTo …): scalars, or lists written as one line each. */
  settings: z.record(z.string().max(64), z.union([z.string().max(256), z.number(), z.array(z.string().max(256)).max(256)])).optional(),
});

const SyncthingSettings = z.strictObject({
  devices: z.record(z.string().max(32), z.strictObject({ id: z.string().max(63), addresses: z.array(z.string().max(256)).max(16).default([]) })).default({}),
  folders: z.record(z.string().max(64), z.strictObject({ path: z.string().max(256), devices: z.array(z.string().max(32)).max(256) })).default({}),
  options: z.record(z.string().regex(/^[A-Za-z][A-Za-z0-9]{0,63}$/), z.union([z.string().max(256), z.number(), z.boolean(), z.array(z.string().max(256)).max(16)])).default({}),
});

export const EvaluatedMember = z.strictObject({
  networking: z.strictObject({
    wireguard: z.strictObject({ interfaces: z.record(z.string().max(15), WireguardInterface) }).optional(),
    firewall: z.strictObject({
      allowedTCPPorts: Ports.optional(),
      allowedUDPPorts: Ports.optional(),
      interfaces: z.record(z.string().max(15), FirewallPorts).optional(),
      extraInputRules: z.string().max(16_384).optional(),
    }).optional(),
    nftables: z.strictObject({ enable: z.boolean() }).optional(),
    interfaces: z.record(z.string().max(15), z.strictObject({
      ipv4: z.strictObject({ addresses: z.array(z.strictObject({ address: z.string().max(64), prefixLength: z.number().int().min(0).max(32) })).max(16) }),
    })).optional(),
    hosts: z.record(z.string().max(64), z.array(z.string().max(253)).max(16)).optional(),
  }),
  services: z.strictObject({
    yggdrasil: z.strictObject({ settings: YggdrasilSettings }).optional(),
    tinc: z.strictObject({ networks: z.record(z.string().max(16), TincNetwork) }).optional(),
    syncthing: z.strictObject({ settings: SyncthingSettings }).optional(),
  }).default({}),
});
export type EvaluatedMember = z.infer<typeof EvaluatedMember>;

// ---- reading, writing, evaluating ------------------------------------------------------------

export function readMembersConfigs(configsPath: string): MembersConfigs {
  const text = fs.readFileSync(configsPath, 'utf8');
  if (text.length > MAX_EVALUATED_BYTES) throw new Error(`${configsPath} is larger than ${MAX_EVALUATED_BYTES} bytes`);
  return MembersConfigs.parse(JSON.parse(text));
}

/** Atomic: a temp file beside it, then rename. */
export function writeMembersConfigs(configsPath: string, configs: MembersConfigs): void {
  const checked = MembersConfigs.parse(configs);
  const temp = path.join(path.dirname(configsPath), `.${path.basename(configsPath)}.${process.pid}.tmp`);
  fs.writeFileSync(temp, JSON.stringify(checked, null, 2) + '\n', { mode: 0o600 });
  fs.renameSync(temp, configsPath);
}

/** `hiboss network remove CHECKOUT NAME` until that CLI verb is merged: the member leaves configs.json. */
export function removeMember(configsPath: string, name: string): void {
  const configs = readMembersConfigs(configsPath);
  const network = networkOf(configs);
  if (!(name in network.config.members)) throw new Error(`${name} is not a member of the network in ${configsPath}`);
  const { [name]: _removed, ...rest } = network.config.members;
  writeMembersConfigs(configsPath, { [network.name]: { ...network.config, members: rest } });
}

/** Admitting a member: its public identity joins configs.json. */
export function addMember(configsPath: string, name: string, member: Member): void {
  const configs = readMembersConfigs(configsPath);
  const network = networkOf(configs);
  if (name in network.config.members) throw new Error(`${name} is already a member of the network in ${configsPath}`);
  writeMembersConfigs(configsPath, { [network.name]: { ...network.config, members: { ...network.config.members, [name]: member } } });
}
