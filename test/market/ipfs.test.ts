/**
 * nix://ipfs-CID with a real CAR: `hiboss market publish --ipfs` packs a
 * network's source (JS IPFS libraries), an IPFS gateway stand-in on 127.0.0.1
 * serves it, and `hiboss join nix://ipfs-CID#NAME` verifies it against the
 * CID, unpacks it, reviews and joins it. The same CAR with one block altered
 * is refused and nothing is written; a CID the gateway does not have ends
 * with a clear error after the configured deadline.
 */
import fs from 'node:fs';
import path from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { readConfig } from '../../config/file.js';
import { narHash } from '../../market/source-tree.js';
import { makeSandbox, type Sandbox } from '../harness/sandbox.js';
import { CONFIGS_ACME, CONFIGS_OFFICE, hiboss, ipfsGateway, makeNetwork, makePublisher, publish, writeMemberConfig, type StandIn } from '../harness/market.js';

const t = suite('market: nix://ipfs-CID verified against its CID');
let sandbox: Sandbox;
let gateway: StandIn;
const cars = new Map<string, Uint8Array>();
let cid = '';
let car: Uint8Array;
let entry: Record<string, unknown>;
let otherCid = '';

function fetchedIpfs(): string {
  return path.join(sandbox.dataHome, 'hiboss', 'fetched', 'ipfs');
}

t.before(async () => {
  sandbox = makeSandbox('ipfs');
  gateway = await ipfsGateway(cars);
  const publisher = await makePublisher(path.join(sandbox.root, 'keys'), 'admin@acme.example');
  const acme = await makeNetwork(path.join(sandbox.root, 'src'), 'acme', CONFIGS_ACME, 'Acme office');
  const carFile = path.join(sandbox.root, 'acme.car');
  const published = await publish(sandbox.env, [acme.dir, '--key', publisher.key, '--publisher', publisher.principal, '--contact', 'admin@acme.example', '--flake', 'nix://github/acme/net#acme', '--ipfs', carFile]);
  entry = published.entry;
  cid = /CID (\S+) /.exec(published.stderr)?.[1] ?? '';
  assert.match(cid, /^bafy/);
  car = fs.readFileSync(carFile);
  // A second network's CAR: a real CID the gateway will not be given.
  const office = await makeNetwork(path.join(sandbox.root, 'src'), 'office', CONFIGS_OFFICE);
  const otherFile = path.join(sandbox.root, 'office.car');
  const other = await publish(sandbox.env, [office.dir, '--key', publisher.key, '--publisher', publisher.principal, '--contact', 'x', '--flake', 'nix://github/acme/office#office', '--ipfs', otherFile]);
  otherCid = /CID (\S+) /.exec(other.stderr)?.[1] ?? '';
  writeMemberConfig(path.join(sandbox.configHome, 'hiboss', 'config.json'), { ipfsGateway: gateway.url, fetchTimeoutMs: 2000 }, { work: { workspace: '1', flake: 'github:me/work#work' } });
});

t.after(async () => {
  await gateway.close();
  sandbox.remove();
});

t('publish --ipfs lists the CAR\'s CID as the entry\'s first mirror', () => {
  assert.equal((entry.mirrors as string[])[0], `nix://ipfs-${cid}`);
  assert.match(String(entry.narHash), /^sha256-/);
});

t('a CAR with one block altered is refused and nothing is written', async () => {
  const configFile = path.join(sandbox.configHome, 'hiboss', 'config.json');
  const before = fs.readFileSync(configFile, 'utf8');
  const altered = Buffer.from(car);
  const at = altered.indexOf(Buffer.from('yggdrasil'));
  assert.ok(at > 0, 'the CAR holds configs.json in the clear');
  altered[at] = 'Y'.charCodeAt(0);
  cars.set(cid, altered);
  const refused = await hiboss(sandbox.env, ['join', '--yes', `nix://ipfs-${cid}#acme`]);
  assert.is(refused.code, 4, refused.stdout + refused.stderr);
  assert.match(refused.stderr, /hiboss join: block bafk\S+ does not hash to its CID: the CAR was altered or corrupted\nNothing was written\./);
  assert.is(fs.readFileSync(configFile, 'utf8'), before);
  assert.equal(fs.existsSync(fetchedIpfs()) ? fs.readdirSync(fetchedIpfs()) : [], [], 'no tree, no partial directory');
  assert.ok(gateway.requests.includes(`/ipfs/${cid}?format=car`));
});

t('a CID the gateway does not have: a clear error after the deadline, nothing written', async () => {
  const configFile = path.join(sandbox.configHome, 'hiboss', 'config.json');
  const before = fs.readFileSync(configFile, 'utf8');
  const missing = await hiboss(sandbox.env, ['join', '--yes', `nix://ipfs-${otherCid}#office`]);
  assert.is(missing.code, 4, missing.stdout + missing.stderr);
  assert.match(missing.stderr, new RegExp(`the IPFS gateway ${gateway.url} did not deliver ${otherCid}: .* did not answer within 2 s`));
  assert.is(fs.readFileSync(configFile, 'utf8'), before);
});

t('the real CAR is verified, unpacked, reviewed and joined', async () => {
  cars.set(cid, car);
  const configFile = path.join(sandbox.configHome, 'hiboss', 'config.json');
  const review = await hiboss(sandbox.env, ['join', '--print-review', `nix://ipfs-${cid}#acme`]);
  assert.is(review.code, 0, review.stderr);
  assert.match(review.stdout, new RegExp(`fetched from the IPFS gateway ${gateway.url} as a CAR, every block verified against CID ${cid}`));
  assert.match(review.stdout, /network layer +yggdrasil/);
  assert.match(review.stdout, /applications +syncthing/);
  const dir = path.join(fetchedIpfs(), cid);
  assert.is(await narHash(dir), entry.narHash, 'the unpacked tree is the published one, byte for byte');

  const joined = await hiboss(sandbox.env, ['join', '--yes', '--workspace', '5', `nix://ipfs-${cid}#acme`]);
  assert.is(joined.code, 0, joined.stderr);
  assert.equal(readConfig(configFile).vms.acme, { workspace: '5', flake: `path:${dir}#acme`, restart: 'on-failure' });
  assert.is(fs.statSync(path.dirname(dir)).mode & 0o777, 0o700);
});

t.run();
