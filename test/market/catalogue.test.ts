/**
 * Catalogues end to end with the real CLI: two networks published and signed
 * with a real `ssh-keygen -Y sign`, a catalogue in a local git repository,
 * listed, searched, shown and joined through `hiboss join`'s review; an entry
 * whose flake was changed after signing is hidden with the reason; a catalogue
 * that cannot be fetched is shown from its last good copy; the same catalogue
 * over http on 127.0.0.1.
 */
import fs from 'node:fs';
import path from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { readConfig } from '../../config/file.js';
import { CATALOGUE_FORMAT } from '../../market/catalogue-schema.js';
import { makeSandbox, type Sandbox } from '../harness/sandbox.js';
import { CONFIGS_ACME, CONFIGS_OFFICE, commitFiles, hiboss, ipfsGateway, makeNetwork, makePublisher, publish, publishOnIpfs, serve, writeMemberConfig, type StandIn } from '../harness/market.js';

const t = suite('market: a signed catalogue in a git repository');
let sandbox: Sandbox;
let configFile: string;
let catalogueRepo: string;
let document: { format: string; title: string; entries: unknown[] };
let acmeRevision: string;
let acmeCid: string;
let gateway: StandIn;

t.before(async () => {
  sandbox = makeSandbox('market');
  const cars = new Map<string, Uint8Array>();
  gateway = await ipfsGateway(cars);
  const publisher = await makePublisher(path.join(sandbox.root, 'keys'), 'admin@acme.example');
  const acme = await makeNetwork(path.join(sandbox.root, 'src'), 'acme', CONFIGS_ACME, 'Acme office: files and voice');
  const office = await makeNetwork(path.join(sandbox.root, 'src'), 'office', CONFIGS_OFFICE);
  acmeRevision = acme.revision;
  const common = ['--key', publisher.key, '--publisher', publisher.principal, '--contact', 'matrix:@admin:acme.example'];
  const a = await publishOnIpfs(sandbox.env, acme.dir, 'acme', [...common, '--donation', 'https://acme.example/donate', '--description', 'Shared docs and a mumble room.'], cars);
  acmeCid = a.cid;
  const o = await publishOnIpfs(sandbox.env, office.dir, 'office', [...common, '--subscription', 'https://office.example/plans'], cars);
  // A third entry, signed, then pointed elsewhere: its signature no longer covers it.
  const tampered = await publish(sandbox.env, [office.dir, ...common, '--name', 'office', '--flake', 'nix://github/acme/office#office']);
  (tampered.entry as { name: string }).name = 'evil';
  (tampered.entry as { flake: string }).flake = 'nix://github/evil/net#evil';
  document = { format: CATALOGUE_FORMAT, title: 'Friends of Acme', entries: [{ entry: a.entry, signature: a.signature }, { entry: o.entry, signature: o.signature }, { entry: tampered.entry, signature: tampered.signature }] };
  catalogueRepo = path.join(sandbox.root, 'catalogue');
  await commitFiles(catalogueRepo, { 'catalogue.json': JSON.stringify(document, null, 2) });
  configFile = path.join(sandbox.configHome, 'hiboss', 'config.json');
  writeMemberConfig(configFile, { catalogues: [{ name: 'friends', url: catalogueRepo, allowedSigners: publisher.allowedSigners }], ipfsGateway: gateway.url, fetchTimeoutMs: 20_000 }, { work: { workspace: '1', flake: 'github:me/work#work' } });
});

t.after(async () => {
  await gateway.close();
  sandbox.remove();
});

t('list shows both signed entries and hides the altered one with the reason', async () => {
  const listed = await hiboss(sandbox.env, ['market', 'list']);
  assert.is(listed.code, 0, listed.stderr);
  assert.match(listed.stderr, /fetching catalogue friends \(/);
  assert.match(listed.stderr, /checking the signatures of 3 entries of friends/);
  assert.match(listed.stdout, /catalogue friends — Friends of Acme \(.*\): fetched now/);
  assert.match(listed.stdout, /friends\/acme +yggdrasil Acme office: files and voice/);
  assert.match(listed.stdout, /friends\/office +wireguard A hiboss network/);
  assert.match(listed.stdout, /hidden: friends\/evil: the signature does not verify for admin@acme\.example \(ssh-keygen: .+\)/);
  assert.not.match(listed.stdout, /friends\/evil +/);
});

t('search finds by summary, application and layer; show prints the detail', async () => {
  const byApp = await hiboss(sandbox.env, ['market', 'search', 'nextcloud']);
  assert.is(byApp.code, 0, byApp.stderr);
  assert.match(byApp.stdout, /friends\/office/);
  assert.not.match(byApp.stdout, /friends\/acme/);
  const byWords = await hiboss(sandbox.env, ['market', 'search', 'ACME', 'voice']);
  assert.match(byWords.stdout, /friends\/acme/);
  assert.not.match(byWords.stdout, /friends\/office/);
  const none = await hiboss(sandbox.env, ['market', 'search', 'evil']);
  assert.is(none.code, 1);
  assert.match(none.stdout, /No network matches "evil"/);

  const shown = await hiboss(sandbox.env, ['market', 'show', 'acme']);
  assert.is(shown.code, 0, shown.stderr);
  for (const line of [
    /network +acme/, /layer +yggdrasil/, /apps +syncthing, mumbleServer/, /contact +matrix:@admin:acme\.example/,
    new RegExp(`revision +${acmeRevision}`), /NAR hash +sha256-[A-Za-z0-9+/]{43}=/, /donation +https:\/\/acme\.example\/donate/,
    /signed by +admin@acme\.example \(verified/, /Shared docs and a mumble room\./,
  ]) assert.match(shown.stdout, line);
  const hidden = await hiboss(sandbox.env, ['market', 'show', 'evil']);
  assert.is(hidden.code, 1);
  assert.match(hidden.stderr, /no network "evil" .* is hidden: the signature does not verify/);
});

t('join goes through the review and writes only when told', async () => {
  const before = fs.readFileSync(configFile, 'utf8');
  const review = await hiboss(sandbox.env, ['market', 'join', 'acme', '--print-review']);
  assert.is(review.code, 0, review.stderr);
  assert.match(review.stdout, new RegExp(`using: nix://ipfs-${acmeCid}#acme: fetched from the IPFS gateway .* every block verified against CID ${acmeCid}; .*the same source as the entry names`));
  assert.match(review.stdout, /hiboss join: review \(nothing has been fetched or built\)/);
  assert.match(review.stdout, /network layer +yggdrasil/);
  assert.match(review.stdout, /applications +syncthing \(shared folders: \/shared\/docs\); mumble server/);
  assert.is(fs.readFileSync(configFile, 'utf8'), before);

  const joined = await hiboss(sandbox.env, ['market', 'join', 'friends/acme', '--yes', '--workspace', '3']);
  assert.is(joined.code, 0, joined.stderr);
  assert.match(joined.stdout, /Added VM "acme" on workspace 3 to /);
  const vm = readConfig(configFile).vms.acme;
  assert.equal(vm, { workspace: '3', flake: `path:${path.join(sandbox.dataHome, 'hiboss', 'fetched', 'ipfs', acmeCid)}#acme`, restart: 'on-failure' });
  assert.is(readConfig(configFile).vms.work?.flake, 'github:me/work#work');
});

t('a catalogue that cannot be fetched is shown from its last good copy, with the reason', async () => {
  const moved = `${catalogueRepo}-away`;
  fs.renameSync(catalogueRepo, moved);
  try {
    const listed = await hiboss(sandbox.env, ['market', 'list']);
    assert.is(listed.code, 0, listed.stderr);
    assert.match(listed.stdout, /catalogue friends .*: cannot be fetched \(git fetch .*\); showing its last good copy from just now/);
    assert.match(listed.stdout, /friends\/acme/);
    assert.match(listed.stdout, /hidden: friends\/evil/);
  } finally {
    fs.renameSync(moved, catalogueRepo);
  }
});

t('the same catalogue over http on 127.0.0.1; a catalogue never fetched says so', async () => {
  const server = await serve((req, res) => {
    if (req.url === '/catalogue.json') res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(document));
    else res.writeHead(404).end();
  });
  try {
    const config = readConfig(configFile);
    const allowedSigners = config.market!.catalogues[0]!.allowedSigners;
    writeMemberConfig(configFile, {
      ipfsGateway: gateway.url,
      catalogues: [
        { name: 'web', url: `${server.url}/catalogue.json`, allowedSigners },
        { name: 'gone', url: `${server.url}/missing.json`, allowedSigners },
      ],
    }, config.vms);
    const listed = await hiboss(sandbox.env, ['market', 'list']);
    assert.is(listed.code, 0, listed.stderr);
    assert.match(listed.stdout, /catalogue web — Friends of Acme .*: fetched now/);
    assert.match(listed.stdout, /web\/office/);
    assert.match(listed.stdout, /hidden: web\/evil/);
    assert.match(listed.stdout, /catalogue gone .*: cannot be fetched \(.*answered HTTP 404\); no earlier copy/);
    assert.ok(server.requests.includes('/catalogue.json'));
  } finally {
    await server.close();
  }
});

t('publish refuses a checkout with uncommitted changes, and an entry naming a local path', async () => {
  const publisher = await makePublisher(path.join(sandbox.root, 'keys2'), 'admin@acme.example');
  const net = await makeNetwork(path.join(sandbox.root, 'dirty'), 'lab', { lab: CONFIGS_ACME.acme });
  const common = ['market', 'publish', net.dir, '--key', publisher.key, '--publisher', publisher.principal, '--contact', 'x'];
  const local = await hiboss(sandbox.env, [...common, '--flake', `path:${net.dir}#lab`]);
  assert.is(local.code, 1);
  assert.match(local.stderr, /the entry would not be valid: flake: a catalogue entry may not name a local path/);
  fs.appendFileSync(path.join(net.dir, 'configs.json'), '\n');
  const dirty = await hiboss(sandbox.env, [...common, '--flake', 'nix://github/acme/lab#lab']);
  assert.is(dirty.code, 1);
  assert.match(dirty.stderr, /has uncommitted changes: commit them, the entry names a revision/);
});

t.run();
