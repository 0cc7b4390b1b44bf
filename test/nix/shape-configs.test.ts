/**
 * lib.generateNixosModules' data side, evaluated offline: configs.json
 * fixtures -> shape-configs.nix -> service-settings.nix, asserting the NixOS
 * service settings that come out (no nixpkgs needed).
 */
import fs from 'node:fs';
import path from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { parseConfigs } from '../../networks/configs-schema.js';
import { FIXTURES, NIX_LIB, NixEvalError, nixEval, shapeConfigsFile } from './nix-eval.js';
import { errorMessage } from '../../shared/error-message.js';

const t = suite('shape-configs.nix and service-settings.nix');

type Json = any; // eslint-disable-line @typescript-eslint/no-explicit-any

/** { NAME = service-settings output } for a configs.json fixture. */
async function serviceSettings(fixture: string): Promise<Json> {
  return nixEval(
    `{ file, lib }:
      builtins.mapAttrs
        (name: entry: import (lib + "/service-settings.nix") { } { inherit name; inherit (entry) hiboss; })
        (import (lib + "/shape-configs.nix") (builtins.fromJSON (builtins.readFile file)))`,
    { file: path.join(FIXTURES, fixture), lib: NIX_LIB },
  );
}

t("the seed's example: yggdrasil, syncthing sharing /shared/docs, ports open to members only (none yet)", async () => {
  const { default: vm } = await serviceSettings('seed.json');
  const s = vm.settings;
  assert.is(vm.interface, 'ygg0');
  assert.is(s.services.yggdrasil.enable, true);
  assert.is(s.services.yggdrasil.settings.IfName, 'ygg0');
  assert.is(s.services.syncthing.enable, true);
  assert.equal(s.services.syncthing.settings.folders['/shared/docs'], { path: '/shared/docs', id: 'hiboss-shared-docs', devices: [] });
  assert.is(s.services.syncthing.user, 'member', 'the member owns what syncs');
  assert.equal(s.systemd.tmpfiles.rules, ['d /shared/docs 0770 member users -']);
  assert.is(s.systemd.services['hiboss-desktop'].serviceConfig.ExecStart, '/run/current-system/sw/bin/sway --config /etc/hiboss/sway.conf', 'desktop on by default');
  assert.is(s.services.syncthing.openDefaultPorts, false);
  assert.is(s.services.syncthing.settings.options.globalAnnounceEnabled, false);
  // Yggdrasil routes for the whole mesh: nothing opens on ygg0 for every source, and with no members no source rule.
  assert.equal(s.networking.firewall.interfaces.ygg0, { allowedTCPPorts: [], allowedUDPPorts: [] });
  assert.equal(s.networking.nftables, { enable: true });
  assert.equal(s.networking.firewall.extraInputRules, {}, 'no members, no sources');
  assert.equal(s.networking.firewall.allowedTCPPorts, [], 'nothing opened on every interface');
  assert.equal(s.networking.firewall.allowedUDPPorts, []);
  // Nothing else runs: disabled services come out as empty (mkIf false) settings.
  for (const off of ['murmur', 'forgejo', 'nextcloud', 'openssh', 'zerotierone']) assert.equal(s.services[off], {}, off);
  assert.equal(s.services.tinc.networks, {});
  assert.equal(s.networking.wireguard.interfaces, {});
  assert.equal(s.users.users.member.extraGroups, ['wheel'], 'adminMode local: the member administers');
});

t('wireguard with peers, shared admin, every application bound to the wireguard address', async () => {
  const { alice } = await serviceSettings('full.json');
  const s = alice.settings;
  assert.is(alice.interface, 'wg-hiboss');
  assert.is(alice.listenAddress, '10.77.0.2');
  const wg = s.networking.wireguard.interfaces['wg-hiboss'];
  assert.equal(wg.ips, ['10.77.0.2/24']);
  assert.is(wg.listenPort, 51821);
  assert.is(wg.privateKeyFile, '/var/lib/hiboss/wireguard.key');
  assert.is(wg.peers.length, 2);
  assert.is(wg.peers[0].endpoint, 'vpn.acme.example:51820');
  assert.not.ok('endpoint' in wg.peers[1], 'no endpoint for a peer without one');
  assert.equal(s.networking.firewall.allowedUDPPorts, [51821], "only WireGuard's own port is global");
  assert.equal(s.networking.firewall.interfaces['wg-hiboss'], {
    allowedTCPPorts: [22, 22000, 64738, 3000, 80],
    allowedUDPPorts: [22000, 64738],
  });
  assert.equal(s.services.syncthing.settings.options.listenAddresses, ['tcp://10.77.0.2:22000', 'quic://10.77.0.2:22000']);
  assert.is(s.services.murmur.hostName, '10.77.0.2', "murmur's real bind option");
  assert.is(s.services.nextcloud.hostName, '10.77.0.2');
  assert.not.ok('settings' in s.services.nextcloud, 'the nextcloud module trusts its hostName itself');
  assert.is(s.services.forgejo.settings.server.ROOT_URL, 'http://10.77.0.2:3000/');
  assert.not.ok('package' in s.services.nextcloud, "nextcloud's package is left to its module");
  assert.is(s.services.forgejo.settings.server.HTTP_ADDR, '10.77.0.2');
  assert.is(s.services.nextcloud.config.adminpassFile, '/var/lib/hiboss/nextcloud-admin-pass');
  assert.equal(s.services.nginx.defaultListenAddresses, ['10.77.0.2']);
  assert.equal(s.services.openssh.listenAddresses, [{ addr: '10.77.0.2', port: 22 }]);
  assert.is(s.services.openssh.settings.PasswordAuthentication, false);
  assert.is(s.users.users.root.openssh.authorizedKeys.keys.length, 1);
  assert.equal(s.users.users.member.extraGroups, ['wheel'], 'adminMode shared: the member administers too');
  assert.match(s.environment.etc['hiboss/sway.conf'].text, /^exec mumble 'mumble:\/\/10\.77\.0\.1:64738'$/m);
  assert.match(s.environment.etc['hiboss/services.html'].text, /http:\/\/10\.77\.0\.2:3000\//);
});

t('tinc, zerotier and remote-admin yggdrasil', async () => {
  const { bob_vm: bob, carol, dave } = await serviceSettings('full.json');
  const tinc = bob.settings.services.tinc.networks.hiboss;
  assert.is(tinc.name, 'bob_vm');
  assert.is(bob.settings.networking.hostName, 'bob-vm');
  assert.equal(tinc.hostSettings.hub.addresses, [{ address: 'hub.example', port: 655 }, { address: '2001:db8::1' }]);
  assert.equal(tinc.hostSettings.hub.subnets, [{ address: '10.78.0.1', prefixLength: 32 }]);
  assert.equal(bob.settings.networking.interfaces['tinc.hiboss'].ipv4.addresses, [{ address: '10.78.0.2', prefixLength: 24 }]);
  assert.equal(bob.settings.networking.firewall.interfaces['tinc.hiboss'].allowedTCPPorts, [3000]);

  assert.equal(carol.settings.services.zerotierone.joinNetworks, ['a8a2c3c10c1a68de']);
  assert.match(carol.settings.systemd.services.zerotierone.preStart, /a8a2c3c10c1a68de=zthiboss/);
  assert.equal(carol.settings.networking.firewall.interfaces.zthiboss.allowedTCPPorts, [], 'zerotier: members-only sources, none listed');
  assert.is(carol.settings.services.murmur.hostName, '', 'address unknown: every address, firewall-scoped');

  assert.equal(dave.settings.services.yggdrasil.settings.Peers, ['tls://peer.acme.example:443']);
  assert.equal(dave.settings.users.users.member.extraGroups, [], 'adminMode remote: the member has no root');
  assert.equal(dave.settings.services.nginx.defaultListenAddresses, ['[200:1234::1]']);
  assert.equal(dave.settings.networking.firewall.interfaces.ygg0.allowedTCPPorts, []);
});

t('defaults: the zod schema and shape-configs.nix fill in the same values', async () => {
  for (const fixture of ['seed.json', 'full.json']) {
    const file = path.join(FIXTURES, fixture);
    const fromNix = (await shapeConfigsFile(file)) as Record<string, Json>;
    const fromZod = parseConfigs(fs.readFileSync(file, 'utf8'));
    assert.equal(Object.keys(fromNix).sort(), Object.keys(fromZod).sort(), fixture);
    for (const [name, machine] of Object.entries(fromZod)) {
      const { system, ...hiboss } = machine;
      assert.is(fromNix[name].system, system, `${fixture} ${name}.system`);
      assert.equal(fromNix[name].hiboss, hiboss, `${fixture} ${name}`);
    }
  }
});

// Each invalid fixture: the first problem Nix reports, which the zod schema must report too.
const INVALID: Record<string, string> = {
  'invalid-layer.json': 'default.networkLayer: expected one of yggdrasil, wireguard, zerotier, tinc',
  'invalid-unknown-key.json': 'default.applications.syncthing.shared: unknown key',
  'invalid-remote-without-keys.json': 'default.adminKeys: adminMode remote needs at least one admin SSH key',
  'invalid-wireguard-without-address.json': 'default.wireguard.address: required when networkLayer is wireguard',
  'invalid-stray-layer.json': 'default.wireguard: set, but networkLayer is yggdrasil',
  'invalid-relative-folder.json': 'default.applications.syncthing.sharedFolders.0: "docs" is not valid here',
  'invalid-key-in-store.json': 'default.wireguard.privateKeyFile: must not be in the Nix store (it is world-readable)',
  'invalid-mumble-without-server.json': 'default.applications.mumbleClient.server: required when the Mumble client is enabled',
  'invalid-name.json': 'my network: config names are 1–32 of A–Z a–z 0–9 _ -',
  'invalid-system.json': 'default.system: expected one of x86_64-linux, aarch64-linux',
  'invalid-type.json': 'default.applications.syncthing.enable: Invalid input: expected boolean, received string',
  'invalid-member-address.json': 'default.members.bob.address: a yggdrasil address is in 200::/7',
  'invalid-member-twice.json': 'b.members.bob: is also a member in a',
  'invalid-member-served-twice.json': 'default.members.carol.serves: git is served by bob already',
  'invalid-member-key.json': 'default.members.bob.wireguard.publicKey: "not-a-key" is not valid here',
};

t('invalid configs.json: Nix and the zod schema reject it with the same path and message', async () => {
  const fixtures = fs.readdirSync(FIXTURES).filter((name) => name.startsWith('invalid-'));
  assert.equal(fixtures.sort(), Object.keys(INVALID).sort(), 'every invalid fixture has an expectation');
  for (const [fixture, expected] of Object.entries(INVALID)) {
    const file = path.join(FIXTURES, fixture);
    const nixError = await shapeConfigsFile(file).then(
      () => undefined,
      (error: unknown) => error,
    );
    assert.instance(nixError, NixEvalError, `${fixture}: Nix accepted it`);
    assert.is((nixError as NixEvalError).configsProblem, expected, fixture);
    try {
      parseConfigs(fs.readFileSync(file, 'utf8'));
      assert.unreachable(`${fixture}: zod accepted it`);
    } catch (error) {
      assert.ok(((error as { problems?: string[] }).problems ?? []).includes(expected), `${fixture}: zod said ${errorMessage(error)}`);
    }
  }
});

t.run();
