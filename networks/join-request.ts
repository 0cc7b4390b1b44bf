/**
 * A member's public identity: what its VM publishes at first boot (the guest
 * file, read through the guest agent) and the one-line join request the member
 * sends the network's admin:
 *
 *   hiboss-join-request:BASE64URL({"v":1,"name":"bob","wireguard":{"publicKey":"…"},…})
 *
 * Only public keys travel; the private ones never leave the VM. One schema for
 * the guest file and the request (the request adds what the member states:
 * the endpoint others can dial).
 */
import { z } from 'zod';
import { ConfigName, PATTERNS, wholeMatch } from './configs-schema.js';

export const JOIN_REQUEST_PREFIX = 'hiboss-join-request:';
/** A request is one line to paste into a chat: never longer than this. */
export const MAX_JOIN_REQUEST_LENGTH = 8192;
/** Where the VM publishes its identity (modules/hiboss.nix hiboss-identity.service writes it). */
export const GUEST_IDENTITY_PATH = '/var/lib/hiboss/identity.json';
export const MAX_GUEST_IDENTITY_BYTES = 8192;

function text(pattern: string, maxLength: number, what: string) {
  return z
    .string()
    .max(maxLength, `${what}: at most ${maxLength} characters`)
    .regex(wholeMatch(pattern), { error: (issue) => `${what}: "${String(issue.input).slice(0, 80)}" is not of the right shape` });
}

/** The VM's public identity, per network layer and app; absent: that program does not run in it. */
export const Identity = z.strictObject({
  /** The name the VM suggests (its host name); the admin may admit it under another. */
  name: ConfigName,
  wireguard: z.strictObject({ publicKey: text(PATTERNS.wireguardKey, 44, 'wireguard.publicKey') }).optional(),
  yggdrasil: z
    .strictObject({
      publicKey: text(PATTERNS.yggdrasilKey, 64, 'yggdrasil.publicKey'),
      /** Its 200::/7 address (derived from the key; checked against it). */
      address: text(PATTERNS.ipAddress, 64, 'yggdrasil.address').optional(),
    })
    .optional(),
  tinc: z
    .strictObject({
      rsaPublicKey: text(PATTERNS.tincRsaKey, 1500, 'tinc.rsaPublicKey').optional(),
      ed25519PublicKey: text(PATTERNS.ed25519TincKey, 43, 'tinc.ed25519PublicKey').optional(),
    })
    .optional(),
  zerotier: z.strictObject({ nodeId: text(PATTERNS.zerotierNodeId, 10, 'zerotier.nodeId') }).optional(),
  syncthing: z.strictObject({ deviceId: text(PATTERNS.syncthingDeviceId, 63, 'syncthing.deviceId') }).optional(),
});
export type Identity = z.infer<typeof Identity>;

/** The guest file: the identity, versioned. */
export const GuestIdentity = Identity.extend({ v: z.literal(1) });
export type GuestIdentity = z.infer<typeof GuestIdentity>;

/** The join request: the identity and where others can dial the member (host:port), if they can. */
export const JoinRequest = GuestIdentity.extend({ endpoint: text(PATTERNS.hostPort, 256, 'endpoint').optional() });
export type JoinRequest = z.infer<typeof JoinRequest>;

export class JoinRequestError extends Error {
  override name = 'JoinRequestError';
}

function describe(error: z.ZodError): string {
  return error.issues
    .map((issue) => {
      if (issue.code === 'unrecognized_keys') return `unknown key ${issue.keys.join(', ')}`;
      const at = issue.path.map(String).join('.');
      return issue.message.includes(':') || !at ? issue.message : `${at}: ${issue.message}`;
    })
    .join('; ');
}

export function encodeJoinRequest(request: JoinRequest): string {
  const checked = JoinRequest.parse(request);
  return JOIN_REQUEST_PREFIX + Buffer.from(JSON.stringify(checked), 'utf8').toString('base64url');
}

/** Parses a pasted request (surrounding white space allowed); throws JoinRequestError saying what is wrong. */
export function parseJoinRequest(line: string): JoinRequest {
  const trimmed = line.trim();
  if (trimmed.length > MAX_JOIN_REQUEST_LENGTH) throw new JoinRequestError(`a join request is at most ${MAX_JOIN_REQUEST_LENGTH} characters, this one has ${trimmed.length}`);
  if (!trimmed.startsWith(JOIN_REQUEST_PREFIX)) throw new JoinRequestError(`not a join request: it starts with "${JOIN_REQUEST_PREFIX}" (hiboss network identity VM prints one)`);
  const body = trimmed.slice(JOIN_REQUEST_PREFIX.length);
  if (!/^[A-Za-z0-9_-]+$/.test(body)) throw new JoinRequestError('malformed join request: the part after the prefix is not base64url (was it cut or wrapped?)');
  let raw: unknown;
  try {
    raw = JSON.parse(Buffer.from(body, 'base64url').toString('utf8'));
  } catch {
    throw new JoinRequestError('malformed join request: it does not decode to JSON (was it cut short?)');
  }
  const result = JoinRequest.safeParse(raw);
  if (!result.success) throw new JoinRequestError(`malformed join request: ${describe(result.error)}`);
  return result.data;
}

/** Parses the guest's identity file (already size-bounded by the reader). */
export function parseGuestIdentity(text: string): GuestIdentity {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw new JoinRequestError(`${GUEST_IDENTITY_PATH} in the VM is not JSON`);
  }
  const result = GuestIdentity.safeParse(raw);
  if (!result.success) throw new JoinRequestError(`${GUEST_IDENTITY_PATH} in the VM: ${describe(result.error)}`);
  return result.data;
}

/**
 * A yggdrasil node's address from its public key (yggdrasil's
 * address.AddrForKey): 0x02, the count of leading one bits of the inverted
 * key, then the bits after the first zero, packed into the remaining 14 bytes.
 */
export function yggdrasilAddress(publicKeyHex: string): string {
  if (!/^[0-9a-f]{64}$/.test(publicKeyHex)) throw new JoinRequestError('a yggdrasil public key is 64 hex digits');
  const key = Buffer.from(publicKeyHex, 'hex').map((byte) => ~byte & 0xff);
  const address = Buffer.alloc(16);
  address[0] = 0x02;
  let ones = 0;
  let done = false;
  let bits = 0;
  let nBits = 0;
  let at = 2;
  for (let index = 0; index < 8 * key.length && at < 16; index++) {
    const bit = (key[index >> 3]! >> (7 - (index & 7))) & 1;
    if (!done && bit === 1) {
      ones++;
      continue;
    }
    if (!done) {
      done = true;
      continue;
    }
    bits = ((bits << 1) | bit) & 0xff;
    if (++nBits === 8) {
      address[at++] = bits;
      nBits = 0;
    }
  }
  address[1] = ones;
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(address.readUInt16BE(i).toString(16));
  return compressIPv6(groups);
}

/** RFC 5952 text: the longest run (≥ 2) of zero groups becomes "::". */
function compressIPv6(groups: string[]): string {
  let best = { start: -1, length: 0 };
  for (let i = 0; i < groups.length; ) {
    if (groups[i] !== '0') {
      i++;
      continue;
    }
    let j = i;
    while (j < groups.length && groups[j] === '0') j++;
    if (j - i > best.length && j - i >= 2) best = { start: i, length: j - i };
    i = j;
  }
  if (best.start < 0) return groups.join(':');
  return `${groups.slice(0, best.start).join(':')}::${groups.slice(best.start + best.length).join(':')}`;
}

/** The same address in one canonical text, for comparisons (expands "::"). */
export function canonicalAddress(address: string): string {
  if (!address.includes(':')) return address;
  const [head, tail] = address.toLowerCase().split('::') as [string, string | undefined];
  const left = head ? head.split(':') : [];
  const right = tail === undefined ? [] : tail ? tail.split(':') : [];
  const groups = tail === undefined ? left : [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right];
  return compressIPv6(groups.map((group) => parseInt(group, 16).toString(16)));
}
