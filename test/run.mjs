#!/usr/bin/env node
// Runs every compiled test file (dist/test/**/*.test.js) in a process of its own,
// one after another — real WMs and QEMUs are heavy on 2 cores, and a crash in one
// file must not hide the others. Prints uvu's output, then the one line CI reads:
// "N passed, N failed", counted from the real per-test results.
//
//   node test/run.mjs [FILTER…]   only files whose path contains one of the filters
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const root = path.join(repo, 'dist', 'test');
const FILE_TIMEOUT_MS = 180_000;
const filters = process.argv.slice(2);

function findTests(dir) {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return findTests(full);
    return entry.name.endsWith('.test.js') ? [full] : [];
  });
}

// tsc never deletes: a compiled file whose test source is gone (moved, split) is not a test.
const hasSource = (file) => fs.existsSync(path.join(repo, path.relative(path.join(repo, 'dist'), file)).replace(/\.js$/, '.ts'));

const files = findTests(root)
  .sort()
  .filter(hasSource)
  .filter((file) => filters.length === 0 || filters.some((f) => file.includes(f)));

function runFile(file) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--enable-source-maps', file], {
      cwd: repo,
      env: { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0' },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true, // its own process group: a timeout ends everything it started
    });
    let out = '';
    child.stdout.on('data', (chunk) => {
      out += chunk;
      process.stdout.write(chunk);
    });
    child.stderr.on('data', (chunk) => process.stderr.write(chunk));
    const timer = setTimeout(() => {
      console.error(`\n${path.relative(repo, file)}: timed out after ${FILE_TIMEOUT_MS} ms`);
      // SIGTERM first: the harness then ends every process it started (they run in
      // sessions of their own, out of this group's reach); SIGKILL if that hangs.
      try {
        process.kill(-child.pid, 'SIGTERM');
      } catch {}
      setTimeout(() => {
        try {
          process.kill(-child.pid, 'SIGKILL');
        } catch {}
      }, 5000).unref();
    }, FILE_TIMEOUT_MS);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ out, code, signal });
    });
  });
}

let passed = 0;
let failed = 0;
const broken = [];
const started = Date.now();
for (const file of files) {
  const name = path.relative(root, file);
  console.log(`\n== ${name}`);
  const { out, code, signal } = await runFile(file);
  const total = Number(/Total:\s+(\d+)/.exec(out)?.[1] ?? NaN);
  const ok = Number(/Passed:\s+(\d+)/.exec(out)?.[1] ?? NaN);
  if (Number.isNaN(total) || Number.isNaN(ok)) {
    // Crashed or timed out before uvu summed up: the file counts as one failure.
    failed += 1;
    broken.push(`${name} (exit ${code ?? signal}, no summary)`);
    continue;
  }
  passed += ok;
  failed += total - ok;
  if (total - ok > 0 || code !== 0) broken.push(name);
  if (code !== 0 && total === ok) failed += 1; // a failing hook or a crash after the tests
}
console.log(`\n${files.length} files in ${((Date.now() - started) / 1000).toFixed(1)} s`);
if (broken.length) console.log(`failing: ${broken.join(', ')}`);
console.log(`${passed} passed, ${failed} failed`);
process.exitCode = failed === 0 && files.length > 0 ? 0 : 1;
