import { execa } from 'execa';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { REPO } from './nix-eval.js';

const t = suite('nix files parse');

const SKIP = new Set(['node_modules', 'dist', '.git', '.cache']);
function nixFiles(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    if (SKIP.has(entry.name)) return [];
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return nixFiles(full);
    return entry.name.endsWith('.nix') ? [full] : [];
  });
}

t('every .nix file in the repository parses', async () => {
  const files = nixFiles(REPO);
  // The flake and the module tree exist, so an empty list means the walk is broken.
  for (const required of ['flake.nix', 'modules/hiboss.nix', 'nix/lib/shape-configs.nix', 'nix/template/flake.nix']) {
    assert.ok(files.includes(path.join(REPO, required)), `${required} found`);
  }
  const failures: string[] = [];
  for (const file of files) {
    const result = await execa('nix-instantiate', ['--parse', file], { reject: false });
    if (result.failed) failures.push(`${path.relative(REPO, file)}: ${result.stderr.trim()}`);
  }
  assert.equal(failures, [], failures.join('\n'));
});

t('a broken .nix file is reported (the check can fail)', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hiboss-parse-'));
  try {
    const file = path.join(dir, 'broken.nix');
    fs.writeFileSync(file, '{ a = 1; b = ; }\n');
    const result = await execa('nix-instantiate', ['--parse', file], { reject: false });
    assert.ok(result.failed);
    assert.match(result.stderr, /syntax error/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

t.run();
