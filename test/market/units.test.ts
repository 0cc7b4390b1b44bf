/**
 * The market's pure parts and its verification edges: the signed form
 * (canonical JSON), entry and config schemas, link parsing, Yggdrasil
 * addresses, search, the terminal lookup order, a CAR whose root or blocks do
 * not match (built with the real IPFS libraries), and the Market tab's state
 * machine driven without a terminal.
 */
import { CarReader, CarWriter } from '@ipld/car';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { findTerminal } from '../../cli/desktop-handoff.js';
import { MarketConfig } from '../../config/market-schema.js';
import { Config } from '../../config/schema.js';
import { canonicalJson, CatalogueEntry } from '../../market/catalogue-schema.js';
import { packDirectory } from '../../market/car-pack.js';
import { IpfsError, unpackVerified } from '../../market/ipfs.js';
import { parseFetchLink } from '../../market/links.js';
import { findEntry, searchEntries, type CatalogueView } from '../../market/market.js';
import { parseYggAddress } from '../../market/ygg.js';
import { MarketScreen } from '../../panel/market.js';

const t = suite('market: units');

async function refusal(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (error) {
    assert.instance(error, IpfsError);
    return (error as Error).message;
  }
  throw new Error('expected a refusal');
}

const ENTRY = {
  name: 'acme', summary: 'Acme office', layer: 'yggdrasil', contact: 'admin@acme.example', flake: 'nix://github/acme/net#acme',
  narHash: `sha256-${'A'.repeat(43)}=`, publisher: 'admin@acme.example', apps: ['syncthing'],
};

t('the signed form is the JSON with sorted keys at every level', () => {
  assert.is(canonicalJson({ b: [{ z: 1, a: 'x' }], a: null }), '{"a":null,"b":[{"a":"x","z":1}]}');
  assert.is(canonicalJson(CatalogueEntry.parse(ENTRY)), canonicalJson(CatalogueEntry.parse({ ...ENTRY })));
});

t('entries: controls, a missing revision and hash, and odd mirrors are refused with the reason', () => {
  assert.ok(CatalogueEntry.safeParse(ENTRY).success);
  const issues = (value: unknown) => (CatalogueEntry.safeParse(value).error?.issues ?? []).map((i) => `${i.path.join('.')}: ${i.message}`);
  assert.equal(issues({ ...ENTRY, summary: 'Acme\x1b]0;pwned\x07' }), ['summary: contains a control character']);
  assert.equal(issues({ ...ENTRY, narHash: undefined }), [': names neither a revision nor a narHash: a mirror could not be checked against it']);
  assert.equal(issues({ ...ENTRY, mirrors: ['https://evil.example'] }), ['mirrors.0: nix://ipfs-CID[/PATH] or nix://ygg-ADDRESS[/PATH]']);
  assert.equal(issues({ ...ENTRY, funding: { kind: 'donation', url: 'http://acme.example' } }), ['funding.url: an https:// URL']);
  assert.ok(CatalogueEntry.safeParse({ ...ENTRY, description: 'line one\nline two' }).success, 'a description may have lines');
});

t('config: no catalogues by default; a name listed twice is refused', () => {
  assert.equal(MarketConfig.parse({}).catalogues, []);
  assert.is(MarketConfig.parse({}).ipfsGateway, 'http://127.0.0.1:8080');
  const twice = MarketConfig.safeParse({ catalogues: [{ name: 'a', url: '/srv/cat', allowedSigners: '/k' }, { name: 'a', url: 'https://x.example/c.json', allowedSigners: '/k' }] });
  assert.is(twice.error?.issues[0]?.message, 'catalogue "a" is listed twice');
  assert.not.ok(MarketConfig.safeParse({ catalogues: [{ name: 'a', url: 'http://example.com/c.json', allowedSigners: '/k' }] }).success, 'plain http only on loopback');
  assert.ok(Config.safeParse({ market: { catalogues: [{ name: 'a', url: 'git+https://git.example/cat', allowedSigners: '/k' }] } }).success);
});

t('nix://ipfs- and nix://ygg- links', () => {
  assert.equal(parseFetchLink('nix://ipfs-bafyabc/sub/dir#acme'), { kind: 'ipfs', cid: 'bafyabc', subpath: ['sub', 'dir'], name: 'acme' });
  assert.equal(parseFetchLink('nix://ygg-200:1::1/net'), { kind: 'ygg', address: '200:1::1', repoPath: ['net'], name: null });
  assert.is(parseFetchLink('nix://ipfs-bafyabc/../etc#acme'), null);
  assert.is(parseFetchLink('nix://github/acme/net#acme'), null);
  assert.is(parseYggAddress('201:ABCD::1'), '201:abcd::1');
  assert.throws(() => parseYggAddress('2001:db8::1'), /not a Yggdrasil address/);
  assert.throws(() => parseYggAddress('200.1.1.1'), /not an IPv6 address/);
});

const VIEW: CatalogueView = {
  name: 'friends', url: '/srv/cat', title: 'Friends', state: { kind: 'fresh', fetchedAt: 0 },
  entries: [
    { visible: true, catalogue: 'friends', entry: CatalogueEntry.parse(ENTRY) },
    { visible: true, catalogue: 'friends', entry: CatalogueEntry.parse({ ...ENTRY, name: 'office', summary: 'Cloud', layer: 'wireguard', apps: ['nextcloud'] }) },
    { visible: false, catalogue: 'friends', name: 'evil', reason: 'the signature does not verify' },
  ],
};
const visible = VIEW.entries.filter((e) => e.visible) as Array<Extract<CatalogueView['entries'][number], { visible: true }>>;

t('search matches every word anywhere; names may be qualified', () => {
  assert.equal(searchEntries(visible, 'NEXTcloud wireguard').map((e) => e.entry.name), ['office']);
  assert.equal(searchEntries(visible, '').length, 2);
  assert.ok(findEntry(visible, 'friends/acme').ok);
  const twice = findEntry([...visible, { ...visible[0]!, catalogue: 'other' }], 'acme');
  assert.equal(twice, { ok: false, message: '"acme" is in several catalogues: friends/acme, other/acme; name one' });
});

t('terminals: $TERMINAL first, then the known ones in order; none on an empty PATH', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'terms-'));
  try {
    for (const name of ['xterm', 'foot', 'myterm']) fs.writeFileSync(path.join(dir, name), '#!/bin/true\n', { mode: 0o755 });
    assert.equal(findTerminal({ PATH: dir }), { program: path.join(dir, 'foot'), prefix: [] });
    assert.equal(findTerminal({ PATH: dir, TERMINAL: 'myterm' }), { program: path.join(dir, 'myterm'), prefix: ['-e'] });
    assert.equal(findTerminal({ PATH: dir, TERMINAL: 'xterm -e sh' }), { program: path.join(dir, 'foot'), prefix: [] }, 'a $TERMINAL with arguments is not run');
    assert.is(findTerminal({ PATH: path.join(dir, 'none') }), null);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

t('a CAR whose root is another CID, or that lacks a block, is refused and leaves nothing', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'car-'));
  try {
    fs.mkdirSync(path.join(dir, 'src', 'sub'), { recursive: true });
    fs.writeFileSync(path.join(dir, 'src', 'flake.nix'), '{ outputs = _: { }; }\n');
    fs.writeFileSync(path.join(dir, 'src', 'sub', 'configs.json'), '{}\n');
    const packed = await packDirectory(path.join(dir, 'src'));
    const other = await packDirectory(path.join(dir, 'src', 'sub'));
    assert.match(await refusal(unpackVerified(packed.car, other.cid, path.join(dir, 'out'))), /the CAR's root is \S+, not /);
    // The same blocks but one, under the same root.
    const reader = await CarReader.fromBytes(packed.car);
    const blocks = [];
    for await (const block of reader.blocks()) blocks.push(block);
    const { writer, out } = CarWriter.create([packed.cid]);
    const chunks: Uint8Array[] = [];
    const collected = (async () => { for await (const chunk of out) chunks.push(chunk); })();
    // flake.nix's file node (it carries its mode, and its content inline), which the root links to.
    const flakeBlock = blocks.findIndex((block) => block.cid.code === 0x70 && Buffer.from(block.bytes).includes('outputs'));
    assert.ok(flakeBlock >= 0);
    for (const block of blocks.filter((_, index) => index !== flakeBlock)) await writer.put(block);
    await writer.close();
    await collected;
    assert.match(await refusal(unpackVerified(Buffer.concat(chunks), packed.cid, path.join(dir, 'out'))), /the CAR lacks block/);
    assert.equal(fs.readdirSync(dir).sort(), ['src']);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

t('the Market tab: progress, search as you type, detail, review, join', async () => {
  const joins: string[][] = [];
  let changes = 0;
  const screen = new MarketScreen({
    load: async (onProgress) => {
      onProgress({ kind: 'fetching', catalogue: 'friends', url: '/srv/cat' });
      onProgress({ kind: 'done', catalogue: 'friends', view: VIEW });
      return [VIEW];
    },
    resolve: async (_entry, onAttempt) => {
      onAttempt({ uri: 'nix://github/acme/net#acme', outcome: 'used', detail: 'the primary flake answers' });
      return { ok: true, joinRef: 'nix://github/acme/net#acme', attempts: [] };
    },
    join: async (args) => {
      joins.push(args);
      return { code: 0, output: args[0] === '--print-review' ? 'hiboss join: review' : 'Added VM "office"' };
    },
  }, () => changes++);
  await screen.load();
  assert.ok(changes >= 2, 'redrawn as catalogues arrive');
  assert.match(screen.view().join('\n'), /catalogue friends: fetched now; 1 hidden/);
  for (const ch of 'cloud') await screen.key(ch, ch);
  assert.equal(screen.matches.map((m) => m.entry.name), ['office']);
  await screen.key('enter', undefined);
  assert.match(screen.view().join('\n'), /layer +wireguard/);
  await screen.key('j', 'j');
  assert.match(screen.view().join('\n'), /Press \{bold\}y\{\/bold\} to join[\s\S]*using: nix:\/\/github\/acme\/net#acme: the primary flake answers[\s\S]*hiboss join: review/);
  await screen.key('y', 'y');
  assert.equal(joins, [['--print-review', 'nix://github/acme/net#acme'], ['--yes', 'nix://github/acme/net#acme']]);
  assert.match(screen.view().join('\n'), /Added VM "office"/);
  await screen.key('enter', undefined);
  await screen.key('escape', undefined); // clears the search
  await screen.key('escape', undefined);
  assert.ok(screen.closed);
});

t.run();
