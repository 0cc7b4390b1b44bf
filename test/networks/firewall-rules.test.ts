/**
 * The members-only source rules (networking.firewall.extraInputRules on
 * yggdrasil and zerotier, from nix/lib/member-config.nix) are nftables the real
 * `nft` accepts, placed as NixOS's nftables firewall places them: in the
 * input-allow chain of its `inet nixos-fw` table. Checked with `nft -c` (no
 * rule is loaded) in a network namespace of the test's own.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { NIX_LIB, nixEval } from '../nix/nix-eval.js';

const t = suite('members-only firewall rules, checked by the real nft');
const WG = (c: string) => `${c.repeat(42)}A=`;

function rulesFor(configs: unknown, self: string): Promise<string> {
  return nixEval('{ lib, configs, self }: (import (lib + "/member-config.nix") { configs = builtins.fromJSON configs; inherit self; }).networking.firewall.extraInputRules', {
    lib: NIX_LIB,
    configs: JSON.stringify(configs),
    self,
  }) as Promise<string>;
}

/** `nft -c` on the rules inside NixOS's table skeleton: exit code and message. */
function nftCheck(rules: string): { code: number; stderr: string } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hiboss-nft-'));
  try {
    const file = path.join(dir, 'ruleset.nft');
    fs.writeFileSync(file, `table inet nixos-fw {\n  chain input-allow {\n${rules}\n  }\n}\n`);
    const run = spawnSync('unshare', ['-n', 'nft', '-c', '-f', file], { encoding: 'utf8', env: { PATH: `${process.env.PATH}:/usr/sbin:/sbin` } });
    return { code: run.status ?? -1, stderr: run.stderr };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

const apps = { syncthing: { enable: true, sharedFolders: ['/shared/docs'] }, mumbleServer: { enable: true }, gitServer: { enable: true } };

t('yggdrasil: ip6 sources, TCP and UDP service ports', async () => {
  const configs = {
    default: {
      applications: apps,
      members: {
        alice: { address: '201:5eb5:2ab3:e975:7d9f:af27:37bd:ae64', yggdrasil: { publicKey: 'a'.repeat(64) } },
        bob: { address: '200:b5ad:f271:4079:66be:73cc:31c6:5f70', yggdrasil: { publicKey: 'b'.repeat(64) } },
        carol: { address: '300::3', yggdrasil: { publicKey: 'c'.repeat(64) } },
      },
    },
  };
  const rules = await rulesFor(configs, 'alice');
  assert.is(rules.split('\n').length, 2);
  const check = nftCheck(rules);
  assert.is(check.code, 0, check.stderr);
});

t('zerotier: IPv4 and IPv6 members in their own rules', async () => {
  const configs = {
    default: {
      networkLayer: 'zerotier',
      zerotier: { networkId: 'a8a2c3c10c1a68de' },
      applications: apps,
      members: {
        alice: { address: '10.147.17.1', zerotier: { nodeId: '89e92ceee1' } },
        bob: { address: '10.147.17.2' },
        carol: { address: 'fd00:7a::3' },
      },
    },
  };
  const rules = await rulesFor(configs, 'alice');
  assert.match(rules, /ip saddr \{ 10\.147\.17\.2 \}/);
  assert.match(rules, /ip6 saddr \{ fd00:7a::3 \}/);
  const check = nftCheck(rules);
  assert.is(check.code, 0, check.stderr);
});

t('the check has teeth: an IPv4 source in an ip6 rule is refused by nft', () => {
  const check = nftCheck('iifname "ygg0" ip6 saddr { 10.0.0.1 } tcp dport { 80 } accept');
  assert.is.not(check.code, 0);
  assert.match(check.stderr, /Error/);
});

t('wireguard has no source rules: only members are on its interface', async () => {
  const configs = { default: { networkLayer: 'wireguard', wireguard: { address: '10.77.0.1/24' }, applications: apps, members: { alice: { address: '10.77.0.1', wireguard: { publicKey: WG('a') } }, bob: { address: '10.77.0.2', wireguard: { publicKey: WG('b') } } } } };
  const text = await nixEval('{ lib, configs }: builtins.toJSON ((import (lib + "/member-config.nix") { configs = builtins.fromJSON configs; self = "alice"; }).networking.firewall)', { lib: NIX_LIB, configs: JSON.stringify(configs) });
  assert.not.ok(String(text).includes('extraInputRules'));
});

t.run();
