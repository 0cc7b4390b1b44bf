/**
 * What ties a memory image to its description (`memory-image.json`): the save
 * records, once the image is complete, which file it wrote — its identity on
 * disk (device, inode), its size, its change time — and the SHA-256 of every byte
 * as it was written. A restore hands QEMU only the file the seal describes:
 *
 * - no seal, or another size: refused at once (a save that never finished, or
 *   another file);
 * - the same inode, unchanged since the seal (device, inode and ctime equal —
 *   ctime moves on every write, chmod or rename, and cannot be set back): the
 *   file the save wrote;
 * - anything else (a file put in its place, written to, chmod'ed, copied to a
 *   new disk): its whole content is hashed and must equal what the save wrote.
 *   Two VMs' images may begin alike; only the whole file says which one it is.
 *
 * A file-backed guest (daemon/launch/ram-file.ts) has a second file: its RAM,
 * which the save does not write (QEMU skips it with `x-ignore-shared`) but the
 * restore maps. It is tied by identity only — device, inode, size and ctime
 * taken after the save's fsync (RamFileSeal) — not by a hash: hashing GiBs on
 * every save and on every restore would cost seconds, exactly what the file-backed
 * layout exists to avoid. Any write, chmod, truncate or replacement moves its
 * ctime (which cannot be set back by hand), so a RAM file touched since the
 * save, or another one put in its place, is refused; the price is that an
 * identical copy (the state dir restored from a backup) is refused too, and the
 * VM cold boots. What this does not stop: a process of the same user swapping
 * the file between the check and QEMU's open — that user owns the guest anyway.
 */
import { createHash, type Hash } from 'node:crypto';
import fs from 'node:fs';
import { z } from 'zod';

export const ImageSeal = z.strictObject({
  /** st_dev and st_ino of the image, as decimal strings (64-bit values). */
  dev: z.string().regex(/^\d{1,20}$/),
  ino: z.string().regex(/^\d{1,20}$/),
  size: z.number().int().nonnegative(),
  /** st_ctime in ns (decimal string) when the seal was taken. */
  ctimeNs: z.string().regex(/^\d{1,24}$/),
  /** SHA-256 of the whole image, hex. */
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
});
export type ImageSeal = z.infer<typeof ImageSeal>;

/** A file-backed guest's RAM file as its save left it (see above): identity, not content. */
export const RamFileSeal = z.strictObject({
  dev: z.string().regex(/^\d{1,20}$/),
  ino: z.string().regex(/^\d{1,20}$/),
  size: z.number().int().nonnegative(),
  ctimeNs: z.string().regex(/^\d{1,24}$/),
});
export type RamFileSeal = z.infer<typeof RamFileSeal>;

/** The RAM file's seal, taken from an open descriptor after its fsync. */
export function ramSealOf(fd: number): RamFileSeal {
  const stat = fs.fstatSync(fd, { bigint: true });
  return { dev: String(stat.dev), ino: String(stat.ino), size: Number(stat.size), ctimeNs: String(stat.ctimeNs) };
}

/** Why this RAM file is not the one its save left, or null. */
export function ramSealProblem(stat: fs.BigIntStats, seal: RamFileSeal): string | null {
  if (!stat.isFile()) return 'its RAM file is not a regular file';
  if (String(stat.dev) !== seal.dev || String(stat.ino) !== seal.ino) return 'its RAM file is not the one its save left (another file was put in its place)';
  if (Number(stat.size) !== seal.size) return `its RAM file is not the one its save left (${Number(stat.size)} bytes; the save left ${seal.size})`;
  if (String(stat.ctimeNs) !== seal.ctimeNs) return 'its RAM file changed since it was saved (written to, truncated or chmod\'ed: its ctime moved)';
  return null;
}

/** The hash a save keeps while the image is written: every chunk, in file order. */
export function imageHasher(): Hash {
  return createHash('sha256');
}

/** The seal of a complete image (`sha256` from the hasher that saw it written, or sha256OfFile). */
export function sealOf(fd: number, sha256: string): ImageSeal {
  const stat = fs.fstatSync(fd, { bigint: true });
  return { dev: String(stat.dev), ino: String(stat.ino), size: Number(stat.size), ctimeNs: String(stat.ctimeNs), sha256 };
}

/** Why this file cannot be the sealed image without reading it, or null (seal present, size equal). */
export function sealMismatch(stat: fs.Stats | fs.BigIntStats, seal: ImageSeal | undefined): string | null {
  if (!seal) return 'its description does not say which image file it belongs to (the save that wrote it did not finish)';
  if (Number(stat.size) !== seal.size) return `its image is not the file its save wrote (${Number(stat.size)} bytes; the save wrote ${seal.size})`;
  return null;
}

/** The very file the seal was taken of, unchanged since (no need to read it). */
export function untouchedSinceSealed(stat: fs.BigIntStats, seal: ImageSeal): boolean {
  return String(stat.dev) === seal.dev && String(stat.ino) === seal.ino && String(stat.ctimeNs) === seal.ctimeNs && Number(stat.size) === seal.size;
}

const CHUNK = 1 << 20;

/**
 * SHA-256 of an open file, read with explicit positions (pread): a descriptor shared with
 * QEMU keeps its offset. Off the event loop, one chunk at a time.
 */
export async function sha256OfFd(fd: number): Promise<string> {
  const hash = createHash('sha256');
  const buffer = Buffer.allocUnsafe(CHUNK);
  let position = 0;
  for (;;) {
    const read = await new Promise<number>((resolve, reject) => fs.read(fd, buffer, 0, CHUNK, position, (error, n) => (error ? reject(error) : resolve(n))));
    if (read === 0) break;
    hash.update(buffer.subarray(0, read));
    position += read;
  }
  return hash.digest('hex');
}

export async function sha256OfFile(file: string): Promise<string> {
  const fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
  try {
    return await sha256OfFd(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * An image readable by group or others (the guest's RAM is secret) is mended to 0600;
 * returns the warning to show, or null when its mode was already private.
 */
export function mendImageMode(fd: number, name: string): string | null {
  const mode = fs.fstatSync(fd).mode & 0o777;
  if ((mode & 0o077) === 0) return null;
  fs.fchmodSync(fd, 0o600);
  return `its image ${name} was readable by others (mode ${mode.toString(8).padStart(4, '0')}): set back to 0600 before restoring`;
}
