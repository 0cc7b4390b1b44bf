/**
 * The flake's member checks (nix/tests/members.nix, checks.x86_64-linux.members-LAYER),
 * evaluated as far as CI can without nixpkgs: the arguments of
 * pkgs.testers.runNixOSTest (stubbed to return them) — the three nodes, their
 * modules from lib.generateNixosModules, alice's generation without bob (its
 * network forced to the configs.json without bob), and
 * the test script — and the network each node runs, through member-config.nix:
 * alice's and bob's peers are each other, eve is none of theirs, and without
 * bob alice has no peer left. Building and running the VMs needs nixpkgs.
 */
import path from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { NIX_LIB, REPO, nixEval } from './nix-eval.js';

const t = suite('flake checks: members-LAYER NixOS tests');
type Json = any; // eslint-disable-line @typescript-eslint/no-explicit-any
const TESTS = path.join(REPO, 'nix', 'tests');

/** runNixOSTest's arguments with a stand-in pkgs/lib (nothing built, mkIf kept as data). */
function testArgs(layer: string): Promise<Json> {
  return nixEval(
    `{ tests, lib, layer }:
      let
        stubLib = {
          mkIf = condition: content: { _type = "if"; inherit condition content; };
          mkForce = content: { _type = "override"; priority = 50; inherit content; };
          hasInfix = infix: s: builtins.match ".*\${infix}.*" s != null;
        };
        pkgs = { lib = stubLib; testers.runNixOSTest = args: args; writeText = name: _: "/nix/store/stub-\${name}"; netcat = "netcat"; iputils = "iputils"; };
        hibossLib = import lib { lib = { mkDefault = x: x; }; hibossModule = "hiboss-module"; };
        args = import (tests + "/members.nix") { inherit pkgs hibossLib layer; };
        hiboss = node: (builtins.head node.imports).hiboss;
        view = h: { inherit (h) name self; members = builtins.attrNames h.networkMembers; };
      in {
        inherit (args) name testScript;
        nodes = builtins.attrNames args.nodes;
        alice = view (hiboss args.nodes.alice);
        bob = view (hiboss args.nodes.bob);
        aliceWithoutBob = builtins.attrNames args.nodes.alice.specialisation.without-bob.content.configuration.hiboss.networkMembers.content;
        eveImports = builtins.length args.nodes.eve.imports;
      }`,
    { tests: TESTS, lib: NIX_LIB, layer },
  );
}

function memberConfig(layer: string, self: string, without: string[] = []): Promise<Json> {
  return nixEval(
    `{ tests, lib, layer, self, without }: import (lib + "/member-config.nix") {
        configs = import (tests + "/members-network.nix") { inherit layer; without = builtins.fromJSON without; }; inherit self; }`,
    { tests: TESTS, lib: NIX_LIB, layer, self, without: JSON.stringify(without) },
  );
}

for (const layer of ['wireguard', 'tinc', 'yggdrasil']) {
  t(`members-${layer}: three nodes, alice and bob members, alice's generation without bob; the script checks reach, eve, removal`, async () => {
    const args = await testArgs(layer);
    assert.is(args.name, `hiboss-members-${layer}`);
    assert.equal(args.nodes, ['alice', 'bob', 'eve']);
    assert.equal(args.alice, { name: 'default', self: 'alice', members: ['alice', 'bob'] });
    assert.equal(args.bob, { name: 'default', self: 'bob', members: ['alice', 'bob'] });
    assert.equal(args.aliceWithoutBob, ['alice'], "alice's next generation: the network without bob");
    for (const step of ["members reach each other's VPN address", "eve reaches no service port of alice's", "after bob's removal, bob reaches nothing"]) {
      assert.ok(args.testScript.includes(step), step);
    }
  });
}

t('the nodes’ networks: alice and bob peer with each other only; without bob, alice has none', async () => {
  const wgPeers = async (self: string, without: string[] = []) =>
    (await memberConfig('wireguard', self, without)).networking.wireguard.interfaces['wg-hiboss'].peers.map((p: Json) => p.name);
  assert.equal(await wgPeers('alice'), ['bob']);
  assert.equal(await wgPeers('bob'), ['alice']);
  assert.equal(await wgPeers('alice', ['bob']), []);
  const ygg = await memberConfig('yggdrasil', 'alice');
  assert.equal(ygg.services.yggdrasil.settings.Peers, ['tls://eve:9001', 'tls://bob:9001'], 'eve is a public peer alice dials');
  assert.match(ygg.networking.firewall.extraInputRules, /^iifname "ygg0" ip6 saddr \{ [0-9a-f:]+ \} tcp dport \{ 3000 \} accept$/);
  const alone = await memberConfig('yggdrasil', 'alice', ['bob']);
  assert.is(alone.networking.firewall.extraInputRules, undefined, 'no member left: no source opened');
  assert.equal(alone.services.yggdrasil.settings.Listen, [], 'and it no longer listens');
  const tinc = await memberConfig('tinc', 'bob');
  assert.equal(Object.keys(tinc.services.tinc.networks.hiboss.hostSettings).sort(), ['alice', 'bob']);
  assert.match(tinc.services.tinc.networks.hiboss.hostSettings.alice.rsaPublicKey, /^-----BEGIN RSA PUBLIC KEY-----\n/);
});

t.run();
