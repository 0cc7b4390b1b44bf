/**
 * A hibernated VM's files: where they live, the description a save writes
 * (`memory-image.json`, one schema for writer and readers) and its seal
 * (./image-seal.ts), the launch record a later save copies, what is on disk,
 * and the images set aside when they could not be restored (the newest
 * MAX_ASIDE_IMAGES kept). The save, the restore (./hibernate.ts) and an adopting
 * daemon (./hibernate-adopt.ts) all read and write them through here.
 */
import fs from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import type { VmPaths } from '../../config/paths.js';
import { readFileBounded } from '../../config/read-bounded.js';
import type { LaunchCommand } from '../launch/launcher.js';
import { DaemonError } from '../errors.js';
import { ImageSeal, RamFileSeal, sealMismatch, sealOf } from './image-seal.js';
import { ramFilePath } from '../launch/ram-file.js';

/** The command a QEMU was started with: recorded at launch, copied into the image's metadata. */
export const RecordedCommand = z.strictObject({
  file: z.string().max(4096),
  args: z.array(z.string().max(4096)).max(2048),
  env: z.record(z.string().max(256), z.string().max(8192)).optional(),
});
export type RecordedCommand = z.infer<typeof RecordedCommand>;

/** `memory-image.json`: what a save wrote (before its image), one schema for writer and readers. */
export const ImageMeta = z.strictObject({
  /**
   * 2: written by a hiboss that seals every image it completes (a version 2 description without a
   * seal is a save that did not finish). 1: an older hiboss — possibly one from before the seal,
   * whose images are accepted once without one (FoundImage.legacy).
   */
  version: z.union([z.literal(1), z.literal(2)]),
  /** The command the saved QEMU was started with: a restore starts exactly this plus `-incoming defer`. */
  command: RecordedCommand,
  /** How the stream was written: `stream` (through our socket) or `mapped-ram` (QEMU's `file:`). */
  format: z.enum(['stream', 'mapped-ram']),
  /** Epoch ms the save began. */
  startedAt: z.number(),
  /** The QEMU that wrote it (x.y.z), for the reason shown when a restore fails. */
  qemuVersion: z.string().max(64),
  /** Resident memory of the QEMU when it was saved (bytes), for the budget. */
  rssBytes: z.number().nullable(),
  /** Which file the save wrote (./image-seal.ts): added once the image is complete; a restore checks it. */
  seal: ImageSeal.optional(),
  /** A file-backed guest (daemon/launch/ram-file.ts): its RAM file as the save left it, sealed with the image. */
  ramFile: RamFileSeal.optional(),
});
export type ImageMeta = z.infer<typeof ImageMeta>;

const MAX_META_BYTES = 1024 * 1024;

export interface ImagePaths {
  image: string;
  temp: string;
  meta: string;
  saveSocket: string;
  restoreSocket: string;
  launchRecord: string;
  /** A file-backed guest's RAM (daemon/launch/ram-file.ts). */
  ramFile: string;
}

export function imagePaths(paths: VmPaths): ImagePaths {
  return {
    image: path.join(paths.stateDir, 'memory-image.bin'),
    temp: path.join(paths.stateDir, 'memory-image.bin.tmp'),
    meta: path.join(paths.stateDir, 'memory-image.json'),
    saveSocket: path.join(paths.runDir, 'save.sock'),
    restoreSocket: path.join(paths.runDir, 'restore.sock'),
    launchRecord: path.join(paths.runDir, 'launch.json'),
    ramFile: ramFilePath(paths),
  };
}

export class HibernateError extends DaemonError {}

// ---- small, atomic files ------------------------------------------------------------------

/** Temp + rename; `durable`: fsynced too (the runtime dir does not outlive a reboot: atomic is enough there). */
export function writeJsonAtomic(file: string, value: unknown, durable = true): void {
  const temp = `${file}.${process.pid}.tmp`;
  const fd = fs.openSync(temp, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_TRUNC | fs.constants.O_NOFOLLOW, 0o600);
  try {
    fs.writeSync(fd, JSON.stringify(value) + '\n');
    if (durable) fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(temp, file);
  if (durable) fsyncDir(path.dirname(file));
}

export function fsyncDir(dir: string): void {
  const fd = fs.openSync(dir, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

function readJson<T>(file: string, schema: z.ZodType<T>): T {
  const text = readFileBounded(file, MAX_META_BYTES);
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    throw new HibernateError(`${path.basename(file)} is not JSON`);
  }
  const parsed = schema.safeParse(data);
  if (!parsed.success) throw new HibernateError(`${path.basename(file)} is not a hiboss image description: ${parsed.error.issues[0]?.message ?? 'invalid'}`);
  return parsed.data;
}

export function exists(file: string): boolean {
  try {
    fs.lstatSync(file);
    return true;
  } catch {
    return false;
  }
}

/** The launch command is kept beside the QMP socket: a later save (by this daemon or the next) records it. */
export function recordLaunch(paths: VmPaths, command: LaunchCommand): void {
  writeJsonAtomic(imagePaths(paths).launchRecord, recorded(command), false);
}

export function recorded(command: LaunchCommand): RecordedCommand {
  return RecordedCommand.parse({ file: command.file, args: command.args, ...(command.env && Object.keys(command.env).length ? { env: command.env } : {}) });
}

export function readLaunchRecord(paths: VmPaths): RecordedCommand | null {
  try {
    return readJson(imagePaths(paths).launchRecord, RecordedCommand);
  } catch {
    return null;
  }
}

// ---- what is on disk ------------------------------------------------------------------------

export interface FoundImage {
  meta: ImageMeta;
  bytes: number;
  /** Epoch ms the image became complete (its rename). */
  savedAt: number;
  /** Saved by a hiboss older than the seal: restored once on its description's word (the same argv). */
  legacy?: boolean;
}

/**
 * The complete image of a hibernated VM, or null. Throws HibernateError when its description
 * cannot be read or does not describe this file (no seal, another size: ./image-seal.ts).
 */
export function findImage(paths: VmPaths): FoundImage | null {
  const found = readImage(paths);
  if (!found) return null;
  if (legacyImage(found.meta, found.stat)) return { ...found.image, legacy: true };
  const mismatch = sealMismatch(found.stat, found.meta.seal);
  if (mismatch) throw new HibernateError(mismatch);
  return found.image;
}

/**
 * An image a hiboss older than the seal wrote: a version 1 description without a seal, and a
 * non-empty image renamed after that save began (the rename came only once QEMU said `completed`).
 */
function legacyImage(meta: ImageMeta, stat: fs.Stats): boolean {
  return meta.version === 1 && !meta.seal && meta.format === 'stream' && stat.size > 0 && stat.mtimeMs >= meta.startedAt - 1000;
}

/** The image and its description as they are, sealed or not. */
export function readImage(paths: VmPaths): { image: FoundImage; meta: ImageMeta; stat: fs.Stats } | null {
  const files = imagePaths(paths);
  let stat: fs.Stats;
  try {
    stat = fs.lstatSync(files.image);
  } catch {
    return null;
  }
  if (!stat.isFile()) throw new HibernateError(`${files.image} is not a regular file`);
  const meta = readJson(files.meta, ImageMeta);
  return { image: { meta, bytes: bytesOnDisk(stat) + ramFileBytes(meta, files), savedAt: stat.mtimeMs }, meta, stat };
}

/** A file-backed guest's image is nothing without its RAM file: what that takes on disk counts too. */
function ramFileBytes(meta: ImageMeta, files: ImagePaths): number {
  if (!meta.ramFile) return 0;
  try {
    return bytesOnDisk(fs.lstatSync(files.ramFile));
  } catch {
    return 0;
  }
}

/** Seals a complete image: its description now says which file it is (./image-seal.ts). */
export function sealImage(files: ImagePaths, meta: ImageMeta, sha256: string, ramFile?: RamFileSeal): void {
  const fd = fs.openSync(files.image, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
  let seal: ImageSeal;
  try {
    seal = sealOf(fd, sha256);
  } finally {
    fs.closeSync(fd);
  }
  writeJsonAtomic(files.meta, { ...meta, seal, ...(ramFile ? { ramFile } : {}) } satisfies ImageMeta);
}

/**
 * What an image takes on disk: a mapped-ram image (QEMU ≥ 9) is as long as the guest's
 * RAM but sparse — its zero pages are holes — so its length would overstate it.
 */
export function bytesOnDisk(stat: fs.Stats): number {
  return Math.min(stat.size, stat.blocks * 512);
}

/** Leftovers of a save that never completed (a temporary image, a description without image). */
export function removeIncompleteSave(paths: VmPaths): boolean {
  const files = imagePaths(paths);
  let removed = false;
  if (exists(files.temp)) {
    fs.rmSync(files.temp, { force: true });
    removed = true;
  }
  if (!exists(files.image) && exists(files.meta)) {
    fs.rmSync(files.meta, { force: true });
    removed = true;
  }
  return removed;
}

export function removeImage(paths: VmPaths): void {
  const files = imagePaths(paths);
  fs.rmSync(files.image, { force: true });
  fs.rmSync(files.meta, { force: true });
  fs.rmSync(files.temp, { force: true });
}

/**
 * The same, off the event loop: unlinking a 100 MiB image still in the page cache takes
 * milliseconds, and right after a restore they would delay the guest's RESUME being seen.
 */
export async function removeImageInBackground(paths: VmPaths): Promise<void> {
  const files = imagePaths(paths);
  await Promise.all([files.image, files.meta, files.temp].map((file) => fs.promises.rm(file, { force: true })));
}

/** How many images that could not be restored are kept per VM (the newest; older ones are removed). */
export const MAX_ASIDE_IMAGES = 3;
const ASIDE_NAME = /^memory-image\.unrestorable-(\d{8}T\d{6}Z)\.bin$/;

/**
 * Keeps an image that could not be restored, under a name that says so; returns that name.
 * Only the newest MAX_ASIDE_IMAGES are kept: each is as large as the guest's RAM.
 */
export function setImageAside(paths: VmPaths, now = new Date()): string | null {
  const files = imagePaths(paths);
  if (!exists(files.image)) return null;
  const stamp = now.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
  const base = path.join(paths.stateDir, `memory-image.unrestorable-${stamp}`);
  fs.renameSync(files.image, `${base}.bin`);
  if (exists(files.meta)) fs.renameSync(files.meta, `${base}.json`);
  for (const old of asideImages(paths).slice(MAX_ASIDE_IMAGES)) {
    fs.rmSync(path.join(paths.stateDir, old.file), { force: true });
    fs.rmSync(path.join(paths.stateDir, old.file.replace(/\.bin$/, '.json')), { force: true });
  }
  return `${base}.bin`;
}

export interface AsideImage {
  /** Its name in the VM's state dir. */
  file: string;
  bytes: number;
  /** Epoch ms it was set aside (from its name). */
  at: number;
}

/** The images set aside for this VM, newest first. */
export function asideImages(paths: VmPaths): AsideImage[] {
  let names: string[];
  try {
    names = fs.readdirSync(paths.stateDir);
  } catch {
    return [];
  }
  const found: AsideImage[] = [];
  for (const file of names) {
    const stamp = ASIDE_NAME.exec(file)?.[1];
    if (!stamp) continue;
    let bytes = 0;
    try {
      bytes = bytesOnDisk(fs.lstatSync(path.join(paths.stateDir, file)));
    } catch {
      continue;
    }
    const at = Date.parse(stamp.replace(/^(\d{4})(\d\d)(\d\d)T(\d\d)(\d\d)(\d\d)Z$/, '$1-$2-$3T$4:$5:$6Z'));
    found.push({ file, bytes, at });
  }
  return found.sort((a, b) => b.file.localeCompare(a.file));
}

