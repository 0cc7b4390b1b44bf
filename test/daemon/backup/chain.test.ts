/**
 * The backup chain on disk (daemon/backup/chain.ts) with real qcow2 images
 * (qemu-img, qemu-io): restore points across chains, retention that keeps the
 * newest `keep` points by merging (each point's content unchanged) or dropping
 * a chain nothing builds on, a merge interrupted at each step and finished, and
 * partial images cleaned up.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { Chain, type PointMeta } from '../../../daemon/backup/chain.js';
import { commitIntoBacking } from '../../../daemon/backup/qemu-img.js';

const t = suite('backup chain: points, retention by merging, interrupted merges');
const MiB = 1024 * 1024;
let dir: string;
let chain: Chain;

t.before.each(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hb-chain-'));
  chain = new Chain(path.join(dir, 'acme'));
  chain.ensure();
});
t.after.each(() => fs.rmSync(dir, { recursive: true, force: true }));

const ids = ['20250101T000000000Z', '20250102T000000000Z', '20250103T000000000Z', '20250104T000000000Z', '20250105T000000000Z'];

/** A point: its image (on its parent's), `pattern` written at its own MiB, and its metadata. */
function point(index: number, parent: number | null): PointMeta {
  const id = ids[index]!;
  const image = chain.image(id);
  const backing = parent === null ? [] : ['-b', path.basename(chain.image(ids[parent]!)), '-F', 'qcow2'];
  execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', ...backing, image, '16M']);
  execFileSync('qemu-io', ['-c', `write -P ${0x10 + index} ${index * MiB} ${MiB}`, image], { stdio: 'ignore' });
  const meta: PointMeta = {
    version: 1, id, vm: 'acme', kind: parent === null ? 'full' : 'incremental', parent: parent === null ? null : ids[parent]!, at: Date.parse(`2025-01-0${index + 1}T00:00:00Z`),
    disk: { file: '/d/acme.qcow2', format: 'qcow2', virtualSize: 16 * MiB }, bytes: fs.statSync(image).size, consistency: 'frozen', why: 'test', durationMs: 1,
  };
  chain.commit(meta);
  return meta;
}

/** The content of a point (its chain flattened), as raw bytes. */
function content(id: string): Buffer {
  const out = path.join(dir, `${id}.raw`);
  execFileSync('qemu-img', ['convert', '-O', 'raw', chain.image(id), out]);
  return fs.readFileSync(out);
}

t('points across chains; retention keeps the newest `keep`, merging or dropping, every kept point unchanged', async () => {
  point(0, null);
  point(1, 0);
  point(2, 1);
  point(3, null); // a newer full: a chain of its own
  point(4, 3);
  assert.equal(chain.points().map((p) => `${p.kind}:${p.id.slice(6, 8)}`), ['full:01', 'incremental:02', 'incremental:03', 'full:04', 'incremental:05']);
  const before = new Map(ids.map((id) => [id, content(id)]));

  assert.equal(await chain.retain(3), [ids[0], ids[1]]);
  assert.equal(chain.points().map((p) => `${p.kind}:${p.id.slice(6, 8)}`), ['full:03', 'full:04', 'incremental:05']);
  for (const id of ids.slice(2)) assert.ok(content(id).equals(before.get(id)!), `point ${id} unchanged`);
  assert.match(chain.points()[0]!.why, /merged with the older full/);

  assert.equal(await chain.retain(2), [ids[2]], 'nothing builds on it: dropped whole');
  assert.equal(fs.readdirSync(chain.dir).sort(), [`${ids[3]}.json`, `${ids[3]}.qcow2`, `${ids[4]}.json`, `${ids[4]}.qcow2`]);
});

t('a merge interrupted after the commit, or after the rename, is finished by the next one; partials are removed', async () => {
  point(0, null);
  point(1, 0);
  point(2, 1);
  const expected = content(ids[1]!);
  const marker = path.join(chain.dir, 'merge.json');

  // Crashed right after `qemu-img commit`: the marker is there, the base still under its name.
  fs.writeFileSync(marker, JSON.stringify({ base: ids[0], top: ids[1] }));
  await commitIntoBacking(chain.image(ids[1]!));
  await chain.finishMerge();
  assert.equal(chain.points().map((p) => p.id), [ids[1], ids[2]]);
  assert.ok(content(ids[1]!).equals(expected));
  assert.is(fs.existsSync(marker), false);

  // Crashed after the rename: only the metadata is left to write.
  point(3, 2);
  const merged = content(ids[2]!);
  fs.writeFileSync(marker, JSON.stringify({ base: ids[1], top: ids[2] }));
  await commitIntoBacking(chain.image(ids[2]!));
  fs.renameSync(chain.image(ids[1]!), chain.image(ids[2]!));
  await chain.retain(5);
  assert.equal(chain.points().map((p) => `${p.kind}:${p.id}`), [`full:${ids[2]}`, `incremental:${ids[3]}`]);
  assert.ok(content(ids[2]!).equals(merged));

  fs.writeFileSync(chain.image(ids[4]!), 'partial');
  fs.writeFileSync(path.join(chain.dir, `.${ids[3]}.json.123.tmp`), '{');
  assert.equal(chain.removePartials().sort(), [`.${ids[3]}.json.123.tmp`, `${ids[4]}.qcow2`]);
  assert.equal(chain.points().length, 2);
});

t.run();
