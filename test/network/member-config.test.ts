/**
 * The member data the network tests run on: the stand-in evaluation of
 * nix/lib/member-config.nix against its fixtures (test/fixtures/members), the
 * configs.json edits (remove, admit), and the texts the adapter writes into
 * the VMs (nftables ruleset, tinc, syncthing, hosts). The programs themselves
 * read these texts in test/network/e2e-members-*.test.ts.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { evaluatedMemberConfig } from '../harness/evaluate-member.js';
import { addMember, EvaluatedMember, readMembersConfigs, removeMember } from '../harness/member-config.js';
import { moduleLoadOrder } from '../harness/net-guest.js';
import { nftablesRuleset } from '../harness/nixos-firewall.js';
import { hostsFile, syncthingConfigXml, tincConf, tincHostFile } from '../harness/program-configs.js';

const t = suite('member configs: evaluation, edits, program texts');
const FIXTURES = path.resolve('test/fixtures/members');
const LAYERS = ['wireguard', 'yggdrasil', 'tinc'] as const;
const fixture = (name: string) => JSON.parse(fs.readFileSync(path.join(FIXTURES, name), 'utf8'));
const evaluatedFixture = (layer: string, member: string) => EvaluatedMember.parse(fixture(`${layer}-evaluated.json`)[member]);

let dir: string;
t.before.each(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'members-'));
});
t.after.each(() => fs.rmSync(dir, { recursive: true, force: true }));

for (const layer of LAYERS) {
  t(`${layer}: each member's evaluation is the fixture's`, async () => {
    const expected = fixture(`${layer}-evaluated.json`);
    for (const member of ['alice', 'bob', 'carol']) {
      const evaluated = await evaluatedMemberConfig(path.join(FIXTURES, `${layer}-configs.json`), member);
      assert.equal(evaluated, EvaluatedMember.parse(expected[member]), `${layer} ${member}`);
    }
  });
}

t('removing a member: gone from configs.json, and from the others evaluations; an unknown name changes nothing', async () => {
  const configs = path.join(dir, 'configs.json');
  fs.copyFileSync(path.join(FIXTURES, 'wireguard-configs.json'), configs);
  removeMember(configs, 'bob');
  assert.equal(Object.keys(readMembersConfigs(configs).lab!.members), ['alice', 'carol']);
  const alice = await evaluatedMemberConfig(configs, 'alice');
  assert.equal(alice.networking.wireguard!.interfaces.wg0!.peers.map((p) => p.allowedIPs), [['10.77.0.3/32']]);
  assert.equal(Object.keys(alice.services.syncthing!.settings.devices), ['carol']);
  const before = fs.readFileSync(configs, 'utf8');
  assert.throws(() => removeMember(configs, 'bob'), /bob is not a member/);
  assert.throws(() => addMember(configs, 'carol', { address: '10.77.0.9' }), /carol is already a member/);
  assert.is(fs.readFileSync(configs, 'utf8'), before);
  assert.equal(fs.readdirSync(dir), ['configs.json'], 'no temp file left behind');
});

t('a configs.json that breaks the schema is refused with the path of the problem', () => {
  const configs = path.join(dir, 'configs.json');
  const broken = fixture('yggdrasil-configs.json');
  broken.lab.members.bob.yggdrasil.publicKey = 'not hex';
  fs.writeFileSync(configs, JSON.stringify(broken));
  assert.throws(() => readMembersConfigs(configs), /lab.*members.*bob.*yggdrasil.*publicKey|publicKey/);
});

t("the firewall: default drop, NixOS's chains, per-interface ports, members-only extra rules", () => {
  const wg = nftablesRuleset(evaluatedFixture('wireguard', 'alice').networking.firewall);
  assert.match(wg, 'type filter hook input priority filter; policy drop;');
  assert.match(wg, 'ct state vmap { invalid : drop, established : accept, related : accept, new : jump input-allow');
  assert.match(wg, 'iifname { "lo" } accept');
  assert.match(wg, '    udp dport { 51820 } accept\n');
  assert.match(wg, '    iifname "wg0" tcp dport { 22000, 64738 } accept\n');
  assert.match(wg, 'log level info prefix "refused connection: "');
  const ygg = nftablesRuleset(evaluatedFixture('yggdrasil', 'alice').networking.firewall);
  assert.match(ygg, '    iifname "ygg0" ip6 saddr { 200:bbbb::2, 200:cccc::3 } tcp dport { 64738 } accept\n  }');
  assert.not.match(ygg, 'dport { 22000');
});

t('tinc: tinc.conf with the settings, a hosts file per member', () => {
  const network = evaluatedFixture('tinc', 'alice').services.tinc!.networks.lab!;
  assert.is(tincConf('lab', network), [
    'Name = alice', 'DeviceType = tun', 'Device = /dev/net/tun', 'Interface = tinc.lab', 'PrivateKeyFile = /etc/tinc/lab/rsa_key.priv',
    'ConnectTo = bob', 'ConnectTo = carol', '',
  ].join('\n'));
  const bob = tincHostFile(network.hostSettings.bob!);
  assert.ok(bob.startsWith('Address = 192.168.77.2 655\nSubnet = 10.77.0.2/32\n-----BEGIN RSA PUBLIC KEY-----\n'), bob);
});

t('syncthing: config.xml with the folder shared to the devices, their addresses, the options', () => {
  const xml = syncthingConfigXml(evaluatedFixture('wireguard', 'alice').services.syncthing!.settings, 35);
  assert.match(xml, '<configuration version="35">');
  assert.match(xml, '<folder id="docs" label="docs" path="/shared/docs"');
  assert.match(xml, '<device id="BBBBBBB-BBBBBBB-BBBBBBB-BBBBBBB-BBBBBBB-BBBBBBB-BBBBBBB-BBBBBBB" name="bob"');
  assert.match(xml, '<address>tcp://[10.77.0.2]:22000</address>');
  assert.match(xml, '<listenAddress>tcp://:22000</listenAddress>');
  assert.match(xml, '<globalAnnounceEnabled>false</globalAnnounceEnabled>');
  assert.match(syncthingConfigXml({ devices: {}, folders: { 'a&b': { path: '/x<y', devices: [] } }, options: {} }, 35), 'id="a&amp;b" label="a&amp;b" path="/x&lt;y"');
});

t('hosts: networking.hosts after localhost', () => {
  assert.is(hostsFile({ '10.77.0.2': ['bob'] }), '127.0.0.1 localhost\n::1 localhost\n10.77.0.2 bob\n');
});

t("the guest's modules load after what they depend on", () => {
  const dep = [
    'kernel/drivers/net/wireguard/wireguard.ko: kernel/lib/crypto/libchacha20poly1305.ko kernel/net/ipv4/udp_tunnel.ko kernel/lib/crypto/libchacha.ko',
    'kernel/lib/crypto/libchacha20poly1305.ko: kernel/lib/crypto/libchacha.ko',
    'kernel/net/ipv4/udp_tunnel.ko:',
    'kernel/lib/crypto/libchacha.ko:',
  ].join('\n');
  assert.equal(moduleLoadOrder(dep, ['wireguard']), ['libchacha', 'udp_tunnel', 'libchacha20poly1305', 'wireguard']);
  assert.throws(() => moduleLoadOrder(dep, ['nope']), /nope is not in modules.dep/);
});

t.run();
