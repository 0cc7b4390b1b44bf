/**
 * Admitting and removing members: configs.json in, configs.json out. Works on
 * the file's own JSON (what the admin wrote stays as written, defaults are not
 * spelled out), then checks the whole result with the configs schema, so a
 * change either yields a valid configs.json or an error saying what is wrong
 * (MembersError) — and the caller writes nothing.
 */
import {
  ConfigName,
  ConfigsError,
  checkConfigs,
  isYggdrasilAddress,
  MEMBER_SERVICES,
  PATTERNS,
  wholeMatch,
  type MemberInput,
  type MemberService,
  type NetworkLayer,
} from './configs-schema.js';
import { canonicalAddress, yggdrasilAddress, type JoinRequest } from './join-request.js';

export class MembersError extends Error {
  override name = 'MembersError';
}

type Json = Record<string, unknown>;
type RawConfigs = Record<string, Json>;

export interface AdmitOptions {
  /** The member's name (default: the name in the request). */
  name?: string;
  /** The config the member runs (default: the only config). */
  config?: string;
  /** Its address on the network layer (default: yggdrasil's from its key; wireguard/tinc IPv4: the next free one). */
  address?: string;
  admin?: boolean;
  serves?: MemberService[];
}

export interface Admitted {
  configs: RawConfigs;
  name: string;
  config: string;
  member: MemberInput;
}

const NAME = wholeMatch(PATTERNS.name);

function rawConfigs(configs: unknown): RawConfigs {
  checkConfigs(configs); // the file as it is must be valid before it is changed
  return structuredClone(configs) as RawConfigs;
}

const layerOf = (entry: Json): NetworkLayer => (entry.networkLayer as NetworkLayer | undefined) ?? 'yggdrasil';
const membersOf = (entry: Json): Record<string, Json> => (entry.members as Record<string, Json> | undefined) ?? {};

/** Every member of every config: name -> { config, address, layer }. */
function everyMember(configs: RawConfigs): Map<string, { config: string; address: string; layer: NetworkLayer; member: Json }> {
  const all = new Map<string, { config: string; address: string; layer: NetworkLayer; member: Json }>();
  for (const [config, entry] of Object.entries(configs)) {
    for (const [name, member] of Object.entries(membersOf(entry))) all.set(name, { config, address: String(member.address), layer: layerOf(entry), member });
  }
  return all;
}

function pickConfig(configs: RawConfigs, wanted: string | undefined): string {
  const names = Object.keys(configs);
  if (wanted !== undefined) {
    if (!Object.hasOwn(configs, wanted)) throw new MembersError(`no config "${wanted}" in configs.json (configs: ${names.join(', ')})`);
    return wanted;
  }
  if (names.length === 1) return names[0]!;
  throw new MembersError(`configs.json has several configs (${names.join(', ')}): say which one the member runs with --config`);
}

/** The layer's host address for a new member: IPv4 subnets only, lowest free host. */
function nextFreeAddress(cidr: string | undefined, taken: Set<string>): string | null {
  const match = cidr === undefined ? null : /^(\d+)\.(\d+)\.(\d+)\.(\d+)\/(\d+)$/.exec(cidr);
  if (!match) return null;
  const prefix = Number(match[5]);
  if (prefix < 8 || prefix > 30) return null;
  const base = (match.slice(1, 5).map(Number).reduce((acc, octet) => acc * 256 + octet, 0) >>> 0) & (0xffffffff << (32 - prefix));
  const size = 2 ** (32 - prefix);
  for (let host = 1; host < size - 1; host++) {
    const value = (base + host) >>> 0;
    const text = [24, 16, 8, 0].map((shift) => (value >>> shift) & 0xff).join('.');
    if (!taken.has(text)) return text;
  }
  return null;
}

function sameKey(a: Json, b: Partial<MemberInput>, layer: NetworkLayer): boolean {
  const key = (m: Json | Partial<MemberInput>): string | undefined => {
    const block = (m as Record<string, Record<string, string> | null | undefined>)[layer];
    if (!block) return undefined;
    return block.publicKey ?? block.nodeId ?? block.ed25519PublicKey ?? block.rsaPublicKey;
  };
  const k = key(a);
  return k !== undefined && k === key(b);
}

/** Adds the requesting member to configs.json (returns the new content; the input is not changed). */
export function admitMember(configs: unknown, request: JoinRequest, options: AdmitOptions = {}): Admitted {
  const raw = rawConfigs(configs);
  const name = options.name ?? request.name;
  if (!NAME.test(name)) throw new MembersError(`member name "${name}": names are 1–32 of A–Z a–z 0–9 _ -`);
  const config = pickConfig(raw, options.config);
  const entry = raw[config]!;
  const layer = layerOf(entry);
  const all = everyMember(raw);
  if (Object.hasOwn(raw, name)) throw new MembersError(`"${name}" is the name of a config; admit the member under another name (--name)`);
  const existing = all.get(name);
  if (existing) throw new MembersError(`"${name}" is already a member (in ${existing.config}); admit the newcomer under another name (--name), or remove the old member first`);

  const member: Partial<MemberInput> = {};
  if (request.wireguard) member.wireguard = { publicKey: request.wireguard.publicKey };
  if (request.yggdrasil) member.yggdrasil = { publicKey: request.yggdrasil.publicKey };
  if (request.tinc && (request.tinc.rsaPublicKey || request.tinc.ed25519PublicKey)) {
    member.tinc = {
      ...(request.tinc.rsaPublicKey ? { rsaPublicKey: request.tinc.rsaPublicKey } : {}),
      ...(request.tinc.ed25519PublicKey ? { ed25519PublicKey: request.tinc.ed25519PublicKey } : {}),
    };
  }
  if (request.zerotier) member.zerotier = { nodeId: request.zerotier.nodeId };
  if (request.syncthing) member.syncthing = { deviceId: request.syncthing.deviceId };
  if (request.endpoint) member.endpoint = request.endpoint;
  if (options.admin) member.admin = true;
  if (options.serves?.length) {
    for (const service of options.serves) {
      if (!(MEMBER_SERVICES as readonly string[]).includes(service)) throw new MembersError(`unknown service "${service}" (services: ${MEMBER_SERVICES.join(', ')})`);
    }
    member.serves = [...options.serves];
  }

  const needs: Record<NetworkLayer, boolean> = {
    wireguard: member.wireguard !== undefined,
    yggdrasil: member.yggdrasil !== undefined,
    tinc: member.tinc !== undefined,
    zerotier: true,
  };
  if (!needs[layer]) throw new MembersError(`the request has no ${layer} key, and config ${config} uses ${layer}: was it made in a VM of this network?`);

  for (const [other, known] of all) {
    if (known.layer === layer && sameKey(known.member, member, layer)) throw new MembersError(`this ${layer} key is already member ${other}'s`);
  }

  const address = chooseAddress(layer, entry, request, options.address, all);
  const sameAddress = [...all].find(([, known]) => known.layer === layer && canonicalAddress(known.address) === canonicalAddress(address));
  if (sameAddress) throw new MembersError(`address ${address} is already member ${sameAddress[0]}'s`);

  const admitted: MemberInput = { address, ...member };
  entry.members = { ...membersOf(entry), [name]: admitted };
  check(raw);
  return { configs: raw, name, config, member: admitted };
}

function chooseAddress(layer: NetworkLayer, entry: Json, request: JoinRequest, given: string | undefined, all: ReturnType<typeof everyMember>): string {
  if (given !== undefined && !wholeMatch(PATTERNS.ipAddress).test(given)) throw new MembersError(`address "${given}" is not an IP address`);
  switch (layer) {
    case 'yggdrasil': {
      // The address is the key's: one that does not match it would route nowhere.
      const derived = yggdrasilAddress(request.yggdrasil!.publicKey);
      if (request.yggdrasil!.address !== undefined && canonicalAddress(request.yggdrasil!.address) !== derived) {
        throw new MembersError(`the request's yggdrasil address ${request.yggdrasil!.address} is not its key's (${derived})`);
      }
      if (given !== undefined && canonicalAddress(given) !== derived) throw new MembersError(`address ${given} is not this yggdrasil key's (${derived})`);
      if (!isYggdrasilAddress(derived)) throw new MembersError(`${derived} is not in 200::/7`);
      return derived;
    }
    case 'zerotier':
      if (given === undefined) throw new MembersError("a zerotier member's address is the one its controller assigned: give it with --address");
      return given;
    case 'wireguard':
    case 'tinc': {
      if (given !== undefined) return given;
      const block = entry[layer] as { address?: string } | undefined;
      const taken = new Set([...all.values()].filter((known) => known.layer === layer).map((known) => known.address));
      const free = nextFreeAddress(block?.address, taken);
      if (free === null) throw new MembersError(`no free address to pick in ${layer}.address ${block?.address ?? '(unset)'}: give one with --address`);
      return free;
    }
    default: {
      const never: never = layer;
      throw new MembersError(`unknown layer ${String(never)}`);
    }
  }
}

/** Removes member `name` from configs.json (returns the new content). */
export function removeMember(configs: unknown, name: string): { configs: RawConfigs; config: string } {
  const raw = rawConfigs(configs);
  if (!ConfigName.safeParse(name).success) throw new MembersError(`member name "${name}": names are 1–32 of A–Z a–z 0–9 _ -`);
  const found = everyMember(raw).get(name);
  if (!found) {
    const names = [...everyMember(raw).keys()];
    throw new MembersError(`no member "${name}" in configs.json (members: ${names.length ? names.join(', ') : 'none'})`);
  }
  const entry = raw[found.config]!;
  const rest = { ...membersOf(entry) };
  delete rest[name];
  if (Object.keys(rest).length === 0) delete entry.members;
  else entry.members = rest;
  check(raw);
  return { configs: raw, config: found.config };
}

function check(configs: RawConfigs): void {
  try {
    checkConfigs(configs);
  } catch (error) {
    if (error instanceof ConfigsError) throw new MembersError(`the result would not be a valid configs.json:\n  ${error.problems.join('\n  ')}`);
    throw error;
  }
}
