/**
 * The source's shape, checked: no import circle anywhere in the sources (type
 * imports count too: a circle of types is still a circle for a reader), the
 * policy's shared types import nothing of the policy, and every policy module
 * stays under 400 lines.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const SOURCES = ['transport', 'wm-ipc', 'qmp', 'qga', 'config', 'daemon', 'api', 'cli', 'bar-module', 'panel', 'networks'];
const IMPORT = /^\s*(?:import|export)\b[^'";]*?from\s*'(\.[^']+)'|^\s*import\s*'(\.[^']+)'/gm;

function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) out.push(...sourceFiles(full));
    else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts')) out.push(full);
  }
  return out;
}

/** file → the files it imports (relative imports of .js resolved to their .ts). */
function graph(): Map<string, string[]> {
  const edges = new Map<string, string[]>();
  for (const top of SOURCES) {
    if (!fs.existsSync(path.join(ROOT, top))) continue;
    for (const file of sourceFiles(path.join(ROOT, top))) {
      const text = fs.readFileSync(file, 'utf8');
      const targets: string[] = [];
      for (const match of text.matchAll(IMPORT)) {
        const spec = (match[1] ?? match[2])!;
        const target = path.resolve(path.dirname(file), spec.replace(/\.js$/, '.ts'));
        if (fs.existsSync(target)) targets.push(target);
      }
      edges.set(file, targets);
    }
  }
  return edges;
}

/** Every circle found by a depth-first walk, each as the files along it. */
function circles(edges: Map<string, string[]>): string[][] {
  const found: string[][] = [];
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const visit = (file: string) => {
    state.set(file, 'open');
    stack.push(file);
    for (const next of edges.get(file) ?? []) {
      if (state.get(next) === 'open') found.push([...stack.slice(stack.indexOf(next)), next]);
      else if (!state.has(next)) visit(next);
    }
    stack.pop();
    state.set(file, 'done');
  };
  for (const file of edges.keys()) if (!state.has(file)) visit(file);
  return found;
}

const rel = (file: string) => path.relative(ROOT, file);

const test = suite('architecture: imports');

test('no import circle in the sources', () => {
  const found = circles(graph()).map((circle) => circle.map(rel).join(' → '));
  assert.equal(found, []);
});

test("the policy's shared types import nothing of the policy but their concerns' parts", () => {
  const edges = graph();
  const policyDir = path.join(ROOT, 'daemon/policy') + path.sep;
  const ofPolicy = (file: string) => (edges.get(path.join(ROOT, file)) ?? []).filter((target) => target.startsWith(policyDir)).map(rel);
  assert.equal([...new Set(ofPolicy('daemon/policy/types.ts'))], ['daemon/policy/parts.ts']);
  assert.equal(ofPolicy('daemon/policy/parts.ts'), []);
});

test('every policy module is under 400 lines', () => {
  const dir = path.join(ROOT, 'daemon/policy');
  const long = sourceFiles(dir)
    .map((file) => ({ file: rel(file), lines: fs.readFileSync(file, 'utf8').split('\n').length }))
    .filter(({ lines }) => lines > 400);
  assert.equal(long, []);
});

test.run();
