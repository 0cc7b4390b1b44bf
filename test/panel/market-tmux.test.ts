/**
 * The panel's Market tab in a real terminal (tmux): `m` opens it, the
 * trusted catalogue (a local git repository, entries signed with a real
 * ssh-keygen) fills the list in the background, typing searches as you type,
 * enter shows an entry's detail (apps, layer, contact, subscription link), and
 * j shows `hiboss join`'s review; y joins into the panel's config.
 */
import fs from 'node:fs';
import path from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { readConfig } from '../../config/file.js';
import { CATALOGUE_FORMAT } from '../../market/catalogue-schema.js';
import { startSessionBus, type RunningBus } from '../harness/dbus.js';
import { CONFIGS_ACME, CONFIGS_OFFICE, commitFiles, HIBOSS, ipfsGateway, makeNetwork, makePublisher, publishOnIpfs, writeMemberConfig, type StandIn } from '../harness/market.js';
import { makeSandbox, type Sandbox } from '../harness/sandbox.js';
import { startTmux, type Tmux } from '../harness/tmux.js';

const t = suite('panel: the Market tab under tmux');
let sandbox: Sandbox;
let bus: RunningBus;
let tmux: Tmux | undefined;
let configFile: string;
let officeCid: string;
let gateway: StandIn;

t.before(async () => {
  sandbox = makeSandbox('mkttmux');
  bus = await startSessionBus(sandbox.env);
  const cars = new Map<string, Uint8Array>();
  gateway = await ipfsGateway(cars);
  const publisher = await makePublisher(path.join(sandbox.root, 'keys'), 'admin@acme.example');
  const common = ['--key', publisher.key, '--publisher', publisher.principal, '--contact', 'matrix:@admin:acme.example'];
  const acme = await makeNetwork(path.join(sandbox.root, 'src'), 'acme', CONFIGS_ACME, 'Acme office: files and voice');
  const office = await makeNetwork(path.join(sandbox.root, 'src'), 'office', CONFIGS_OFFICE, 'The office cloud');
  const a = await publishOnIpfs(sandbox.env, acme.dir, 'acme', common, cars);
  const o = await publishOnIpfs(sandbox.env, office.dir, 'office', [...common, '--subscription', 'https://office.example/plans'], cars);
  officeCid = o.cid;
  const repo = path.join(sandbox.root, 'catalogue');
  await commitFiles(repo, { 'catalogue.json': JSON.stringify({ format: CATALOGUE_FORMAT, title: 'Friends', entries: [a, o].map(({ entry, signature }) => ({ entry, signature })) }) });
  configFile = path.join(sandbox.configHome, 'hiboss', 'config.json');
  writeMemberConfig(configFile, { catalogues: [{ name: 'friends', url: repo, allowedSigners: publisher.allowedSigners }], ipfsGateway: gateway.url, fetchTimeoutMs: 20_000 }, { work: { workspace: '1', flake: 'github:me/work#work' } });
  tmux = await startTmux(sandbox, { ...sandbox.env, DBUS_SESSION_BUS_ADDRESS: bus.address }, [process.execPath, HIBOSS, 'panel', '--config', configFile], { columns: 120, rows: 48 });
});

t.after(async () => {
  tmux?.kill();
  await gateway?.close();
  bus?.stop();
  sandbox?.remove();
});

t('m opens the Market: the catalogue\'s entries arrive in the list', async () => {
  await tmux!.waitFor(/m market/);
  await tmux!.keys('m');
  const screen = await tmux!.waitFor(/friends\/office/, 30_000);
  assert.match(screen, /catalogue friends: fetched now/);
  assert.match(screen, /friends\/acme +yggdrasil Acme office: files and voice/);
  assert.match(screen, /friends\/office +wireguard The office cloud/);
});

t('typing searches as you type; enter shows the detail', async () => {
  await tmux!.keys('c', 'l', 'o', 'u', 'd');
  const screen = await tmux!.waitFor(/search: cloud/);
  assert.match(screen, /friends\/office/);
  assert.not.match(screen, /friends\/acme/);
  await tmux!.keys('Enter');
  const detail = await tmux!.waitFor(/contact +matrix:@admin:acme\.example/);
  assert.match(detail, /layer +wireguard/);
  assert.match(detail, /apps +nextcloud/);
  assert.match(detail, /subscription +https:\/\/office\.example\/plans/);
  assert.match(detail, /signed by +admin@acme\.example/);
});

t('j shows hiboss join\'s review; y joins', async () => {
  await tmux!.keys('j');
  const review = await tmux!.waitFor(/Press y to join/, 30_000);
  assert.match(review, new RegExp(`using: nix://ipfs-${officeCid.slice(0, 40)}`));
  assert.match(review, /every block verified against CID/);
  assert.match(review, /hiboss join: review \(nothing has been fetched or built\)/);
  assert.match(review, /network layer +wireguard/);
  await tmux!.keys('y');
  await tmux!.waitFor(/Added VM "office" on workspace 2/, 30_000);
  assert.equal(readConfig(configFile).vms.office, { workspace: '2', flake: `path:${path.join(sandbox.dataHome, 'hiboss', 'fetched', 'ipfs', officeCid)}#office`, restart: 'on-failure' });
  assert.ok(fs.existsSync(configFile));
});

t.run();
