/**
 * nix/package.nix builds hiboss from the directories tsc compiles (tsconfig.json's
 * `include`, which it reads) and wraps node with bin/hiboss's shebang flags (read
 * by nix/lib/node-flags.nix). Both are checked here against the real files: a
 * directory of TypeScript left out of `include` would break the Nix build (tsc
 * cannot find the import), flags read differently would run the daemon unlike
 * `hiboss daemon` and its systemd unit.
 */
import fs from 'node:fs';
import path from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { shebangNodeFlags } from '../../cli/verbs/systemd-unit.js';
import { nixEval, REPO } from './nix-eval.js';

const t = suite('the Nix package: its sources and its wrapper');

const NOT_SOURCES = new Set(['node_modules', 'dist', '.git', '.cache']);

function holdsTypeScript(dir: string): boolean {
  return fs.readdirSync(dir, { withFileTypes: true }).some((entry) =>
    entry.isDirectory() ? holdsTypeScript(path.join(dir, entry.name)) : entry.name.endsWith('.ts'),
  );
}

t('every top-level directory with TypeScript is in tsconfig.json\'s include, the source set of nix/package.nix', () => {
  const withTypeScript = fs
    .readdirSync(REPO, { withFileTypes: true })
    .filter((entry) => entry.isDirectory() && !NOT_SOURCES.has(entry.name) && holdsTypeScript(path.join(REPO, entry.name)))
    .map((entry) => entry.name)
    .sort();
  assert.ok(withTypeScript.includes('daemon') && withTypeScript.includes('config'), `the walk found the sources: ${withTypeScript.join(' ')}`);
  const include = (JSON.parse(fs.readFileSync(path.join(REPO, 'tsconfig.json'), 'utf8')) as { include: string[] }).include;
  assert.equal([...include].sort(), withTypeScript);
  assert.match(fs.readFileSync(path.join(REPO, 'nix', 'package.nix'), 'utf8'), /importJSON \(root \+ "\/tsconfig\.json"\)\)\.include/);
});

t('the Nix wrapper passes node the flags of bin/hiboss\'s shebang, read as hiboss systemd-unit reads them', async () => {
  const script = path.join(REPO, 'bin', 'hiboss');
  const shebang = fs.readFileSync(script, 'utf8').split('\n', 1)[0]!;
  const expected = shebangNodeFlags(shebang);
  assert.ok(expected.length > 0, `bin/hiboss sets node flags: ${shebang}`);
  assert.equal(await nixEval('{ file, script }: import file script', { file: path.join(REPO, 'nix', 'lib', 'node-flags.nix'), script }), expected);
});

t('node-flags.nix: no flags, another interpreter path, tabs', async () => {
  const dir = fs.mkdtempSync(path.join(REPO, 'dist', 'node-flags-'));
  try {
    const cases: Record<string, string[]> = {
      '#!/usr/bin/env node\nx': [],
      '#!/nix/store/abc-nodejs/bin/node --a\t--b=1\n': ['--a', '--b=1'],
      '#!/bin/sh\n': [],
    };
    for (const [text, flags] of Object.entries(cases)) {
      const script = path.join(dir, 'script');
      fs.writeFileSync(script, text);
      assert.equal(await nixEval('{ file, script }: import file script', { file: path.join(REPO, 'nix', 'lib', 'node-flags.nix'), script }), flags, JSON.stringify(text));
      assert.equal(shebangNodeFlags(text.split('\n', 1)[0]!), flags, `the TypeScript reading agrees: ${JSON.stringify(text)}`);
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

t.run();
