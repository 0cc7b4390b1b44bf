/**
 * What the network tests read of a member's evaluated NixOS config
 * (nix/lib/member-config.nix, evaluate-member.ts): the options the adapter
 * (net-adapter.ts) turns into running programs. Loose: the evaluation sets far
 * more (the desktop, users, murmur, forgejo …), which the adapter leaves alone,
 * and the parts it reads may carry fields it does not need (a peer's `name`).
 * Bounded like everything read from a program.
 *
 * And the network's configs.json in a test checkout, written and changed only
 * through hiboss's own code: networks/write-network.ts (the schema, atomic
 * writes), networks/members.ts (admitting), the CLI (`hiboss network remove`).
 */
import { execa } from 'execa';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import type { MemberInput } from '../../networks/configs-schema.js';
import type { JoinRequest } from '../../networks/join-request.js';
import { admitMember } from '../../networks/members.js';
import { readConfigsFile, writeConfigsFile } from '../../networks/write-network.js';

/** The evaluation's JSON is small; a runaway one is an error, not a memory hog. */
export const MAX_EVALUATED_BYTES = 1024 * 1024;
const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

const Ports = z.array(z.number().int().min(1).max(65535)).max(64);
const FirewallPorts = z.looseObject({ allowedTCPPorts: Ports.optional(), allowedUDPPorts: Ports.optional() });
const Text = (max: number) => z.string().max(max);

const WireguardInterface = z.looseObject({
  ips: z.array(Text(64)).max(16),
  listenPort: z.number().int().min(1).max(65535).optional(),
  privateKeyFile: Text(256).optional(),
  generatePrivateKeyFile: z.boolean().optional(),
  peers: z.array(z.looseObject({
    publicKey: Text(64),
    allowedIPs: z.array(Text(64)).max(64),
    endpoint: Text(256).optional(),
    persistentKeepalive: z.number().int().min(0).max(65535).optional(),
  })).max(256),
});

const YggdrasilSettings = z.looseObject({
  Peers: z.array(Text(256)).max(256).optional(),
  Listen: z.array(Text(256)).max(64).optional(),
  AllowedPublicKeys: z.array(z.string().regex(/^[0-9a-f]{64}$/)).max(256).optional(),
  MulticastInterfaces: z.array(z.unknown()).max(16).optional(),
  IfName: z.string().regex(/^[A-Za-z0-9._-]{1,15}$/).optional(),
});

const TincNetwork = z.looseObject({
  name: Text(32),
  hostSettings: z.record(Text(32), z.looseObject({
    addresses: z.array(z.looseObject({ address: Text(256), port: z.number().int().min(1).max(65535).optional() })).max(16).default([]),
    subnets: z.array(z.looseObject({ address: Text(64), prefixLength: z.number().int().min(0).max(128).optional() })).max(64).default([]),
    /** Absent for the member itself: its key is made in its VM, and its host file gets it there. */
    rsaPublicKey: Text(4096).optional(),
  })),
  /** tinc.conf settings beyond Name (ConnectTo …): scalars, or lists written as one line each. */
  settings: z.record(z.string().regex(/^[A-Za-z]{1,64}$/), z.union([Text(256), z.number(), z.array(Text(256)).max(256)])).optional(),
});

const SyncthingSettings = z.looseObject({
  devices: z.record(Text(32), z.looseObject({ id: Text(63), addresses: z.array(Text(256)).max(16).default([]) })).default({}),
  folders: z.record(Text(256), z.looseObject({ path: Text(256), id: Text(64).optional(), devices: z.array(Text(32)).max(256) })).default({}),
  options: z.record(z.string().regex(/^[A-Za-z][A-Za-z0-9]{0,63}$/), z.union([Text(256), z.number(), z.boolean(), z.array(Text(256)).max(16)])).default({}),
});

export const EvaluatedMember = z.looseObject({
  networking: z.looseObject({
    wireguard: z.looseObject({ interfaces: z.record(z.string().regex(/^[A-Za-z0-9._-]{1,15}$/), WireguardInterface) }).optional(),
    firewall: z.looseObject({
      enable: z.boolean().optional(),
      allowedTCPPorts: Ports.optional(),
      allowedUDPPorts: Ports.optional(),
      interfaces: z.record(z.string().regex(/^[A-Za-z0-9._-]{1,15}$/), FirewallPorts).optional(),
      extraInputRules: Text(16_384).optional(),
    }).optional(),
    nftables: z.looseObject({ enable: z.boolean() }).optional(),
    interfaces: z.record(z.string().regex(/^[A-Za-z0-9._-]{1,15}$/), z.looseObject({
      ipv4: z.looseObject({ addresses: z.array(z.looseObject({ address: Text(64), prefixLength: z.number().int().min(0).max(32) })).max(16) }),
    })).optional(),
    hosts: z.record(Text(64), z.array(Text(253)).max(16)).optional(),
  }),
  services: z.looseObject({
    yggdrasil: z.looseObject({ settings: YggdrasilSettings }).optional(),
    tinc: z.looseObject({ networks: z.record(z.string().regex(/^[A-Za-z0-9_-]{1,16}$/), TincNetwork) }).optional(),
    syncthing: z.looseObject({ settings: SyncthingSettings }).optional(),
  }).default({}),
});
export type EvaluatedMember = z.infer<typeof EvaluatedMember>;

/** Writes the checkout's configs.json: one network config `name` and its members (checked by hiboss's schema). */
export async function writeNetworkConfigs(checkout: string, name: string, network: Record<string, unknown>, members: Record<string, MemberInput>): Promise<void> {
  await writeConfigsFile(checkout, { [name]: { ...network, members } });
}

/** `hiboss network remove CHECKOUT NAME`, the real CLI. */
export async function removeMember(checkout: string, name: string): Promise<void> {
  await execa(path.join(REPO, 'bin', 'hiboss'), ['network', 'remove', checkout, name]);
}

/** Admits a member from its join request (networks/members.ts, what `hiboss network admit` does), at `address`. */
export async function admit(checkout: string, request: JoinRequest, options: { address: string; serves?: Array<'mumble' | 'git' | 'cloud'> }): Promise<void> {
  const admitted = admitMember(readConfigsFile(checkout), request, options);
  await writeConfigsFile(checkout, admitted.configs);
}
