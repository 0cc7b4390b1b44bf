/**
 * `hiboss update` on a VM joined from a fetched copy, with the market's real
 * fixtures: a network published on IPFS (a real CAR through the gateway stand-in
 * on 127.0.0.1), a catalogue in a local git repository signed with ssh-keygen.
 * Joined through the catalogue, the update follows the entry: when the publisher
 * signs a new revision, the update fetches it and the VM's flake names the new
 * copy; an entry altered after signing is refused and nothing changes. Joined
 * from a bare nix://ipfs- link, the update says why nothing newer exists and
 * what to do. No daemon runs: the update stops, saying so, before a build.
 */
import fs from 'node:fs';
import path from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { readConfig } from '../../config/file.js';
import { CATALOGUE_FORMAT } from '../../market/catalogue-schema.js';
import { makeSandbox, type Sandbox } from '../harness/sandbox.js';
import { CONFIGS_ACME, commitFiles, hiboss, ipfsGateway, makeNetwork, makePublisher, publishOnIpfs, writeMemberConfig, type StandIn } from '../harness/market.js';

const t = suite('hiboss update follows where a fetched flake came from');
let sandbox: Sandbox;
let gateway: StandIn;
let configFile: string;
let catalogueRepo: string;
let publishArgs: string[];
let networkDir: string;
const cars = new Map<string, Uint8Array>();
let firstCid = '';

const fetchedIpfs = (cid: string) => path.join(sandbox.dataHome, 'hiboss', 'fetched', 'ipfs', cid);
const catalogue = (entries: unknown[]) => ({ 'catalogue.json': JSON.stringify({ format: CATALOGUE_FORMAT, title: 'Friends of Acme', entries }, null, 2) });

t.before(async () => {
  sandbox = makeSandbox('follow');
  gateway = await ipfsGateway(cars);
  const publisher = await makePublisher(path.join(sandbox.root, 'keys'), 'admin@acme.example');
  networkDir = (await makeNetwork(path.join(sandbox.root, 'src'), 'acme', CONFIGS_ACME, 'Acme office')).dir;
  publishArgs = ['--key', publisher.key, '--publisher', publisher.principal, '--contact', 'admin@acme.example'];
  const first = await publishOnIpfs(sandbox.env, networkDir, 'acme', publishArgs, cars);
  firstCid = first.cid;
  catalogueRepo = path.join(sandbox.root, 'catalogue');
  await commitFiles(catalogueRepo, catalogue([{ entry: first.entry, signature: first.signature }]));
  configFile = path.join(sandbox.configHome, 'hiboss', 'config.json');
  writeMemberConfig(configFile, { catalogues: [{ name: 'friends', url: catalogueRepo, allowedSigners: publisher.allowedSigners }], ipfsGateway: gateway.url, fetchTimeoutMs: 20_000 }, { work: { workspace: '1', flake: 'github:me/work#work' } });
});

t.after(async () => {
  await gateway.close();
  sandbox.remove();
});

t('joined through a catalogue: the update follows the entry to its new revision', async () => {
  const joined = await hiboss(sandbox.env, ['market', 'join', 'acme', '--yes', '--workspace', '2']);
  assert.is(joined.code, 0, joined.stdout + joined.stderr);
  assert.is(readConfig(configFile).vms.acme?.flake, `path:${fetchedIpfs(firstCid)}#acme`);

  // Nothing new signed: the entry still names the joined copy, and the update goes on to the daemon.
  const same = await hiboss(sandbox.env, ['update', 'acme']);
  assert.match(same.stdout, /acme: friends\/acme \(signature verified\) still names [0-9a-f]{40}/, same.stdout + same.stderr);
  assert.is(readConfig(configFile).vms.acme?.flake, `path:${fetchedIpfs(firstCid)}#acme`);

  // The publisher commits a change and signs the new revision into the catalogue.
  await commitFiles(networkDir, { 'NOTES.md': 'the second revision\n' }, 'second revision');
  const second = await publishOnIpfs(sandbox.env, networkDir, 'acme', publishArgs, cars);
  assert.is.not(second.cid, firstCid);
  await commitFiles(catalogueRepo, catalogue([{ entry: second.entry, signature: second.signature }]));
  const moved = await hiboss(sandbox.env, ['update', 'acme']);
  const said = moved.stdout + moved.stderr;
  assert.is(moved.code, 1, `no daemon: nothing was built; it said:\n${said}`);
  assert.match(moved.stdout, new RegExp(`using: nix://ipfs-${second.cid}#acme: fetched from the IPFS gateway .* every block verified against CID ${second.cid}`), said);
  assert.match(moved.stdout, new RegExp(`acme: friends/acme \\(signature verified\\) now names ${String(second.entry.revision)}, fetched as path:${fetchedIpfs(second.cid)}#acme`), said);
  assert.match(moved.stderr, /hiboss update: the daemon is not running, so nothing was built yet; start it, then run hiboss update acme again/);
  const config = readConfig(configFile);
  assert.equal(config.vms.acme, { workspace: '2', flake: `path:${fetchedIpfs(second.cid)}#acme`, restart: 'on-failure' });
  assert.is(config.vms.work?.flake, 'github:me/work#work', 'only its own entry changed');
});

t('an entry altered after signing is refused, and the VM keeps its flake', async () => {
  const before = fs.readFileSync(configFile, 'utf8');
  const document = JSON.parse(fs.readFileSync(path.join(catalogueRepo, 'catalogue.json'), 'utf8')) as { entries: Array<{ entry: { flake: string } }> };
  document.entries[0]!.entry.flake = `nix://ipfs-${firstCid}#acme`;
  await commitFiles(catalogueRepo, { 'catalogue.json': JSON.stringify(document) }, 'tampered');
  const refused = await hiboss(sandbox.env, ['update', 'acme']);
  assert.is(refused.code, 1);
  assert.match(refused.stderr, /hiboss update: acme follows friends\/acme, whose entry is hidden now: .*; it keeps what it has/);
  assert.is(fs.readFileSync(configFile, 'utf8'), before);
});

t('joined from a bare nix://ipfs- link: the update says why nothing newer exists and what to do', async () => {
  const joined = await hiboss(sandbox.env, ['join', '--yes', '--name', 'lab', '--workspace', '5', `nix://ipfs-${firstCid}#acme`]);
  assert.is(joined.code, 0, joined.stdout + joined.stderr);
  const before = fs.readFileSync(configFile, 'utf8');
  const refused = await hiboss(sandbox.env, ['update', 'lab']);
  assert.is(refused.code, 1);
  assert.match(refused.stderr, new RegExp(`hiboss update: lab was joined from nix://ipfs-${firstCid}#acme: an IPFS CID names fixed content, so that link has no later revision\\. To follow the network, join it through a catalogue that lists it \\(hiboss market join NETWORK --name NEW\\)`));
  assert.is(fs.readFileSync(configFile, 'utf8'), before);
});

t.run();
