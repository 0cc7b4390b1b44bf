/**
 * Mirror fallback with real parts: an entry whose primary flake cannot be
 * fetched (git over https to a 127.0.0.1 server that speaks no TLS) is joined
 * from its IPFS mirror when that mirror is the same source (its NAR hash is
 * the one the signed entry names); an entry signed for a newer revision
 * refuses the same mirror, and nothing is written.
 */
import fs from 'node:fs';
import path from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { readConfig } from '../../config/file.js';
import { CATALOGUE_FORMAT } from '../../market/catalogue-schema.js';
import { makeSandbox, type Sandbox } from '../harness/sandbox.js';
import { CONFIGS_ACME, commitFiles, hiboss, ipfsGateway, makeNetwork, makePublisher, publish, serve, writeMemberConfig, type StandIn } from '../harness/market.js';

const t = suite('market: mirrors when the primary is down');
let sandbox: Sandbox;
let gateway: StandIn;
let primary: StandIn;
let configFile: string;
let cid = '';

t.before(async () => {
  sandbox = makeSandbox('mirror');
  const cars = new Map<string, Uint8Array>();
  gateway = await ipfsGateway(cars);
  primary = await serve((_req, res) => res.writeHead(503).end('down'));
  const flake = `nix://git+https://${primary.url.slice('http://'.length)}/acme#acme`;
  const publisher = await makePublisher(path.join(sandbox.root, 'keys'), 'admin@acme.example');
  const common = ['--key', publisher.key, '--publisher', publisher.principal, '--contact', 'admin@acme.example', '--flake', flake];
  const acme = await makeNetwork(path.join(sandbox.root, 'src'), 'acme', CONFIGS_ACME);
  const carFile = path.join(sandbox.root, 'acme.car');
  const v1 = await publish(sandbox.env, [acme.dir, ...common, '--ipfs', carFile]);
  cid = /CID (\S+) /.exec(v1.stderr)![1]!;
  cars.set(cid, fs.readFileSync(carFile));
  // The network moves on: a new revision, signed, still naming the old tree's mirror.
  const configs = JSON.parse(fs.readFileSync(path.join(acme.dir, 'configs.json'), 'utf8'));
  configs.acme.applications.nextcloud = { enable: true };
  await commitFiles(acme.dir, { 'configs.json': JSON.stringify(configs, null, 2) }, 'add nextcloud');
  const v2 = await publish(sandbox.env, [acme.dir, ...common, '--mirrors', `nix://ipfs-${cid}`]);
  assert.is.not(v2.entry.revision, v1.entry.revision);

  const catalogue = (entry: { entry: unknown; signature: string }) => JSON.stringify({ format: CATALOGUE_FORMAT, title: 'Acme', entries: [{ entry: entry.entry, signature: entry.signature }] });
  const oldRepo = path.join(sandbox.root, 'cat-old');
  const newRepo = path.join(sandbox.root, 'cat-new');
  await commitFiles(oldRepo, { 'catalogue.json': catalogue(v1) });
  await commitFiles(newRepo, { 'catalogue.json': catalogue(v2) });
  configFile = path.join(sandbox.configHome, 'hiboss', 'config.json');
  writeMemberConfig(configFile, {
    catalogues: [
      { name: 'old', url: oldRepo, allowedSigners: publisher.allowedSigners },
      { name: 'new', url: `git+file://${newRepo}`, allowedSigners: publisher.allowedSigners },
    ],
    ipfsGateway: gateway.url,
    fetchTimeoutMs: 20_000,
  });
});

t.after(async () => {
  await gateway.close();
  await primary.close();
  sandbox.remove();
});

t('a mirror with another revision is refused; nothing is written', async () => {
  const before = fs.readFileSync(configFile, 'utf8');
  const refused = await hiboss(sandbox.env, ['market', 'join', 'new/acme', '--yes']);
  assert.is(refused.code, 1, refused.stdout + refused.stderr);
  assert.match(refused.stdout, /unreachable: nix:\/\/git\+https:\/\/127\.0\.0\.1:\d+\/acme#acme: git ls-remote https:\/\/127\.0\.0\.1:\d+\/acme: fatal: /);
  assert.match(refused.stdout, new RegExp(`refused: nix://ipfs-${cid}#acme: not the same source: its NAR hash is sha256-\\S+, the entry names sha256-\\S+`));
  assert.match(refused.stderr, /acme cannot be fetched from its flake nor from any mirror that is the same source\. Nothing was written\./);
  assert.is(fs.readFileSync(configFile, 'utf8'), before);
});

t('primary unreachable: the mirror with the same source is used and joined', async () => {
  const joined = await hiboss(sandbox.env, ['market', 'join', 'old/acme', '--yes', '--workspace', '2']);
  assert.is(joined.code, 0, joined.stdout + joined.stderr);
  assert.match(joined.stdout, /unreachable: nix:\/\/git\+https:\/\/127\.0\.0\.1:\d+\/acme#acme: /);
  assert.match(joined.stdout, new RegExp(`using: nix://ipfs-${cid}#acme: fetched (from the IPFS gateway .* as a CAR|before), every block verified against CID ${cid}; .*the same source as the entry names`));
  assert.match(joined.stdout, /network layer +yggdrasil/);
  const dir = path.join(sandbox.dataHome, 'hiboss', 'fetched', 'ipfs', cid);
  assert.equal(readConfig(configFile).vms.acme, { workspace: '2', flake: `path:${dir}#acme`, restart: 'on-failure' });
});

t.run();
