/**
 * `hiboss update` and the panel's `u` on a VM joined from a fetched copy, with the
 * market's real fixtures: a network published on IPFS (a real CAR through the
 * gateway stand-in on 127.0.0.1), a catalogue in a local git repository signed with
 * ssh-keygen, and the real daemon (under sway, the stand-in nix building) — the
 * daemon's Update follows the origin, so both clients do the same. Joined through
 * the catalogue, the update follows the entry: when the publisher signs a new
 * revision, the update fetches it and the VM's flake names the new copy; an entry
 * altered after signing is refused and nothing changes. Joined from a bare
 * nix://ipfs- link, the update says why nothing newer exists and what to do.
 */
import fs from 'node:fs';
import path from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { readConfig } from '../../config/file.js';
import { CATALOGUE_FORMAT } from '../../market/catalogue-schema.js';
import type { RunningDaemon } from '../harness/daemon.js';
import { CONFIGS_ACME, commitFiles, HIBOSS, hiboss as hibossIn, ipfsGateway, makeNetwork, makePublisher, publishOnIpfs, writeMemberConfig, type StandIn } from '../harness/market.js';
import { startDesktop, type DesktopSession } from '../harness/session.js';
import { guestManifest, makeStandInNix } from '../harness/stand-in-nix.js';
import { startTmux } from '../harness/tmux.js';

const t = suite('hiboss update and the panel follow where a fetched flake came from');
let session: DesktopSession;
let daemon: RunningDaemon;
let env: NodeJS.ProcessEnv;
let gateway: StandIn;
let configFile: string;
let catalogueRepo: string;
let publishArgs: string[];
let networkDir: string;
const cars = new Map<string, Uint8Array>();
let firstCid = '';

const fetchedIpfs = (cid: string) => path.join(session.sandbox.dataHome, 'hiboss', 'fetched', 'ipfs', cid);
const catalogue = (entries: unknown[]) => ({ 'catalogue.json': JSON.stringify({ format: CATALOGUE_FORMAT, title: 'Friends of Acme', entries }, null, 2) });
const hiboss = (args: string[]) => hibossIn(env, args);

/** The publisher commits a change and signs the new revision into the catalogue. */
async function publishRevision(note: string) {
  await commitFiles(networkDir, { 'NOTES.md': `${note}\n` }, note);
  const next = await publishOnIpfs(session.sandbox.env, networkDir, 'acme', publishArgs, cars);
  await commitFiles(catalogueRepo, catalogue([{ entry: next.entry, signature: next.signature }]));
  return next;
}

t.before(async () => {
  session = await startDesktop('sway', 'follow');
  const { sandbox } = session;
  env = { ...sandbox.env, DBUS_SESSION_BUS_ADDRESS: session.bus.address };
  gateway = await ipfsGateway(cars);
  const publisher = await makePublisher(path.join(sandbox.root, 'keys'), 'admin@acme.example');
  networkDir = (await makeNetwork(path.join(sandbox.root, 'src'), 'acme', CONFIGS_ACME, 'Acme office')).dir;
  publishArgs = ['--key', publisher.key, '--publisher', publisher.principal, '--contact', 'admin@acme.example'];
  const first = await publishOnIpfs(sandbox.env, networkDir, 'acme', publishArgs, cars);
  firstCid = first.cid;
  catalogueRepo = path.join(sandbox.root, 'catalogue');
  await commitFiles(catalogueRepo, catalogue([{ entry: first.entry, signature: first.signature }]));
  configFile = path.join(sandbox.configHome, 'hiboss', 'config.json');
  // Workspace 9: sway shows workspace 1, and nothing here starts a VM.
  writeMemberConfig(configFile, { catalogues: [{ name: 'friends', url: catalogueRepo, allowedSigners: publisher.allowedSigners }], ipfsGateway: gateway.url, fetchTimeoutMs: 20_000 }, { work: { workspace: '9', flake: 'github:me/work#work' } });
  const nix = makeStandInNix(path.join(sandbox.root, 'nix'));
  nix.setManifest(guestManifest('acme')); // builds that are never booted: nothing here focuses workspace 2
  daemon = await session.startDaemon(undefined, { env: { PATH: `${nix.binDir}:${process.env.PATH}` } });
});

t.after(async () => {
  await gateway?.close();
  await session?.end();
});

t('joined through a catalogue: the update follows the entry to its new revision', async () => {
  const joined = await hiboss(['market', 'join', 'acme', '--yes', '--workspace', '2']);
  assert.is(joined.code, 0, joined.stdout + joined.stderr);
  assert.is(readConfig(configFile).vms.acme?.flake, `path:${fetchedIpfs(firstCid)}#acme`);
  assert.equal(await daemon.client.reload(), [], 'the daemon knows acme');

  // Nothing new signed: the entry still names the joined copy, and the daemon builds it.
  const same = await hiboss(['update', 'acme']);
  assert.match(same.stdout, /acme: friends\/acme \(signature verified\) still names [0-9a-f]{40}/, same.stdout + same.stderr);
  assert.match(same.stdout, /acme: built generation 1: /, same.stdout + same.stderr);
  assert.is(same.code, 0, same.stdout + same.stderr);
  assert.is(readConfig(configFile).vms.acme?.flake, `path:${fetchedIpfs(firstCid)}#acme`);

  const second = await publishRevision('the second revision');
  assert.is.not(second.cid, firstCid);
  const moved = await hiboss(['update', 'acme']);
  const said = moved.stdout + moved.stderr;
  assert.match(moved.stdout, new RegExp(`acme: using: nix://ipfs-${second.cid}#acme: fetched from the IPFS gateway .* every block verified against CID ${second.cid}`), said);
  assert.match(moved.stdout, new RegExp(`acme: friends/acme \\(signature verified\\) now names ${String(second.entry.revision)}, fetched as path:${fetchedIpfs(second.cid)}#acme`), said);
  assert.match(moved.stdout, new RegExp(`acme: ${configFile} now names path:${fetchedIpfs(second.cid)}#acme`), said);
  assert.match(moved.stdout, /acme: built generation 2: /, said);
  assert.is(moved.code, 0, said);
  const config = readConfig(configFile);
  assert.equal(config.vms.acme, { workspace: '2', flake: `path:${fetchedIpfs(second.cid)}#acme`, restart: 'on-failure' });
  assert.is(config.vms.work?.flake, 'github:me/work#work', 'only its own entry changed');
  assert.is((await daemon.client.generations('acme')).generations[0]?.flake, `path:${fetchedIpfs(second.cid)}#acme`, 'the daemon built the new copy');
});

t('the panel\'s u goes through the same Update: it follows the entry too', async () => {
  const third = await publishRevision('the third revision');
  const wanted = `path:${fetchedIpfs(third.cid)}#acme`;
  const tmux = await startTmux(session.sandbox, env, [process.execPath, HIBOSS, 'panel', '--config', configFile], { columns: 160, rows: 40 });
  try {
    await tmux.waitFor(/acme \[2\]/);
    // acme is the tree's last row: two Downs from work reach it, past its network's row.
    await tmux.keys('Down', 'Down');
    await tmux.waitFor(/││acme +│/);
    const built = new Promise<void>((resolve) => {
      daemon.client.on('update', ({ name, kind }) => {
        if (name === 'acme' && kind === 'built') resolve();
      });
    });
    await tmux.keys('u');
    await tmux.waitFor(/acme: updating: building the newest revision of/, 60_000);
    await built;
    assert.is(readConfig(configFile).vms.acme?.flake, wanted);
    assert.is((await daemon.client.generations('acme')).generations[0]?.flake, wanted, 'the daemon built the copy the entry names now');
  } finally {
    tmux.kill();
  }
});

t('an entry altered after signing is refused, and the VM keeps its flake', async () => {
  const before = fs.readFileSync(configFile, 'utf8');
  const document = JSON.parse(fs.readFileSync(path.join(catalogueRepo, 'catalogue.json'), 'utf8')) as { entries: Array<{ entry: { flake: string } }> };
  document.entries[0]!.entry.flake = `nix://ipfs-${firstCid}#acme`;
  await commitFiles(catalogueRepo, { 'catalogue.json': JSON.stringify(document) }, 'tampered');
  const refused = await hiboss(['update', 'acme']);
  assert.is(refused.code, 1, refused.stdout + refused.stderr);
  assert.match(refused.stderr, /hiboss update: acme follows friends\/acme, whose entry is hidden now: .*; it keeps what it has/);
  assert.is(fs.readFileSync(configFile, 'utf8'), before);
});

t('joined from a bare nix://ipfs- link: the update says why nothing newer exists and what to do', async () => {
  const joined = await hiboss(['join', '--yes', '--name', 'lab', '--workspace', '5', `nix://ipfs-${firstCid}#acme`]);
  assert.is(joined.code, 0, joined.stdout + joined.stderr);
  assert.equal(await daemon.client.reload(), [], 'the daemon knows lab');
  const before = fs.readFileSync(configFile, 'utf8');
  const refused = await hiboss(['update', 'lab']);
  assert.is(refused.code, 1);
  assert.match(refused.stderr, new RegExp(`hiboss update: lab was joined from nix://ipfs-${firstCid}#acme: an IPFS CID names fixed content, so that link has no later revision\\. To follow the network, join it through a catalogue that lists it \\(hiboss market join NETWORK --name NEW\\)`));
  assert.is(fs.readFileSync(configFile, 'utf8'), before);
});

t.run();
