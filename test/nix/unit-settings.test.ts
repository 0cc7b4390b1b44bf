/**
 * Nix installs (issue 21): the NixOS and home-manager modules' units take
 * KillMode=process and the rest of packaging/systemd/hiboss.service's settings
 * from nix/lib/unit-settings.nix, which must agree with the packaged unit; the
 * package builds its npm dependencies with importNpmLock (no placeholder hash).
 * Evaluated offline with nix-instantiate against small stand-ins of nixpkgs' lib
 * (no nixpkgs here); importNpmLock's stand-in accepts only the arguments
 * recorded from nixpkgs in nix/upstream/import-npm-lock.json.
 */
import fs from 'node:fs';
import path from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { nixEval, REPO } from './nix-eval.js';

const t = suite('Nix installs: unit settings and the package');
const UNIT = path.join(REPO, 'nix', 'lib', 'unit-settings.nix');

/** A systemd unit file as { Section: { Key: [values] } }. */
function parseUnit(text: string): Record<string, Record<string, string[]>> {
  const sections: Record<string, Record<string, string[]>> = {};
  let current: Record<string, string[]> | undefined;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const header = /^\[(.+)\]$/.exec(line);
    if (header) {
      current = sections[header[1]!] = {};
      continue;
    }
    const [key, ...rest] = line.split('=');
    (current![key!] ??= []).push(rest.join('='));
  }
  return sections;
}

const LIB = `{
  mkEnableOption = _: null; mkOption = x: x; literalExpression = x: x; mkDefault = x: x;
  types = { package = null; bool = null; };
  mkIf = condition: content: if condition then content else { };
  mkMerge = builtins.foldl' (a: b: a // b) { };
  getExe = _: "/hiboss/bin/hiboss";
  makeBinPath = packages: builtins.concatStringsSep ":" (map (p: "\${p}/bin") packages);
}`;
const PKGS = `{ stdenv.hostPlatform.system = "x86_64-linux"; qemu_kvm = "/qemu"; passt = "/passt"; }`;
const CONFIG = `{ services.hiboss = { enable = true; package = "/hiboss"; keybindings = false; waybar.enable = false; }; nix.package = "/nix"; }`;

t('unit-settings.nix says what packaging/systemd/hiboss.service says', async () => {
  const unit = parseUnit(fs.readFileSync(path.join(REPO, 'packaging', 'systemd', 'hiboss.service'), 'utf8'));
  const settings = (await nixEval('{ file }: import file', { file: UNIT })) as {
    description: string;
    partOf: string[];
    after: string[];
    wantedBy: string[];
    service: Record<string, string>;
  };
  assert.equal([settings.description], unit.Unit!.Description);
  assert.equal(settings.partOf, unit.Unit!.PartOf);
  assert.equal(settings.after, unit.Unit!.After);
  assert.equal(settings.wantedBy, unit.Install!.WantedBy);
  const { ExecStart: _exec, ...service } = unit.Service!;
  assert.equal(Object.fromEntries(Object.entries(service).map(([k, v]) => [k, v.join(' ')])), settings.service);
  assert.is(settings.service.KillMode, 'process');
});

t('the NixOS module\'s user unit: KillMode=process and the packaged settings', async () => {
  const unit = (await nixEval(
    `{ file, unitFile }: let m = (import file { self = { }; }) { config = ${CONFIG}; lib = ${LIB}; pkgs = ${PKGS}; }; in
       { unit = m.config.systemd.user.services.hiboss; settings = import unitFile; }`,
    { file: path.join(REPO, 'nix', 'nixos-module.nix'), unitFile: UNIT },
  )) as { unit: { serviceConfig: Record<string, string>; description: string; wantedBy: string[]; partOf: string[]; path: string[] }; settings: { service: Record<string, string>; description: string; wantedBy: string[] } };
  assert.is(unit.unit.serviceConfig.KillMode, 'process');
  assert.equal(unit.unit.serviceConfig, { ...unit.settings.service, ExecStart: '/hiboss/bin/hiboss daemon' });
  assert.is(unit.unit.description, unit.settings.description);
  assert.equal(unit.unit.wantedBy, unit.settings.wantedBy);
  assert.equal(unit.unit.path, ['/nix', '/qemu', '/passt'], "nix, the member's QEMU and passt");
});

t('the home-manager module\'s user unit: KillMode=process and the packaged settings', async () => {
  const unit = (await nixEval(
    `{ file, unitFile }: let m = (import file { self = { }; }) { config = ${CONFIG}; lib = ${LIB}; pkgs = ${PKGS}; }; in
       { unit = m.config.systemd.user.services.hiboss; settings = import unitFile; }`,
    { file: path.join(REPO, 'nix', 'home-manager.nix'), unitFile: UNIT },
  )) as { unit: { Service: Record<string, unknown>; Unit: { Description: string }; Install: { WantedBy: string[] } }; settings: { service: Record<string, string>; description: string; wantedBy: string[] } };
  assert.is(unit.unit.Service.KillMode, 'process');
  const { ExecStart, Environment, ...rest } = unit.unit.Service;
  assert.equal(rest, unit.settings.service);
  assert.is(ExecStart, '/hiboss/bin/hiboss daemon');
  assert.match(String((Environment as string[])[0]), /^PATH=\/qemu\/bin:\/passt\/bin:/);
  assert.is(unit.unit.Unit.Description, unit.settings.description);
  assert.equal(unit.unit.Install.WantedBy, unit.settings.wantedBy);
});

t('the package builds its npm dependencies with importNpmLock from package-lock.json: no npmDepsHash', async () => {
  const recorded = JSON.parse(fs.readFileSync(path.join(REPO, 'nix', 'upstream', 'import-npm-lock.json'), 'utf8')) as { arguments: string[] };
  const result = (await nixEval(
    `{ file, allowed }: let
       allowedArgs = builtins.fromJSON allowed;
       lib = {
         importJSON = f: builtins.fromJSON (builtins.readFile f);
         fileset = { toSource = { root, fileset }: root; unions = x: x; };
         escapeShellArgs = builtins.concatStringsSep " "; getExe = _: "/node";
         licenses.mit = "mit"; platforms.linux = [ ];
       };
       importNpmLock = {
         __functor = self: args:
           let unknown = builtins.filter (a: !(builtins.elem a allowedArgs)) (builtins.attrNames args); in
           if unknown != [ ] then throw "importNpmLock takes no \${builtins.toJSON unknown}" else { fromLock = args; };
         npmConfigHook = "npm-config-hook";
       };
       drv = import file { inherit lib importNpmLock; buildNpmPackage = attrs: attrs; nodejs_20 = "/node"; makeWrapper = "/wrap"; };
     in {
       hasHash = drv ? npmDepsHash;
       lockName = drv.npmDeps.fromLock.packageLock.name;
       lockPackages = builtins.length (builtins.attrNames drv.npmDeps.fromLock.packageLock.packages);
       packageName = drv.npmDeps.fromLock.package.name;
       hook = drv.npmConfigHook;
     }`,
    { file: path.join(REPO, 'nix', 'package.nix'), allowed: JSON.stringify(recorded.arguments) },
  )) as { hasHash: boolean; lockName: string; lockPackages: number; packageName: string; hook: string };
  const lock = JSON.parse(fs.readFileSync(path.join(REPO, 'package-lock.json'), 'utf8')) as { name: string; packages: Record<string, unknown> };
  assert.is(result.hasHash, false, 'no npmDepsHash (placeholder or not)');
  assert.is(result.lockName, lock.name);
  assert.is(result.lockPackages, Object.keys(lock.packages).length, 'the whole package-lock.json');
  assert.is(result.packageName, 'hiboss');
  assert.is(result.hook, 'npm-config-hook');
  assert.not.match(fs.readFileSync(path.join(REPO, 'nix', 'package.nix'), 'utf8'), /fakeHash|npmDepsHash\s*=/);
});

t.run();
