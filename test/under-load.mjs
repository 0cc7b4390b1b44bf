#!/usr/bin/env node
// The suite from a fresh clone, several times in a row, beside a second load: busy
// loops on the CPU *and* a loop booting the real test guest over and over (another
// QEMU-heavy job, test/guest-boot-loop.mjs). A test that waits on time instead of an
// event, or whose give-up point does not stretch with the load (test/harness/bounds.ts),
// shows up here as a failure.
//
//   node test/under-load.mjs [--runs N] [--hogs N] [--boot-loops N] [--here] [FILTER…]
//     --runs N        runs of the suite, one after another (default 3)
//     --hogs N        busy loops beside them (default 1)
//     --boot-loops N  guest boot loops beside them (default 1)
//     --here          test this working tree as built, not a fresh clone of its HEAD
//     FILTER…         passed to test/run.mjs (only those files)
//
// The fresh clone is `git clone` of this repository's HEAD (commit first: the working
// tree's changes are not in it) into a temp dir; it shares node_modules and .cache
// (the guest images) with this tree by symlink, as a worktree does, and is built with
// `npm run build` there. Prints, per run, its time, the highest 1-minute load average
// seen, the guest boots the loop made, and the runner's "failing:" and last line; then
// "N of N runs passed". Each run's whole output is kept in the temp dir. Exits 1 if
// any run failed. The clone is removed at the end.
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const option = (name, fallback) => {
  const at = args.indexOf(name);
  if (at === -1) return fallback;
  const value = Number(args.splice(at, 2)[1]);
  if (!Number.isInteger(value) || value < 0) throw new Error(`${name} needs a whole number`);
  return value;
};
const flag = (name) => {
  const at = args.indexOf(name);
  if (at !== -1) args.splice(at, 1);
  return at !== -1;
};
const runs = option('--runs', 3);
const hogCount = option('--hogs', 1);
const loopCount = option('--boot-loops', 1);
const inPlace = flag('--here');
const filters = args;

// The tree under test: a fresh clone of HEAD, built, with this tree's dependencies and guest cache.
let repo = here;
let cloneRoot;
if (!inPlace) {
  cloneRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'underload-'));
  repo = path.join(cloneRoot, 'hiboss');
  const head = execFileSync('git', ['-C', here, 'rev-parse', 'HEAD'], { encoding: 'utf8' }).trim();
  const dirty = execFileSync('git', ['-C', here, 'status', '--porcelain', '--untracked-files=no'], { encoding: 'utf8' }).trim();
  if (dirty) console.log('note: this tree has uncommitted changes; the clone tests HEAD without them');
  execFileSync('git', ['clone', '--quiet', '--no-hardlinks', here, repo], { stdio: 'inherit' });
  for (const shared of ['node_modules', '.cache']) {
    if (fs.existsSync(path.join(here, shared))) fs.symlinkSync(fs.realpathSync(path.join(here, shared)), path.join(repo, shared));
  }
  execFileSync('npm', ['run', '--silent', 'build'], { cwd: repo, stdio: 'inherit' });
  console.log(`fresh clone of ${head.slice(0, 12)} in ${repo}, built`);
}

const groups = [];
const startLoad = () => {
  // A busy loop per hog, at normal priority; a guest boot loop per --boot-loops.
  for (let i = 0; i < hogCount; i++) groups.push({ kind: 'hog', child: spawn(process.execPath, ['-e', 'for (;;) {}'], { stdio: 'ignore', detached: true }) });
  for (let i = 0; i < loopCount; i++) {
    const child = spawn(process.execPath, [path.join(repo, 'test', 'guest-boot-loop.mjs')], { stdio: ['ignore', 'pipe', 'inherit'], detached: true });
    let out = '';
    child.stdout.on('data', (chunk) => (out += chunk));
    const boots = new Promise((resolve) => child.on('close', () => resolve(Number(/(\d+) guest boots/.exec(out)?.[1] ?? 0))));
    groups.push({ kind: 'loop', child, boots });
  }
};
/** Ends the load (each in its own process group, so a loop's QEMU too); resolves with the guest boots made. */
const endLoad = async () => {
  for (const { child } of groups) {
    try {
      process.kill(-child.pid, 'SIGTERM');
    } catch {}
  }
  const boots = (await Promise.all(groups.filter((g) => g.kind === 'loop').map((g) => g.boots))).reduce((a, b) => a + b, 0);
  for (const { child } of groups) {
    try {
      process.kill(-child.pid, 'SIGKILL');
    } catch {}
  }
  groups.length = 0;
  return boots;
};
const removeClone = () => cloneRoot && fs.rmSync(cloneRoot, { recursive: true, force: true });
process.on('exit', () => {
  for (const { child } of groups) {
    try {
      process.kill(-child.pid, 'SIGKILL');
    } catch {}
  }
  removeClone();
});
for (const [name, number] of [['SIGINT', 2], ['SIGTERM', 15]]) process.on(name, () => process.exit(128 + number));

console.log(`${hogCount} busy loop(s) and ${loopCount} guest boot loop(s) on ${os.availableParallelism()} cores; ${runs} run(s)`);
let good = 0;
for (let run = 1; run <= runs; run++) {
  startLoad();
  const started = Date.now();
  let peak = 0;
  const sampler = setInterval(() => (peak = Math.max(peak, os.loadavg()[0])), 5000);
  const logFile = path.join(os.tmpdir(), `under-load-${process.pid}-run${run}.log`);
  const { code, last } = await new Promise((resolve) => {
    const child = spawn(process.execPath, [path.join(repo, 'test', 'run.mjs'), ...filters], { cwd: repo, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (chunk) => (out += chunk));
    child.on('close', (code) => {
      fs.writeFileSync(logFile, out);
      const lines = out.trim().split('\n');
      const failing = lines.find((line) => line.startsWith('failing:'));
      resolve({ code, last: [failing, lines.at(-1)].filter(Boolean).join('\n  ') });
    });
  });
  clearInterval(sampler);
  peak = Math.max(peak, os.loadavg()[0]);
  const boots = await endLoad();
  if (code === 0) good += 1;
  console.log(`run ${run}: ${((Date.now() - started) / 1000).toFixed(0)} s, load up to ${peak.toFixed(1)}, ${boots} guest boots beside it (output: ${logFile}) — ${last}`);
}
console.log(`${good} of ${runs} runs passed`);
process.exitCode = good === runs ? 0 : 1;
