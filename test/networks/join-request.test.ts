/**
 * Join requests and admission as data (networks/join-request.ts,
 * networks/members.ts): the one-line request round-trips; a malformed one, a
 * key or address of the wrong shape, a duplicate name, key or address and an
 * unknown member are refused with a specific message; a yggdrasil member's
 * address is its key's, as Debian's real yggdrasil derives it.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { checkConfigs, type ConfigsInput } from '../../networks/configs-schema.js';
import {
  canonicalAddress,
  encodeJoinRequest,
  JOIN_REQUEST_PREFIX,
  JoinRequestError,
  parseGuestIdentity,
  parseJoinRequest,
  yggdrasilAddress,
  type JoinRequest,
} from '../../networks/join-request.js';
import { admitMember, MembersError, removeMember } from '../../networks/members.js';

const t = suite('join requests, admit and remove (data)');

const WG = (c: string) => `${c.repeat(42)}A=`;
const bob: JoinRequest = { v: 1, name: 'bob', wireguard: { publicKey: WG('b') }, syncthing: { deviceId: 'MFZWI3D-BONSGYC-YLTMRWG-C43ENR5-QXGZDMM-FZWI3DP-BONSGYY-LTMRWAB' } };
const wireguardNetwork = (): ConfigsInput => ({
  default: {
    networkLayer: 'wireguard',
    wireguard: { address: '10.77.0.1/24' },
    members: { alice: { address: '10.77.0.1', admin: true, endpoint: 'alice.example:51820', wireguard: { publicKey: WG('a') } } },
  },
});

function throwsWith(fn: () => unknown, kind: new (...args: never[]) => Error, pattern: RegExp): void {
  try {
    fn();
  } catch (error) {
    assert.instance(error, kind);
    assert.match((error as Error).message, pattern);
    return;
  }
  assert.unreachable(`expected ${kind.name} matching ${pattern}`);
}

t('a request is one pasteable line that round-trips', () => {
  const line = encodeJoinRequest({ ...bob, endpoint: 'bob.example:51820' });
  assert.ok(line.startsWith(JOIN_REQUEST_PREFIX));
  assert.match(line, /^[A-Za-z0-9:_-]+$/, 'no spaces, no line breaks, nothing a chat would mangle');
  assert.equal(parseJoinRequest(`  ${line}\n`), { ...bob, endpoint: 'bob.example:51820' });
});

t('malformed requests are refused, saying what is wrong', () => {
  const encode = (value: unknown) => JOIN_REQUEST_PREFIX + Buffer.from(JSON.stringify(value)).toString('base64url');
  throwsWith(() => parseJoinRequest('hello'), JoinRequestError, /not a join request/);
  throwsWith(() => parseJoinRequest(`${JOIN_REQUEST_PREFIX}abc def`), JoinRequestError, /not base64url/);
  throwsWith(() => parseJoinRequest(encodeJoinRequest(bob).slice(0, 40)), JoinRequestError, /does not decode to JSON|malformed/);
  throwsWith(() => parseJoinRequest(encode({ ...bob, wireguard: { publicKey: 'short=' } })), JoinRequestError, /wireguard\.publicKey: "short=" is not of the right shape/);
  throwsWith(() => parseJoinRequest(encode({ ...bob, yggdrasil: { publicKey: 'XYZ' } })), JoinRequestError, /yggdrasil\.publicKey/);
  throwsWith(() => parseJoinRequest(encode({ ...bob, v: 2 })), JoinRequestError, /malformed join request/);
  throwsWith(() => parseJoinRequest(encode({ ...bob, privateKey: 'x' })), JoinRequestError, /unknown key privateKey/);
  throwsWith(() => parseJoinRequest(JOIN_REQUEST_PREFIX + 'A'.repeat(9000)), JoinRequestError, /at most 8192 characters/);
  throwsWith(() => parseGuestIdentity('{"v":1,"name":"bad name"}'), JoinRequestError, /identity\.json in the VM/);
});

t('admit: the member is added with the next free address; the input is not changed', () => {
  const configs = wireguardNetwork();
  const before = JSON.stringify(configs);
  const admitted = admitMember(configs, { ...bob, endpoint: 'bob.example:51820' }, { serves: [] });
  assert.is(JSON.stringify(configs), before);
  assert.is(admitted.name, 'bob');
  assert.equal(admitted.member, { address: '10.77.0.2', wireguard: { publicKey: WG('b') }, syncthing: bob.syncthing, endpoint: 'bob.example:51820' });
  assert.ok(checkConfigs(admitted.configs).default!.members.bob);
  const carol = admitMember(admitted.configs, { v: 1, name: 'carol', wireguard: { publicKey: WG('c') } }, { admin: true });
  assert.is(carol.member.address, '10.77.0.3');
  assert.is(carol.member.admin, true);
});

t('admit refuses duplicates, wrong shapes and requests from another layer — naming the problem', () => {
  const configs = wireguardNetwork();
  throwsWith(() => admitMember(configs, { ...bob, name: 'alice' }), MembersError, /"alice" is already a member/);
  throwsWith(() => admitMember(configs, bob, { name: 'default' }), MembersError, /name of a config/);
  throwsWith(() => admitMember(configs, { ...bob, wireguard: { publicKey: WG('a') } }), MembersError, /already member alice's/);
  throwsWith(() => admitMember(configs, bob, { address: '10.77.0.1' }), MembersError, /address 10\.77\.0\.1 is already member alice's/);
  throwsWith(() => admitMember(configs, bob, { address: 'ten' }), MembersError, /"ten" is not an IP address/);
  throwsWith(() => admitMember(configs, bob, { name: 'b b' }), MembersError, /names are 1–32/);
  throwsWith(() => admitMember(configs, { v: 1, name: 'eve', yggdrasil: { publicKey: 'a'.repeat(64) } }), MembersError, /no wireguard key/);
  throwsWith(() => admitMember(configs, bob, { config: 'other' }), MembersError, /no config "other"/);
  throwsWith(() => admitMember(configs, bob, { serves: ['git'] }), MembersError, /serves git, but applications\.gitServer is not enabled/);
  const two = { ...wireguardNetwork(), laptop: { networkLayer: 'wireguard', wireguard: { address: '10.77.0.9/24' } } } as ConfigsInput;
  throwsWith(() => admitMember(two, bob), MembersError, /several configs \(default, laptop\)/);
  const full = { default: { networkLayer: 'wireguard', wireguard: { address: '10.77.0.1/30' }, members: { a: { address: '10.77.0.1', wireguard: { publicKey: WG('a') } }, c: { address: '10.77.0.2', wireguard: { publicKey: WG('c') } } } } } as ConfigsInput;
  throwsWith(() => admitMember(full, bob), MembersError, /no free address/);
  throwsWith(() => admitMember({ default: { networkLayer: 'zerotier', zerotier: { networkId: 'a8a2c3c10c1a68de' } } } as ConfigsInput, bob), MembersError, /controller assigned: give it with --address/);
});

t('remove: the member is gone; an unknown one is refused', () => {
  const configs = admitMember(wireguardNetwork(), bob).configs;
  const { configs: without } = removeMember(configs, 'bob');
  assert.equal(Object.keys((without.default as { members: object }).members), ['alice']);
  const { configs: nobody } = removeMember(without, 'alice');
  assert.not.ok('members' in nobody.default!, 'the last one removed: no members key left');
  throwsWith(() => removeMember(configs, 'mallory'), MembersError, /no member "mallory" in configs\.json \(members: alice, bob\)/);
  throwsWith(() => removeMember({ default: {} }, 'bob'), MembersError, /members: none/);
});

t('configs.json itself: names, addresses and identities are checked across configs', () => {
  const problems = (raw: unknown) => {
    try {
      checkConfigs(raw);
      return [];
    } catch (error) {
      return (error as { problems: string[] }).problems;
    }
  };
  const yggKey = 'c'.repeat(64);
  assert.equal(problems({ default: { members: { bob: { address: '10.0.0.1', yggdrasil: { publicKey: yggKey } } } } }), ['default.members.bob.address: a yggdrasil address is in 200::/7']);
  assert.equal(problems({ default: { networkLayer: 'tinc', tinc: { address: '10.78.0.1/24' }, members: { bob: { address: '10.78.0.2' } } } }), [
    'default.members.bob.tinc: rsaPublicKey or ed25519PublicKey required when networkLayer is tinc',
  ]);
  const member = { address: '10.77.0.2', wireguard: { publicKey: WG('b') } };
  const wg = { networkLayer: 'wireguard', wireguard: { address: '10.77.0.1/24' } };
  assert.equal(problems({ a: { ...wg, members: { bob: member } }, b: { ...wg, members: { bob: { ...member, address: '10.77.0.3' } } } }), ['b.members.bob: is also a member in a']);
  assert.equal(problems({ a: { ...wg, members: { bob: member, carol: { ...member, wireguard: { publicKey: WG('c') } } } } }), ['a.members.carol.address: is also the address of bob']);
  assert.equal(problems({ a: { ...wg, members: { 'b b': member } } }), ['a.members.b b: names are 1–32 of A–Z a–z 0–9 _ -']);
  const git = { ...wg, applications: { gitServer: { enable: true } } };
  assert.equal(problems({ a: { ...git, members: { bob: { ...member, serves: ['git'] }, carol: { address: '10.77.0.3', wireguard: { publicKey: WG('c') }, serves: ['git'] } } } }), [
    'a.members.carol.serves: git is served by bob already',
  ]);
});

t("a yggdrasil member's address is its key's, as the real yggdrasil derives it", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hiboss-ygg-'));
  try {
    for (let i = 0; i < 4; i++) {
      const conf = path.join(dir, `${i}.json`);
      fs.writeFileSync(conf, execFileSync('yggdrasil', ['-genconf', '-json'], { encoding: 'utf8' }));
      const publicKey = (JSON.parse(fs.readFileSync(conf, 'utf8')) as { PublicKey: string }).PublicKey;
      const real = execFileSync('yggdrasil', ['-useconffile', conf, '-address'], { encoding: 'utf8' }).trim();
      assert.is(yggdrasilAddress(publicKey), real, publicKey);
      assert.is(canonicalAddress(real), real);
      const admitted = admitMember({ default: {} }, { v: 1, name: `m${i}`, yggdrasil: { publicKey, address: real } });
      assert.is(admitted.member.address, real);
      throwsWith(() => admitMember({ default: {} }, { v: 1, name: 'x', yggdrasil: { publicKey, address: '201::1' } }), MembersError, /is not its key's/);
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  assert.is(canonicalAddress('FD00:0:0:0::1'), 'fd00::1');
});

t.run();
