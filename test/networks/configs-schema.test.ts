import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { ConfigsError, checkConfigs, parseConfigs } from '../../networks/configs-schema.js';
import { FlakeRefError, checkFlakeRef, parseFlakeVmRef } from '../../networks/flake-ref.js';
import { renderFlakeNix } from '../../networks/flake-template.js';

const FIXTURES = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'test', 'fixtures', 'networks');
const t = suite('configs.json schema');

function problemsOf(run: () => unknown): string[] {
  try {
    run();
  } catch (error) {
    assert.instance(error, ConfigsError);
    return (error as ConfigsError).problems;
  }
  assert.unreachable('accepted');
  return [];
}

t("accepts the seed's example and fills in defaults", () => {
  const configs = parseConfigs(fs.readFileSync(path.join(FIXTURES, 'seed.json'), 'utf8'));
  const machine = configs.default!;
  assert.is(machine.networkLayer, 'yggdrasil');
  assert.equal(machine.applications.syncthing, { enable: true, sharedFolders: ['/shared/docs'], devices: [] });
  assert.equal(machine.desktop, { enable: true });
  assert.equal(machine.applications.gitServer, { enable: false });
  assert.equal(machine.yggdrasil, { peers: [], address: null });
  assert.is(machine.wireguard.listenPort, 51820);
});

t('an empty machine is all defaults', () => {
  const machine = checkConfigs({ vm: {} }).vm!;
  assert.is(machine.system, 'x86_64-linux');
  assert.is(machine.adminMode, 'local');
  assert.is(machine.networkLayer, 'yggdrasil');
});

t('reports every problem with its path', () => {
  const problems = problemsOf(() =>
    checkConfigs({
      default: { networkLayer: 'wireguard', adminMode: 'root', applications: { nextcloud: { enable: true, extra: 1 } } },
      'bad name!': {},
    }),
  );
  assert.ok(problems.includes('default.adminMode: expected one of local, remote, shared'), problems.join('\n'));
  assert.ok(problems.includes('default.applications.nextcloud.extra: unknown key'), problems.join('\n'));
  assert.ok(problems.includes('bad name!: config names are 1–32 of A–Z a–z 0–9 _ -'), problems.join('\n'));
});

t('bounds: long strings, long lists, bad ports', () => {
  const tooMany = Array.from({ length: 65 }, (_, i) => `/shared/${i}`);
  assert.ok(problemsOf(() => checkConfigs({ d: { applications: { syncthing: { sharedFolders: tooMany } } } })).includes(
    'd.applications.syncthing.sharedFolders: at most 64 items',
  ));
  assert.ok(problemsOf(() => checkConfigs({ d: { applications: { syncthing: { sharedFolders: [`/${'a'.repeat(300)}`] } } } })).includes(
    'd.applications.syncthing.sharedFolders.0: at most 256 characters',
  ));
  const portProblems = problemsOf(() => checkConfigs({ d: { networkLayer: 'wireguard', wireguard: { address: '10.0.0.1/24', listenPort: 70000 } } }));
  assert.ok(portProblems.some((p) => p.startsWith('d.wireguard.listenPort: ')), portProblems.join('\n'));
});

t('parseConfigs: not JSON, not an object, empty', () => {
  assert.match(problemsOf(() => parseConfigs('{'))[0]!, /^\(root\): not JSON/);
  assert.equal(problemsOf(() => parseConfigs('{}')), ['(root): needs at least one config']);
  assert.match(problemsOf(() => parseConfigs('[]'))[0]!, /^\(root\): Invalid input: expected record/);
});

t('flake references', () => {
  assert.is(checkFlakeRef('git+https://git.acme.example/net?ref=main#acme'), 'git+https://git.acme.example/net?ref=main#acme');
  assert.equal(parseFlakeVmRef('path:/home/me/net#acme', 'x'), { flake: 'path:/home/me/net', configuration: 'acme' });
  assert.equal(parseFlakeVmRef('github:a/b', 'vm1'), { flake: 'github:a/b', configuration: 'vm1' });
  for (const bad of ['', '-x', 'a b', 'a`b', 'a"b', 'a\\b', 'a\nb', 'a|b', 'a>b']) {
    assert.throws(() => checkFlakeRef(bad), (error: unknown) => error instanceof FlakeRefError, JSON.stringify(bad));
  }
});

t('renderFlakeNix puts the hiboss flake in and refuses what could leave the string', () => {
  const text = renderFlakeNix({ flakeRef: 'git+https://git.example/hiboss?ref=v1' });
  assert.match(text, /inputs\.hiboss\.url = "git\+https:\/\/git\.example\/hiboss\?ref=v1";/);
  assert.match(text, /hiboss\.lib\.generateNixosModules \(builtins\.fromJSON \(builtins\.readFile \.\/configs\.json\)\)/);
  assert.throws(() => renderFlakeNix({ flakeRef: 'github:x/y";evil' }), /contains/);
  assert.throws(() => renderFlakeNix({ flakeRef: 'github:x/y${x}' }), /contains/);
  assert.throws(() => renderFlakeNix({ flakeRef: 'github:x/y#out' }), /must not name an output/);
});

t.run();
