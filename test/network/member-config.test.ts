/**
 * From configs.json to the programs' own files, without VMs: a network
 * checkout written with hiboss's schema, each member evaluated by the real
 * nix/lib/member-config.nix, and the texts the adapter writes from that
 * (nftables ruleset, tinc, syncthing, hosts); the member edits through the real
 * CLI and networks/members.ts. The programs themselves read these texts in
 * test/network/e2e-members-*.test.ts.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { MemberInput } from '../../networks/configs-schema.js';
import { evaluatedMemberConfig } from '../harness/evaluate-member.js';
import { admit, removeMember, writeNetworkConfigs } from '../harness/member-config.js';
import { moduleLoadOrder } from '../harness/net-guest.js';
import { nftablesRuleset } from '../harness/nixos-firewall.js';
import { hostsFile, syncthingConfigXml, tincConf, tincHostFile } from '../harness/program-configs.js';

const t = suite('member configs: evaluation, edits, program texts');
const wgKey = (c: string) => `${c.repeat(42)}A=`;
const device = (c: string) => Array(8).fill(c.repeat(7)).join('-');
const rsa = (c: string) => `-----BEGIN RSA PUBLIC KEY-----\nMIGJAoGBAL${c.repeat(60)}\n${c.repeat(40)}AgMBAAE=\n-----END RSA PUBLIC KEY-----\n`;
const APPS = { syncthing: { enable: true, sharedFolders: ['/shared/docs'] }, mumbleServer: { enable: true }, gitServer: { enable: true } };

function members(layer: 'wireguard' | 'tinc'): Record<string, MemberInput> {
  const port = layer === 'tinc' ? 655 : 51820;
  const one = (c: string, n: number, serves: MemberInput['serves']): MemberInput => ({
    address: `10.77.0.${n}`, endpoint: `192.168.77.${n}:${port}`, serves,
    ...(layer === 'wireguard' ? { wireguard: { publicKey: wgKey(c) } } : { tinc: { rsaPublicKey: rsa(c) } }),
    syncthing: { deviceId: device(c) },
  });
  return { alice: one('A', 1, ['mumble']), bob: one('B', 2, ['git']) };
}

let dir: string;
t.before.each(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'members-'));
});
t.after.each(() => fs.rmSync(dir, { recursive: true, force: true }));
const configs = () => path.join(dir, 'configs.json');

t("wireguard: the firewall opens alice's services on the VPN only, the listen port on the LAN; syncthing's folder is shared with bob", async () => {
  await writeNetworkConfigs(dir, 'lab', { networkLayer: 'wireguard', wireguard: { address: '10.77.0.1/24' }, applications: APPS }, members('wireguard'));
  const alice = await evaluatedMemberConfig(configs(), 'alice');
  const rules = nftablesRuleset(alice.networking.firewall);
  assert.match(rules, 'type filter hook input priority filter; policy drop;');
  assert.match(rules, 'ct state vmap { invalid : drop, established : accept, related : accept, new : jump input-allow');
  assert.match(rules, 'iifname { "lo" } accept');
  assert.match(rules, '    udp dport { 51820 } accept\n');
  assert.match(rules, '    iifname "wg-hiboss" tcp dport { 22000, 64738 } accept\n');
  assert.match(rules, 'log level info prefix "refused connection: "');
  const xml = syncthingConfigXml(alice.services.syncthing!.settings, 35);
  assert.match(xml, '<configuration version="35">');
  assert.match(xml, 'path="/shared/docs"');
  assert.match(xml, `<device id="${device('B')}" name="bob"`);
  assert.match(xml, '<listenAddress>tcp://10.77.0.1:22000</listenAddress>');
  assert.match(xml, '<globalAnnounceEnabled>false</globalAnnounceEnabled>');
  assert.match(xml, '<reconnectionIntervalS>10</reconnectionIntervalS>', 'a member not connected is redialed every 10 s');
  assert.match(hostsFile(alice.networking.hosts), '10.77.0.2 bob.hiboss git.hiboss\n');
});

t('removing (the CLI) and admitting a member: gone from, then in, the others evaluations', async () => {
  await writeNetworkConfigs(dir, 'lab', { networkLayer: 'wireguard', wireguard: { address: '10.77.0.1/24' }, applications: APPS }, members('wireguard'));
  await removeMember(dir, 'bob');
  let alice = await evaluatedMemberConfig(configs(), 'alice');
  assert.equal(alice.networking.wireguard!.interfaces['wg-hiboss']!.peers, []);
  await admit(dir, { v: 1, name: 'carol', wireguard: { publicKey: wgKey('C') }, endpoint: '192.168.77.4:51820' }, { address: '10.77.0.4' });
  alice = await evaluatedMemberConfig(configs(), 'alice');
  assert.equal(alice.networking.wireguard!.interfaces['wg-hiboss']!.peers.map((p) => p.publicKey), [wgKey('C')]);
  const before = fs.readFileSync(configs(), 'utf8');
  await assert.not.ok(await removeMember(dir, 'bob').then(() => true, () => false), 'removing an unknown member fails');
  assert.is(fs.readFileSync(configs(), 'utf8'), before, 'and changes nothing');
});

t("tinc: tinc.conf connects to the others, a hosts file per member (alice's own key is added in her VM)", async () => {
  await writeNetworkConfigs(dir, 'lab', { networkLayer: 'tinc', tinc: { address: '10.77.0.1/24' }, applications: APPS }, members('tinc'));
  const network = (await evaluatedMemberConfig(configs(), 'alice')).services.tinc!.networks.hiboss!;
  assert.is(tincConf('hiboss', network), [
    'Name = alice', 'DeviceType = tun', 'Device = /dev/net/tun', 'Interface = tinc.hiboss', 'PrivateKeyFile = /etc/tinc/hiboss/rsa_key.priv',
    'ConnectTo = bob', '',
  ].join('\n'));
  assert.ok(tincHostFile(network.hostSettings.bob!).startsWith('Address = 192.168.77.2 655\nSubnet = 10.77.0.2/32\n-----BEGIN RSA PUBLIC KEY-----\n'));
  assert.is(tincHostFile(network.hostSettings.alice!), 'Subnet = 10.77.0.1/32\n');
});

t('syncthing: names and paths are escaped in config.xml', () => {
  assert.match(syncthingConfigXml({ devices: {}, folders: { 'a&b': { path: '/x<y', devices: [] } }, options: {} }, 35), 'id="a&amp;b" label="a&amp;b" path="/x&lt;y"');
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
