#!/usr/bin/env node
// The whole suite, several times in a row, while busy loops occupy CPU cores: a
// test that waits on time instead of an event shows up here as a failure.
//
//   node test/under-load.mjs [--runs N] [--hogs N] [FILTER…]   (defaults: 3 runs, 1 hog)
//
// Prints each run's "N passed, N failed" line, then "N of N runs passed"; exits 1
// if any run failed. Build first (npm run build).
import { spawn } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const option = (name, fallback) => {
  const at = args.indexOf(name);
  if (at === -1) return fallback;
  const value = Number(args.splice(at, 2)[1]);
  if (!Number.isInteger(value) || value < 0) throw new Error(`${name} needs a whole number`);
  return value;
};
const runs = option('--runs', 3);
const hogCount = option('--hogs', 1);

// A busy loop per hog, at normal priority, for as long as the runs last.
const hogs = Array.from({ length: hogCount }, () =>
  spawn(process.execPath, ['-e', 'for (;;) {}'], { stdio: 'ignore' }),
);
const endHogs = () => hogs.forEach((hog) => hog.kill('SIGKILL'));
process.on('exit', endHogs);
process.on('SIGINT', () => process.exit(130));
console.log(`${hogCount} busy loop(s) on ${os.cpus().length} cores; ${runs} run(s)`);

let good = 0;
for (let run = 1; run <= runs; run++) {
  const started = Date.now();
  const { code, last } = await new Promise((resolve) => {
    const child = spawn(process.execPath, [path.join(here, 'run.mjs'), ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (chunk) => (out += chunk));
    child.on('close', (code) => {
      const lines = out.trim().split('\n');
      const failing = lines.find((line) => line.startsWith('failing:'));
      resolve({ code, last: [failing, lines.at(-1)].filter(Boolean).join('\n  ') });
    });
  });
  if (code === 0) good += 1;
  console.log(`run ${run}: ${((Date.now() - started) / 1000).toFixed(0)} s — ${last}`);
}
endHogs();
console.log(`${good} of ${runs} runs passed`);
process.exitCode = good === runs ? 0 : 1;
