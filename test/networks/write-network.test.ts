import { execa } from 'execa';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { ConfigsError } from '../../networks/configs-schema.js';
import { renderFlakeNix } from '../../networks/flake-template.js';
import { writeNetwork } from '../../networks/write-network.js';
import { errorMessage } from '../../shared/error-message.js';

const t = suite('writeNetwork');
let dir: string;
t.before.each(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hiboss-networks-'));
});
t.after.each(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

const seed = {
  default: { system: 'x86_64-linux', adminMode: 'local', networkLayer: 'yggdrasil', applications: { syncthing: { enable: true, sharedFolders: ['/shared/docs'] } } },
};
const listing = (at: string) => fs.readdirSync(at).sort();

t('creates DIR/NAME with configs.json and flake.nix, nothing else', async () => {
  const written = await writeNetwork({ dir, name: 'acme', configs: seed, flakeRef: 'github:hiboss/hiboss' });
  assert.is(written.path, path.join(dir, 'acme'));
  assert.is(written.created, true);
  assert.equal(listing(dir), ['acme'], 'no temporary left beside it');
  assert.equal(listing(written.path), ['configs.json', 'flake.nix']);
  assert.equal(JSON.parse(fs.readFileSync(written.configsPath, 'utf8')), seed);
  assert.is(fs.readFileSync(written.flakePath, 'utf8'), renderFlakeNix({ flakeRef: 'github:hiboss/hiboss' }));
  // The written flake.nix is valid Nix.
  const parsed = await execa('nix-instantiate', ['--parse', written.flakePath], { reject: false });
  assert.is(parsed.exitCode, 0, parsed.stderr);
});

t('updates an existing network in place, keeping its other files', async () => {
  await writeNetwork({ dir, name: 'acme', configs: seed });
  fs.writeFileSync(path.join(dir, 'acme', 'flake.lock'), '{}\n');
  const changed = { default: { ...seed.default, applications: { gitServer: { enable: true } } } };
  const written = await writeNetwork({ dir, name: 'acme', configs: changed });
  assert.is(written.created, false);
  assert.equal(listing(written.path), ['configs.json', 'flake.lock', 'flake.nix']);
  assert.equal(JSON.parse(fs.readFileSync(written.configsPath, 'utf8')), changed);
});

t('invalid input writes nothing', async () => {
  assert.not.ok(fs.existsSync(path.join(dir, 'acme')));
  const bad = await writeNetwork({ dir, name: 'acme', configs: { default: { networkLayer: 'openvpn' } } }).catch((e: unknown) => e);
  assert.instance(bad, ConfigsError);
  assert.match(errorMessage(bad), /default\.networkLayer: expected one of/);
  const badRef = await writeNetwork({ dir, name: 'acme', configs: seed, flakeRef: '-x' }).catch((e: unknown) => e);
  assert.match(errorMessage(badRef), /starts with "-"/);
  const badName = await writeNetwork({ dir, name: '../escape', configs: seed }).catch((e: unknown) => e);
  assert.match(errorMessage(badName), /network name "..\/escape"/);
  assert.equal(listing(dir), []);
});

t('a failure half-way through an update leaves the old network', async () => {
  await writeNetwork({ dir, name: 'acme', configs: seed });
  const target = path.join(dir, 'acme');
  const oldConfigs = fs.readFileSync(path.join(target, 'configs.json'), 'utf8');
  // flake.nix is replaced second; a non-empty directory in its place makes that rename fail.
  fs.rmSync(path.join(target, 'flake.nix'));
  fs.mkdirSync(path.join(target, 'flake.nix', 'blocker'), { recursive: true });
  const changed = { default: { ...seed.default, adminMode: 'shared', adminKeys: ['ssh-ed25519 AAAAC3Nza admin@x'] } };
  const error = await writeNetwork({ dir, name: 'acme', configs: changed }).catch((e: unknown) => e);
  assert.instance(error, Error);
  assert.is(fs.readFileSync(path.join(target, 'configs.json'), 'utf8'), oldConfigs, 'configs.json put back');
  assert.equal(listing(target), ['configs.json', 'flake.nix'], 'no temporaries left');
});

t('a name taken by a file is refused', async () => {
  fs.writeFileSync(path.join(dir, 'acme'), 'not a network');
  const error = await writeNetwork({ dir, name: 'acme', configs: seed }).catch((e: unknown) => e);
  assert.match(errorMessage(error), /exists and is not a directory/);
});

t.run();
