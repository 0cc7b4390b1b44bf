/**
 * Members of a network, evaluated offline: nix/lib/member-config.nix
 * — the option values the network's module sets on a member's VM — read for
 * each layer: member A's peers, allowed keys, host files, firewall sources and
 * Syncthing devices are exactly the other current members; after a removal
 * (networks/members.ts, what `hiboss network remove` writes) the removed one
 * appears nowhere, after an admission the newcomer is there. And every wizard
 * config with 0, 1 and 3 members sets only options the real NixOS modules
 * declare, with values of their types (nix/upstream/check.nix).
 */
import fs from 'node:fs';
import path from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { checkConfigs, type ConfigsInput, type NetworkLayer } from '../../networks/configs-schema.js';
import { yggdrasilAddress, type JoinRequest } from '../../networks/join-request.js';
import { admitMember, removeMember } from '../../networks/members.js';
import { NIX_LIB, REPO, nixEval } from './nix-eval.js';

const t = suite('members: each layer connects members and only members');

type Json = any; // eslint-disable-line @typescript-eslint/no-explicit-any
const UPSTREAM = path.join(REPO, 'nix', 'upstream');

/** member-config.nix for `self` of `configs` (the JSON goes in as a string argument). */
function memberConfig(configs: unknown, self: string): Promise<Json> {
  return nixEval('{ lib, configs, self }: import (lib + "/member-config.nix") { configs = builtins.fromJSON configs; inherit self; }', {
    lib: NIX_LIB,
    configs: JSON.stringify(configs),
    self,
  });
}

const PEOPLE = ['alice', 'bob', 'carol'] as const;
const wgKey = (who: string) => `${who.padEnd(42, 'x')}A=`;
const yggKey = (i: number) => `${String(i).repeat(4)}${'0123456789abcdef'.repeat(4)}`.slice(0, 64);
const tincRsa = (who: string) => `-----BEGIN RSA PUBLIC KEY-----\n${`MIIBCgKCAQEA${who}`.padEnd(64, 'Q')}\n${'AAAB'.padEnd(40, 'z')}==\n-----END RSA PUBLIC KEY-----\n`;
const deviceId = (i: number) => `MFZWI3D-BONSGYC-YLTMRWG-C43ENR5-QXGZDMM-FZWI3DP-BONSGYY-LTMRWA${'ABCDEFG'[i]}`;
const nodeId = (i: number) => `89e92cee${i}${i}`;

function address(layer: NetworkLayer, i: number): string {
  switch (layer) {
    case 'yggdrasil':
      return yggdrasilAddress(yggKey(i));
    case 'wireguard':
      return `10.77.0.${i + 1}`;
    case 'tinc':
      return `10.78.0.${i + 1}`;
    case 'zerotier':
      return `10.147.17.${i + 1}`;
    default: {
      const never: never = layer;
      throw new Error(String(never));
    }
  }
}

/** alice (admin, serves mumble and git, dialable), bob (dialable), carol (behind NAT): one config on `layer`. */
function network(layer: NetworkLayer): ConfigsInput {
  const layerBlock: Record<NetworkLayer, object> = {
    yggdrasil: { peers: ['tls://bootstrap.example:443'] },
    wireguard: { address: '10.77.0.1/24' },
    tinc: { address: '10.78.0.1/24' },
    zerotier: { networkId: 'a8a2c3c10c1a68de' },
  };
  return {
    default: {
      networkLayer: layer,
      [layer]: layerBlock[layer],
      applications: {
        syncthing: { enable: true, sharedFolders: ['/shared/docs'] },
        mumbleServer: { enable: true },
        gitServer: { enable: true },
        mumbleClient: { enable: true, server: 'mumble.hiboss' },
      },
      members: Object.fromEntries(
        PEOPLE.map((who, i) => [
          who,
          {
            address: address(layer, i),
            admin: who === 'alice',
            ...(who === 'carol' ? {} : { endpoint: `${who}.example${who === 'bob' ? ':7000' : ''}` }),
            wireguard: { publicKey: wgKey(who) },
            yggdrasil: { publicKey: yggKey(i) },
            tinc: { rsaPublicKey: tincRsa(who) },
            zerotier: { nodeId: nodeId(i) },
            syncthing: { deviceId: deviceId(i) },
            ...(who === 'alice' ? { serves: ['mumble', 'git'] } : {}),
          },
        ]),
      ),
    },
  } as ConfigsInput;
}

const LAYERS: NetworkLayer[] = ['wireguard', 'yggdrasil', 'tinc', 'zerotier'];
const sorted = (values: Iterable<string>) => [...values].sort();

/** What alice's VM has of the others, per layer: the set the issue names for each. */
function peersSeenBy(layer: NetworkLayer, settings: Json): Record<string, string[]> {
  const seen: Record<string, string[]> = {};
  const syncthing = settings.services.syncthing.settings;
  seen.syncthingDevices = sorted(Object.keys(syncthing.devices));
  seen.folderDevices = sorted(syncthing.folders['/shared/docs'].devices);
  seen.hosts = sorted(Object.values(settings.networking.hosts as Record<string, string[]>).flat().filter((name) => !/^(mumble|git|cloud)\./.test(name)));
  switch (layer) {
    case 'wireguard':
      seen.peers = sorted(settings.networking.wireguard.interfaces['wg-hiboss'].peers.map((peer: Json) => peer.publicKey));
      break;
    case 'yggdrasil':
      seen.allowedKeys = sorted(settings.services.yggdrasil.settings.AllowedPublicKeys);
      seen.firewallSources = sorted(/saddr \{ ([^}]*) \}/.exec(settings.networking.firewall.extraInputRules)![1]!.split(', '));
      break;
    case 'tinc':
      seen.hostFiles = sorted(Object.keys(settings.services.tinc.networks.hiboss.hostSettings));
      break;
    case 'zerotier':
      seen.firewallSources = sorted(/saddr \{ ([^}]*) \}/.exec(settings.networking.firewall.extraInputRules)![1]!.split(', '));
      break;
    default: {
      const never: never = layer;
      throw new Error(String(never));
    }
  }
  return seen;
}

/** The same sets, as they must be when `others` are alice's fellow members. */
function expected(layer: NetworkLayer, others: Array<{ name: string; i: number }>): Record<string, string[]> {
  const names = sorted(others.map((o) => o.name));
  const want: Record<string, string[]> = {
    syncthingDevices: names,
    folderDevices: names,
    hosts: sorted(['alice', ...names].map((name) => `${name}.hiboss`)),
  };
  if (layer === 'wireguard') want.peers = sorted(others.map((o) => wgKey(o.name)));
  if (layer === 'yggdrasil') {
    want.allowedKeys = sorted(others.map((o) => yggKey(o.i)));
    want.firewallSources = sorted(others.map((o) => address(layer, o.i)));
  }
  if (layer === 'tinc') want.hostFiles = sorted(['alice', ...names]);
  if (layer === 'zerotier') want.firewallSources = sorted(others.map((o) => address(layer, o.i)));
  return want;
}

for (const layer of LAYERS) {
  t(`${layer}: alice has exactly bob and carol; after bob's removal only carol, and bob appears nowhere; after dave's admission, dave`, async () => {
    const configs = network(layer);
    checkConfigs(configs);
    const bob = { name: 'bob', i: 1 };
    const carol = { name: 'carol', i: 2 };
    assert.equal(peersSeenBy(layer, await memberConfig(configs, 'alice')), expected(layer, [bob, carol]));

    const { configs: without } = removeMember(configs, 'bob');
    const alice = await memberConfig(without, 'alice');
    assert.equal(peersSeenBy(layer, alice), expected(layer, [carol]));
    const text = JSON.stringify(alice);
    for (const trace of ['bob', wgKey('bob'), yggKey(1), address(layer, 1), deviceId(1), 'MIIBCgKCAQEAbob']) {
      assert.not.ok(text.includes(trace), `${trace} left in alice's config`);
    }

    const dave: JoinRequest = {
      v: 1,
      name: 'dave',
      wireguard: { publicKey: wgKey('dave') },
      yggdrasil: { publicKey: yggKey(3) },
      tinc: { rsaPublicKey: tincRsa('dave') },
      zerotier: { nodeId: nodeId(3) },
      syncthing: { deviceId: deviceId(3) },
      endpoint: 'dave.example:7001',
    };
    const admitted = admitMember(without, dave, layer === 'zerotier' ? { address: address(layer, 3) } : {});
    assert.is(admitted.member.address, address(layer, layer === 'yggdrasil' || layer === 'zerotier' ? 3 : 1), 'yggdrasil: the key\'s address; wireguard/tinc: the lowest free one');
    const withDave = await memberConfig(admitted.configs, 'alice');
    const daveSeen = { name: 'dave', i: 3 };
    assert.equal(peersSeenBy(layer, withDave), expected(layer, [carol, daveSeen]));
  });
}

t('wireguard: peers route their address alone, dial the endpoints they have, keep NAT mappings open', async () => {
  const s = await memberConfig(network('wireguard'), 'carol');
  const wg = s.networking.wireguard.interfaces['wg-hiboss'];
  assert.equal(wg.ips, ['10.77.0.3/24'], "carol's address with the config's prefix");
  assert.equal(wg.peers, [
    { name: 'alice', publicKey: wgKey('alice'), allowedIPs: ['10.77.0.1/32'], persistentKeepalive: 25, endpoint: 'alice.example:51820' },
    { name: 'bob', publicKey: wgKey('bob'), allowedIPs: ['10.77.0.2/32'], persistentKeepalive: 25, endpoint: 'bob.example:7000' },
  ]);
  assert.equal(s.networking.firewall.interfaces['wg-hiboss'], { allowedTCPPorts: [22000], allowedUDPPorts: [22000] }, 'alice serves mumble and git: carol opens Syncthing alone');
  assert.is(s.networking.nftables, undefined, 'wireguard: only members are on the interface, no source rules');
});

t('yggdrasil: bootstrap and member peers, listens for members only, service ports only from members', async () => {
  const s = await memberConfig(network('yggdrasil'), 'alice');
  const ygg = s.services.yggdrasil.settings;
  assert.equal(ygg.Peers, ['tls://bootstrap.example:443', 'tls://bob.example:7000']);
  assert.equal(ygg.Listen, ['tls://[::]:9001']);
  assert.equal(ygg.MulticastInterfaces, []);
  assert.is(ygg.IfName, 'ygg0');
  assert.equal(s.networking.firewall.allowedTCPPorts, [9001], "yggdrasil's own port on the underlay");
  assert.equal(s.networking.firewall.interfaces.ygg0, { allowedTCPPorts: [], allowedUDPPorts: [] });
  assert.equal(s.networking.nftables, { enable: true });
  const [b, c] = [address('yggdrasil', 1), address('yggdrasil', 2)];
  assert.is(
    s.networking.firewall.extraInputRules,
    `iifname "ygg0" ip6 saddr { ${b}, ${c} } tcp dport { 22000, 64738, 3000 } accept\niifname "ygg0" ip6 saddr { ${b}, ${c} } udp dport { 22000, 64738 } accept`,
  );
  // carol has no endpoint: she dials, she does not listen.
  const carol = await memberConfig(network('yggdrasil'), 'carol');
  assert.equal(carol.services.yggdrasil.settings.Listen, []);
  assert.equal(carol.services.yggdrasil.settings.Peers, ['tls://bootstrap.example:443', 'tls://alice.example:9001', 'tls://bob.example:7000']);
});

t('tinc: a host file per member with its RSA key and subnet, ConnectTo the dialable ones', async () => {
  const s = await memberConfig(network('tinc'), 'carol');
  const tinc = s.services.tinc.networks.hiboss;
  assert.is(tinc.name, 'carol');
  assert.equal(tinc.settings.ConnectTo, ['alice', 'bob']);
  assert.equal(tinc.hostSettings.alice, { addresses: [{ address: 'alice.example' }], subnets: [{ address: '10.78.0.1', prefixLength: 32 }], rsaPublicKey: tincRsa('alice') });
  assert.equal(tinc.hostSettings.bob.addresses, [{ address: 'bob.example', port: 7000 }]);
  assert.equal(tinc.hostSettings.carol, { subnets: [{ address: '10.78.0.3', prefixLength: 32 }] });
  assert.equal(s.networking.interfaces['tinc.hiboss'].ipv4.addresses, [{ address: '10.78.0.3', prefixLength: 24 }]);
});

t('names, services and apps: static hosts, the server runs on the member serving it, Syncthing dials members, Forgejo closed', async () => {
  const alice = await memberConfig(network('wireguard'), 'alice');
  const bob = await memberConfig(network('wireguard'), 'bob');
  for (const s of [alice, bob]) {
    assert.equal(s.networking.hosts, {
      '10.77.0.1': ['alice.hiboss', 'mumble.hiboss', 'git.hiboss'],
      '10.77.0.2': ['bob.hiboss'],
      '10.77.0.3': ['carol.hiboss'],
    });
  }
  assert.is(alice.services.murmur.enable, true);
  assert.is(bob.services.murmur, undefined, 'bob does not serve mumble: no murmur on his VM');
  assert.is(alice.services.forgejo.settings.server.ROOT_URL, 'http://git.hiboss:3000/');
  assert.is(alice.services.forgejo.settings.service.DISABLE_REGISTRATION, true);
  assert.is(alice.networking.hostName, 'alice');
  assert.equal(bob.services.syncthing.settings.devices, {
    alice: { id: deviceId(0), addresses: ['tcp://10.77.0.1:22000'] },
    carol: { id: deviceId(2), addresses: ['tcp://10.77.0.3:22000'] },
  });
  assert.is(bob.services.syncthing.overrideDevices, true, 'a removed member is removed from Syncthing too');
  // Nextcloud: trusted as its member's names and address; SERVICE.hiboss too when the domain is another.
  const cloud = network('yggdrasil') as Json;
  cloud.default.applications.nextcloud = { enable: true };
  cloud.default.members.alice.serves = ['cloud'];
  cloud.default.domain = 'acme';
  const withCloud = await memberConfig(cloud, 'alice');
  assert.is(withCloud.services.nextcloud.hostName, 'cloud.acme');
  assert.equal(withCloud.services.nextcloud.settings.trusted_domains, ['alice.acme', 'cloud.acme', 'cloud.hiboss', `[${address('yggdrasil', 0)}]`]);
  assert.equal(withCloud.networking.hosts[address('yggdrasil', 0)], ['alice.acme', 'cloud.acme', 'cloud.hiboss']);
});

t('lib.generateNixosModules: a module per config (no member) and per member, which knows itself and the network', async () => {
  const modules = (await nixEval(
    `{ lib, configs }: builtins.mapAttrs (_: m: { inherit (m.hiboss) name self; members = builtins.attrNames m.hiboss.networkMembers; })
      ((import lib { lib = { mkDefault = x: x; }; hibossModule = "/dev/null"; }).generateNixosModules (builtins.fromJSON configs))`,
    { lib: NIX_LIB, configs: JSON.stringify(network('tinc')) },
  )) as Json;
  assert.equal(modules, {
    default: { name: 'default', self: null, members: ['alice', 'bob', 'carol'] },
    alice: { name: 'default', self: 'alice', members: ['alice', 'bob', 'carol'] },
    bob: { name: 'default', self: 'bob', members: ['alice', 'bob', 'carol'] },
    carol: { name: 'default', self: 'carol', members: ['alice', 'bob', 'carol'] },
  });
});

t('every wizard config with 0, 1 and 3 members sets only declared options, with values of their types', async () => {
  const counted = (await nixEval(
    `{ dir }: map (count: let configs = import (dir + "/wizard-members.nix") { inherit count; }; in {
        configs = builtins.length (builtins.attrNames configs);
        members = builtins.length (builtins.attrNames (builtins.head (builtins.attrValues configs)).members);
        problems = import (dir + "/check.nix") { inherit configs; };
      }) [ 0 1 3 ]`,
    { dir: UPSTREAM },
  )) as Array<{ configs: number; members: number; problems: string[] }>;
  assert.equal(counted.map((c) => c.members), [0, 1, 3]);
  for (const { configs, problems } of counted) {
    assert.ok(configs > 150, `${configs} configs`);
    assert.equal(problems, []);
  }
});

t('the member settings use options real NixOS modules declare (recorded facts)', () => {
  const facts = [
    ...JSON.parse(fs.readFileSync(path.join(UPSTREAM, 'options.json'), 'utf8')).options,
    ...JSON.parse(fs.readFileSync(path.join(UPSTREAM, 'options-members.json'), 'utf8')).options,
  ] as Array<{ name: string; type: string; declaredIn: string[] }>;
  const fact = (name: string) => facts.find((f) => f.name === name);
  const real: Array<[string, string, string]> = [
    ['networking.hosts', 'nixos/modules/config/networking.nix', 'attribute set of list of string'],
    ['networking.nftables.enable', 'nixos/modules/services/networking/nftables.nix', 'boolean'],
    ['networking.firewall.extraInputRules', 'nixos/modules/services/networking/firewall-nftables.nix', 'strings concatenated with "\\n"'],
    ['networking.wireguard.interfaces.<name>.peers.*.persistentKeepalive', 'nixos/modules/services/networking/wireguard.nix', 'null or signed integer'],
    ['networking.wireguard.interfaces.<name>.peers.*.name', 'nixos/modules/services/networking/wireguard.nix', 'string'],
    ['services.tinc.networks.<name>.hostSettings.<name>.rsaPublicKey', 'nixos/modules/services/networking/tinc.nix', 'string'],
    ['services.nextcloud.settings.trusted_domains', 'nixos/modules/services/web-apps/nextcloud.nix', 'list of string'],
    ['services.syncthing.settings.devices', 'nixos/modules/services/networking/syncthing.nix', 'attribute set of (JSON value)'],
  ];
  for (const [name, file, type] of real) {
    assert.ok(fact(name), `${name} is recorded`);
    assert.equal(fact(name)!.declaredIn, [file], name);
    assert.is(fact(name)!.type, type, name);
  }
});

t('the check sees members: a member setting of the wrong type fails', async () => {
  const problems = (await nixEval(
    `{ dir }: import (dir + "/check.nix") { configs = import (dir + "/wizard-members.nix") { count = 1; }; extra = { networking.hosts."10.0.0.1" = "alice"; }; }`,
    { dir: UPSTREAM },
  )) as string[];
  assert.ok(problems.length > 0 && problems.every((p) => /networking\.hosts\.10\.0\.0\.1: expected a list/.test(p)), problems[0]);
});

t("the README's example network (the seed's configs.json with two members) is valid and connects them", async () => {
  const readme = fs.readFileSync(path.join(REPO, 'README.md'), 'utf8');
  const block = /<!-- members-example -->\n```json\n([\s\S]*?)\n```/.exec(readme)?.[1];
  assert.ok(block, 'the README has the example');
  const configs = JSON.parse(block!) as Json;
  const { members, ...seedPart } = configs.default;
  const seed = JSON.parse(fs.readFileSync(path.join(REPO, 'nix', 'template', 'configs.json'), 'utf8')).default;
  assert.equal({ ...seedPart, applications: { syncthing: seedPart.applications.syncthing } }, seed, "the seed's config, plus Mumble");
  assert.equal(Object.keys(members), ['alice', 'bob']);
  checkConfigs(configs);
  for (const [self, other] of [['alice', 'bob'], ['bob', 'alice']] as const) {
    const s = await memberConfig(configs, self);
    assert.equal(s.services.yggdrasil.settings.AllowedPublicKeys, [members[other].yggdrasil.publicKey]);
    assert.equal(Object.keys(s.services.syncthing.settings.devices), [other]);
    assert.equal(s.networking.hosts[members.alice.address], ['alice.hiboss', 'mumble.hiboss'], 'the seed\'s mumble.hiboss resolves');
    assert.match(s.networking.firewall.extraInputRules, new RegExp(`ip6 saddr \\{ ${members[other].address} \\}`));
  }
  assert.equal((await memberConfig(configs, 'bob')).services.yggdrasil.settings.Peers, ['tls://alice.example.org:9001'], 'bob dials alice');
  // The addresses are the keys' (yggdrasil derives one from the other).
  for (const name of ['alice', 'bob']) assert.is(yggdrasilAddress(members[name].yggdrasil.publicKey), members[name].address);
});

t.run();
