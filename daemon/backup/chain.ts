/**
 * A VM's backup chain on disk: one directory holding a full qcow2 image and the
 * incrementals on top of it (each backed by the one before, by relative name,
 * so a chain restored elsewhere still opens), each image with its metadata
 * `ID.json`. An image without metadata is a partial left by an interrupted
 * run: it is never a restore point and is cleaned up.
 *
 * Retention keeps `keep` restore points by merging the oldest incremental into
 * the full image (qemu-img commit), crash-safely: a `merge.json` marker says
 * which merge is under way, and a merge found half done is finished.
 */
import fs from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { writeFileAtomic } from '../../config/file.js';
import { readFileBounded } from '../../config/read-bounded.js';
import { commitIntoBacking } from './qemu-img.js';
import { DaemonError } from '../errors.js';
import { errorCode } from '../../shared/error-message.js';

/** 20250102T030405678Z: when the copy started (the state it holds), sortable. */
export const PointId = z.string().regex(/^\d{8}T\d{9}Z$/, 'a backup id looks like 20250102T030405678Z');

export const PointMeta = z.strictObject({
  version: z.literal(1),
  id: PointId,
  vm: z.string().max(64),
  kind: z.enum(['full', 'incremental']),
  parent: PointId.nullable(),
  /** Epoch ms: the instant the copy is of. */
  at: z.number(),
  disk: z.strictObject({ file: z.string().max(4096), format: z.string().max(32), virtualSize: z.number() }),
  /** Bytes this image adds (its file size). */
  bytes: z.number(),
  /** frozen: the guest agent froze the filesystems for the job's start; else crash-consistent. */
  consistency: z.enum(['frozen', 'crash-consistent']),
  /** Why this kind (a full's reason, or "incremental: N bytes changed"). */
  why: z.string().max(1000),
  durationMs: z.number(),
});
export type PointMeta = z.infer<typeof PointMeta>;

const MergeMarker = z.strictObject({ base: PointId, top: PointId });
const MAX_META_BYTES = 64 * 1024;

export function pointIdAt(epochMs: number): string {
  return new Date(epochMs).toISOString().replace(/[-:.]/g, '');
}

export class ChainError extends DaemonError {}

export class Chain {
  constructor(readonly dir: string) {}

  image(id: string): string {
    return path.join(this.dir, `${PointId.parse(id)}.qcow2`);
  }

  #meta(id: string): string {
    return path.join(this.dir, `${id}.json`);
  }

  /** Creates the directory (0700, a real directory: a symlink is refused). */
  ensure(): void {
    fs.mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    const stat = fs.lstatSync(this.dir);
    if (!stat.isDirectory()) throw new ChainError(`${this.dir} is not a directory`);
  }

  /** The restore points, oldest first: a full, then the incrementals on it. A broken chain stops at the break. */
  points(): PointMeta[] {
    let names: string[];
    try {
      names = fs.readdirSync(this.dir);
    } catch (error) {
      if (errorCode(error) === 'ENOENT') return [];
      throw error;
    }
    const metas = new Map<string, PointMeta>();
    for (const name of names) {
      const id = name.endsWith('.json') ? name.slice(0, -5) : '';
      if (!PointId.safeParse(id).success) continue;
      try {
        const meta = PointMeta.parse(JSON.parse(readFileBounded(path.join(this.dir, name), MAX_META_BYTES)));
        if (meta.id === id && fs.existsSync(this.image(id))) metas.set(id, meta);
      } catch {
        // unreadable metadata: not a restore point (it shows in the log when a run trips on it)
      }
    }
    // A full starts a chain; an incremental counts only on top of a point that counts.
    const sorted = [...metas.values()].sort((a, b) => a.at - b.at);
    const kept = new Set<string>();
    const points: PointMeta[] = [];
    for (const meta of sorted) {
      if (meta.kind === 'full' || (meta.parent !== null && kept.has(meta.parent))) {
        kept.add(meta.id);
        points.push(meta);
      }
    }
    return points;
  }

  last(): PointMeta | undefined {
    return this.points().at(-1);
  }

  /** A new point is complete: its image on disk for good, then its metadata (the commit). */
  commit(meta: PointMeta): void {
    const fd = fs.openSync(this.image(meta.id), 'r+');
    try {
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    writeFileAtomic(this.#meta(meta.id), JSON.stringify(PointMeta.parse(meta), null, 2) + '\n');
    fsyncDir(this.dir);
  }

  /** Images without metadata (an interrupted run) and temp files: removed. Returns what was removed. */
  removePartials(except: ReadonlySet<string> = new Set()): string[] {
    const removed: string[] = [];
    let names: string[];
    try {
      names = fs.readdirSync(this.dir);
    } catch {
      return removed;
    }
    for (const name of names) {
      const id = name.endsWith('.qcow2') ? name.slice(0, -6) : null;
      const partialImage = id !== null && PointId.safeParse(id).success && !except.has(id) && !fs.existsSync(this.#meta(id));
      const temp = /^\..*\.tmp$/.test(name);
      if (partialImage || temp) {
        fs.rmSync(path.join(this.dir, name), { force: true });
        removed.push(name);
      }
    }
    return removed;
  }

  /**
   * Keeps the newest `keep` restore points: the oldest (always a full) is
   * merged into the incremental on top of it (which then becomes the full), or
   * dropped when nothing builds on it (a newer full started a chain of its own).
   */
  async retain(keep: number): Promise<string[]> {
    const dropped: string[] = [];
    await this.finishMerge();
    for (let points = this.points(); points.length > keep; points = this.points()) {
      const [oldest, next] = points as [PointMeta, PointMeta | undefined];
      if (next && next.parent === oldest.id) {
        writeFileAtomic(path.join(this.dir, 'merge.json'), JSON.stringify({ base: oldest.id, top: next.id }) + '\n');
        await this.finishMerge();
      } else this.#drop(oldest.id);
      dropped.push(oldest.id);
    }
    return dropped;
  }

  /** Finishes a merge found under way (or just begun): idempotent at every step. */
  async finishMerge(): Promise<void> {
    const markerFile = path.join(this.dir, 'merge.json');
    if (!fs.existsSync(markerFile)) return;
    const marker = MergeMarker.parse(JSON.parse(readFileBounded(markerFile, MAX_META_BYTES)));
    const baseImage = this.image(marker.base);
    const topImage = this.image(marker.top);
    const topMeta = PointMeta.parse(JSON.parse(readFileBounded(this.#meta(marker.top), MAX_META_BYTES)));
    if (fs.existsSync(baseImage)) {
      // The base takes the top's data; committing again after a crash writes the same data.
      await commitIntoBacking(topImage);
      // The merged base replaces the (now emptied) top under the top's name: the next
      // incremental's backing name stays valid, and the point keeps its id.
      fs.renameSync(baseImage, topImage);
      fsyncDir(this.dir);
    }
    const baseMeta = fs.existsSync(this.#meta(marker.base)) ? PointMeta.parse(JSON.parse(readFileBounded(this.#meta(marker.base), MAX_META_BYTES))) : undefined;
    const size = fs.statSync(topImage).size;
    const merged: PointMeta = {
      ...topMeta,
      kind: 'full',
      parent: null,
      bytes: size,
      why: `${topMeta.why}; merged with the older full ${baseMeta?.id ?? marker.base} (retention)`,
    };
    writeFileAtomic(this.#meta(marker.top), JSON.stringify(merged, null, 2) + '\n');
    fs.rmSync(this.#meta(marker.base), { force: true });
    fs.rmSync(markerFile, { force: true });
    fsyncDir(this.dir);
  }

  #drop(id: string): void {
    // Metadata first: an image without metadata is a partial, never a restore point.
    fs.rmSync(this.#meta(id), { force: true });
    fs.rmSync(this.image(id), { force: true });
  }

  /** The bytes the chain's files take. */
  bytes(): number {
    return this.points().reduce((sum, p) => sum + (fs.statSync(this.image(p.id), { throwIfNoEntry: false })?.size ?? 0), 0);
  }
}

export function fsyncDir(dir: string): void {
  const fd = fs.openSync(dir, 'r');
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}
