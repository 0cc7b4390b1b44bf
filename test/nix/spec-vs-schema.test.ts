/**
 * The wizard offers exactly the options the NixOS module declares: the zod
 * schema (networks/configs-schema.ts) against nix/lib/options-spec.nix, from
 * which modules/hiboss.nix generates its options.
 */
import fs from 'node:fs';
import path from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { z } from 'zod';
import { ADMIN_MODES, APPLICATIONS, HibossOptions, NETWORK_LAYERS, PATTERNS, SYSTEMS, parseConfigs, wholeMatch } from '../../networks/configs-schema.js';
import { renderFlakeNix } from '../../networks/flake-template.js';
import { NIX_LIB, REPO, nixEval } from './nix-eval.js';

const t = suite('options-spec.nix vs the zod schema');

type Json = any; // eslint-disable-line @typescript-eslint/no-explicit-any
interface Spec {
  patterns: Record<string, string>;
  systems: string[];
  defaultSystem: string;
  options: Record<string, Json>;
}
const spec = (await nixEval('{ lib }: import (lib + "/options-spec.nix")', { lib: NIX_LIB })) as Spec;
const jsonSchema = z.toJSONSchema(HibossOptions, { io: 'input' }) as Json;

/** Unwraps zod's `anyOf [X, null]` for nullable values. */
function nonNull(schema: Json): Json {
  return schema.anyOf ? schema.anyOf.find((s: Json) => s.type !== 'null') : schema;
}

/** Walks one spec node against its JSON Schema; returns differences as `path: what`. */
function compare(at: string, node: Json, schema: Json, problems: string[]): void {
  const differ = (what: string) => problems.push(`${at}: ${what}`);
  if ('default' in node && JSON.stringify(node.default) !== JSON.stringify(schema.default)) {
    differ(`default ${JSON.stringify(node.default)} in Nix, ${JSON.stringify(schema.default)} in zod`);
  }
  switch (node.type) {
    case 'bool':
      if (schema.type !== 'boolean') differ(`bool in Nix, ${schema.type} in zod`);
      break;
    case 'port':
      if (schema.type !== 'integer' || schema.minimum !== 1 || schema.maximum !== 65535) differ('port in Nix, not 1–65535 integer in zod');
      break;
    case 'enum':
      if (JSON.stringify(schema.enum) !== JSON.stringify(node.values)) differ(`enum ${node.values} in Nix, ${schema.enum} in zod`);
      break;
    case 'str':
      if (schema.type !== 'string') differ(`str in Nix, ${schema.type} in zod`);
      if (node.maxLength !== schema.maxLength) differ(`maxLength ${node.maxLength} in Nix, ${schema.maxLength} in zod`);
      if (schema.pattern !== wholeMatch(node.pattern).source) differ(`pattern ${node.pattern} in Nix, ${schema.pattern} in zod`);
      break;
    case 'nullOr':
      if (!schema.anyOf?.some((s: Json) => s.type === 'null')) differ('nullable in Nix, not in zod');
      compare(at, node.elem, nonNull(schema), problems);
      break;
    case 'listOf':
      if (schema.type !== 'array') differ(`list in Nix, ${schema.type} in zod`);
      if (node.maxItems !== schema.maxItems) differ(`maxItems ${node.maxItems} in Nix, ${schema.maxItems} in zod`);
      compare(`${at}.*`, node.elem, schema.items ?? {}, problems);
      break;
    case 'attrsOf':
      if (schema.type !== 'object') differ(`attrsOf in Nix, ${schema.type} in zod`);
      if (schema.propertyNames?.pattern !== wholeMatch(node.keyPattern).source) differ(`key pattern ${node.keyPattern} in Nix, ${schema.propertyNames?.pattern} in zod`);
      compare(`${at}.<name>`, node.elem, schema.additionalProperties ?? {}, problems);
      break;
    case 'submodule': {
      if (schema.type !== 'object' || schema.additionalProperties !== false) differ('submodule in Nix, not a strict object in zod');
      compareOptions(at, node.options, schema, problems);
      break;
    }
    default:
      differ(`unknown spec type ${node.type}`);
  }
}

function compareOptions(at: string, options: Record<string, Json>, schema: Json, problems: string[]): void {
  const nixKeys = Object.keys(options).sort();
  const zodKeys = Object.keys(schema.properties ?? {}).sort();
  if (JSON.stringify(nixKeys) !== JSON.stringify(zodKeys)) problems.push(`${at || '(root)'}: options ${nixKeys} in Nix, ${zodKeys} in zod`);
  const required = new Set<string>(schema.required ?? []);
  for (const key of nixKeys) {
    if (!schema.properties?.[key]) continue;
    const node = options[key];
    const nixRequired = !('default' in node) && node.type !== 'submodule';
    if (nixRequired !== required.has(key)) problems.push(`${at ? `${at}.` : ''}${key}: required ${nixRequired} in Nix, ${required.has(key)} in zod`);
    compare(at ? `${at}.${key}` : key, node, schema.properties[key], problems);
  }
}

t('every option, type, enum, default, bound and pattern agrees', () => {
  const problems: string[] = [];
  compareOptions('', spec.options, jsonSchema, problems);
  assert.equal(problems, [], problems.join('\n'));
});

t('the comparison notices a difference', () => {
  const problems: string[] = [];
  const altered = structuredClone(spec.options);
  altered.networkLayer.values = [...altered.networkLayer.values, 'openvpn'];
  altered.applications.options.syncthing.options.sharedFolders.maxItems = 65;
  delete altered.applications.options.gitServer;
  compareOptions('', altered, jsonSchema, problems);
  assert.is(problems.length, 3, problems.join('\n'));
});

t('the exported choices are the spec’s', () => {
  assert.equal([...ADMIN_MODES], spec.options.adminMode.values);
  assert.equal([...NETWORK_LAYERS], spec.options.networkLayer.values);
  assert.equal([...APPLICATIONS].sort(), Object.keys(spec.options.applications.options).sort());
  assert.equal([...SYSTEMS], spec.systems);
  assert.equal(PATTERNS, spec.patterns);
});

// Values the Nix regex engine (POSIX ERE) and JavaScript's must judge alike.
const SAMPLES: Record<string, string[]> = {
  name: ['default', 'bob_vm', 'a-b', '', 'my net', 'x'.repeat(33), 'ä'],
  absolutePath: ['/shared/docs', '/', 'docs', '/a b', '/a;b', '/var/lib/x.key'],
  hostPort: ['host', 'host:655', '[2001:db8::1]', '[2001:db8::1]:655', 'a b', 'host:', ':1', '[x]'],
  cidr: ['10.0.0.2/24', 'fd00::1/64', '10.0.0.2', '/24'],
  ipAddress: ['10.0.0.2', '200:1234::1', '10.0.0.2/24', ''],
  peerUri: ['tls://a.b:443', 'tcp://[200::1]:9001?key=x', 'http://x:1', 'tls://a.b'],
  sshPublicKey: ['ssh-ed25519 AAAAC3Nza admin@x', 'ssh-ed25519 AAAA', 'ssh-dss AAAA', 'ssh-ed25519 AAAA\nx'],
  wireguardKey: [`${'x'.repeat(42)}A=`, `${'x'.repeat(42)}B=`, 'short='],
  ed25519TincKey: ['z'.repeat(43), 'z'.repeat(42), `${'z'.repeat(42)}=`],
  zerotierNetworkId: ['a8a2c3c10c1a68de', 'A8A2C3C10C1A68DE', 'a8a2c3c10c1a68d'],
  yggdrasilKey: ['a'.repeat(64), 'A'.repeat(64), 'a'.repeat(63), `${'a'.repeat(63)}g`],
  zerotierNodeId: ['89e92ceee5', '89E92CEEE5', '89e92ceee'],
  tincRsaKey: [
    `-----BEGIN RSA PUBLIC KEY-----\n${'MIIBCgKCAQEA'.repeat(6)}\n${'x'.repeat(20)}==\n-----END RSA PUBLIC KEY-----\n`,
    `-----BEGIN RSA PUBLIC KEY-----\n${'MIIBCgKCAQEA'.repeat(6)}\n-----END RSA PUBLIC KEY-----`,
    `-----BEGIN PUBLIC KEY-----\n${'MIIBCgKCAQEA'.repeat(6)}\n-----END PUBLIC KEY-----\n`,
    `-----BEGIN RSA PUBLIC KEY-----\n${'MIIBCgKCAQEA'.repeat(6)}\n-----END RSA PUBLIC KEY-----\nmore`,
  ],
  domain: ['hiboss', 'acme-net', 'a', '-acme', 'Acme', 'a.b', 'x'.repeat(33)],
  syncthingDeviceId: [
    'MFZWI3D-BONSGYC-YLTMRWG-C43ENR5-QXGZDMM-FZWI3DP-BONSGYY-LTMRWAD',
    'MFZWI3D-BONSGYC-YLTMRWG-C43ENR5-QXGZDMM-FZWI3DP-BONSGYY-LTMRWA1',
    'mfzwi3d-bonsgyc-yltmrwg-c43enr5-qxgzdmm-fzwi3dp-bonsgyy-ltmrwad',
  ],
};

t('every pattern means the same to Nix and to JavaScript', async () => {
  assert.equal(Object.keys(SAMPLES).sort(), Object.keys(spec.patterns).sort(), 'samples for every pattern');
  const fromNix = (await nixEval(
    `{ lib, samples }: let spec = import (lib + "/options-spec.nix"); in
      builtins.mapAttrs (name: values: map (v: builtins.match spec.patterns.\${name} v != null) values) (builtins.fromJSON samples)`,
    { lib: NIX_LIB, samples: JSON.stringify(SAMPLES) },
  )) as Record<string, boolean[]>;
  for (const [name, values] of Object.entries(SAMPLES)) {
    const fromJs = values.map((value) => wholeMatch(spec.patterns[name]!).test(value));
    assert.equal(fromJs, fromNix[name], `${name}: ${JSON.stringify(values)}`);
    assert.ok(fromJs.includes(true) && fromJs.includes(false), `${name}: samples both match and fail`);
  }
});

t('templates.default is what the wizard writes', () => {
  const templateFlake = fs.readFileSync(path.join(REPO, 'nix', 'template', 'flake.nix'), 'utf8');
  assert.fixture(renderFlakeNix(), templateFlake);
  const templateConfigs = fs.readFileSync(path.join(REPO, 'nix', 'template', 'configs.json'), 'utf8');
  const seed = fs.readFileSync(path.join(REPO, 'test', 'fixtures', 'networks', 'seed.json'), 'utf8');
  assert.equal(JSON.parse(templateConfigs), JSON.parse(seed), "the template's configs.json is the seed's example");
  assert.ok(parseConfigs(templateConfigs).default);
});

t.run();
