#!/usr/bin/env node
// Runs every compiled test file (dist/test/**/*.test.js) in a process of its own,
// one after another — real WMs and QEMUs are heavy on 2 cores, and a crash in one
// file must not hide the others. Prints uvu's output, then the one line CI reads:
// "N passed, N failed", counted from the real per-test results. Each file's own
// time follows its output ("-- FILE: 12.3 s"), and the ten slowest files are listed
// before that last line.
//
//   node test/run.mjs [FILTER…]   only files whose path contains one of the filters
//   node test/run.mjs FILE.js…    exactly these compiled files (the runner's own test uses this)
//
// Every file runs with TMPDIR set to one temp dir of this run (and HIBOSS_TEST_RUN in
// its environment). A file gets HIBOSS_TEST_FILE_TIMEOUT_MS (180 s unless set),
// stretched by the harness's load factor; past it, its process group gets SIGTERM (the
// harness then ends what it started) and SIGKILL 5 s later. After every file, whatever
// still runs with the run's temp dir in its argv or HIBOSS_TEST_RUN in its environment
// (a QEMU the daemon under test started in a session of its own) is killed and named.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const root = path.join(repo, 'dist', 'test');
const { loadFactor } = await import(path.join(root, 'harness', 'bounds.js'));
const FILE_TIMEOUT_MS = Number(process.env.HIBOSS_TEST_FILE_TIMEOUT_MS || 180_000);
if (!Number.isFinite(FILE_TIMEOUT_MS) || FILE_TIMEOUT_MS <= 0) throw new Error('HIBOSS_TEST_FILE_TIMEOUT_MS must be a positive number of ms');
const args = process.argv.slice(2);
const explicit = args.filter((arg) => arg.endsWith('.js') && fs.existsSync(arg)).map((arg) => path.resolve(arg));
const filters = args.filter((arg) => !explicit.includes(path.resolve(arg)));

function findTests(dir) {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return findTests(full);
    return entry.name.endsWith('.test.js') ? [full] : [];
  });
}

// tsc never deletes: a compiled file whose test source is gone (moved, split) is not a test.
const hasSource = (file) => fs.existsSync(path.join(repo, path.relative(path.join(repo, 'dist'), file)).replace(/\.js$/, '.ts'));

const files = explicit.length
  ? explicit
  : findTests(root)
      .sort()
      .filter(hasSource)
      .filter((file) => filters.length === 0 || filters.some((f) => file.includes(f)));

// Short: the sandboxes' unix sockets live under it, and their paths are limited to 107 bytes.
const runDir = fs.mkdtempSync(path.join(os.tmpdir(), 'hbrun-'));
const marker = `HIBOSS_TEST_RUN=${runDir}`;

/** Every process that belongs to this run: its temp dir in argv, or its marker in the environment. */
function leftovers() {
  const found = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      const argv = fs.readFileSync(`/proc/${entry}/cmdline`, 'utf8');
      let mine = argv.includes(runDir);
      if (!mine) mine = fs.readFileSync(`/proc/${entry}/environ`, 'utf8').split('\0').includes(marker);
      if (mine) found.push({ pid: Number(entry), argv: argv.split('\0').filter(Boolean).join(' ') });
    } catch {
      /* gone, or not ours to read */
    }
  }
  return found;
}

function sweep(name) {
  const left = leftovers();
  for (const { pid } of left) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {}
  }
  if (left.length) {
    console.error(`${name}: swept ${left.length} leftover process(es):`);
    for (const { pid, argv } of left) console.error(`  ${pid} ${argv.slice(0, 160)}`);
  }
  return left.length;
}

let current;
for (const [name, number] of [['SIGINT', 2], ['SIGTERM', 15]]) {
  process.on(name, () => {
    try {
      if (current) process.kill(-current.pid, 'SIGKILL');
    } catch {}
    sweep('interrupted run');
    fs.rmSync(runDir, { recursive: true, force: true });
    process.exit(128 + number);
  });
}

function runFile(file) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--enable-source-maps', file], {
      cwd: repo,
      env: { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0', TMPDIR: runDir, HIBOSS_TEST_RUN: runDir },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true, // its own process group: a timeout ends everything it started
    });
    current = child;
    let out = '';
    child.stdout.on('data', (chunk) => {
      out += chunk;
      process.stdout.write(chunk);
    });
    child.stderr.on('data', (chunk) => process.stderr.write(chunk));
    const limit = Math.round(FILE_TIMEOUT_MS * loadFactor());
    const timer = setTimeout(() => {
      console.error(`\n${path.relative(repo, file)}: timed out after ${limit} ms`);
      // SIGTERM first: the harness then ends every process it started (some run in
      // sessions of their own, out of this group's reach); SIGKILL if that hangs.
      try {
        process.kill(-child.pid, 'SIGTERM');
      } catch {}
      setTimeout(() => {
        try {
          process.kill(-child.pid, 'SIGKILL');
        } catch {}
      }, 5000).unref();
    }, limit);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      current = undefined;
      resolve({ out, code, signal });
    });
  });
}

let passed = 0;
let failed = 0;
let swept = 0;
const broken = [];
const times = [];
const started = Date.now();
for (const file of files) {
  const name = path.relative(root, file);
  console.log(`\n== ${name}`);
  const fileStarted = Date.now();
  const { out, code, signal } = await runFile(file);
  const seconds = (Date.now() - fileStarted) / 1000;
  times.push({ name, seconds });
  console.log(`-- ${name}: ${seconds.toFixed(1)} s`);
  swept += sweep(name);
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
fs.rmSync(runDir, { recursive: true, force: true });
console.log(`\n${files.length} files in ${((Date.now() - started) / 1000).toFixed(1)} s`);
const slowest = [...times].sort((a, b) => b.seconds - a.seconds).slice(0, 10);
console.log(`slowest ${slowest.length}:`);
for (const { name, seconds } of slowest) console.log(`${seconds.toFixed(1).padStart(7)} s  ${name}`);
if (swept) console.log(`swept ${swept} leftover process(es) in all (named above)`);
if (broken.length) console.log(`failing: ${broken.join(', ')}`);
console.log(`${passed} passed, ${failed} failed`);
process.exitCode = failed === 0 && files.length > 0 ? 0 : 1;
