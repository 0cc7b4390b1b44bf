/**
 * A VM's RAM to disk and back: the I/O of the policy's `hibernate`
 * and `restore` operations, and what an adopting daemon makes of a save or a
 * restore that an earlier daemon left half done. Decisions are the policy's
 * (daemon/policy/memory.ts); this module only carries them out and says what
 * happened.
 *
 * Save (QEMU 7.2): the VM is paused; the daemon listens on a unix socket in the
 * VM's runtime dir (0700) and QMP `migrate unix:…` makes QEMU connect and send
 * its stream, which the daemon writes into `memory-image.bin.tmp` in the state
 * dir (0600: the guest's RAM is secret), hashing it as it goes, and fsyncs. Only
 * when QEMU says `completed` and the whole stream is on disk is it renamed to
 * `memory-image.bin` and sealed: the description records which file it is and
 * the hash of what was written (./image-seal.ts). The seal is the moment the
 * image is complete. Then QEMU quits. No shell anywhere: an `exec:` URI would run /bin/sh.
 * Where QEMU offers `file:` URIs with the `mapped-ram` capability (QEMU ≥ 9.0,
 * found with query-migrate-capabilities, never guessed from a version), QEMU
 * writes the temporary file itself.
 *
 * Restore: the command the image was saved with (`memory-image.json`, written
 * before the save, one schema) must equal the one the VM would start with now,
 * else nothing is tried; and the image must be the file its save sealed (another VM's
 * image put in its place is refused). An image readable by others is set back to 0600
 * with a warning. QEMU starts with the same argv plus `-incoming defer`,
 * with the image open read-only as its fd 3, and `migrate-incoming fd:3` makes it
 * read the image itself (from the page cache: nothing copied through a socket or
 * a process of ours; should fd 3 not reach QEMU, the daemon streams the image
 * into `migrate-incoming unix:…` instead). It lands paused. A restore that fails ends its QEMU (never two
 * QEMUs for one VM) and keeps the image aside under a name that says so (the newest
 * MAX_ASIDE_IMAGES of them).
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { z } from 'zod';
import type { VmPaths } from '../../config/paths.js';
import { readFileBounded } from '../../config/read-bounded.js';
import type { QmpClient } from '../../qmp/client.js';
import type { LaunchCommand } from '../launch/launcher.js';
import type { VmProcess } from './vm-process.js';
import { errorCode, errorMessage } from '../../shared/error-message.js';
import { DaemonError } from '../errors.js';
import { ImageSeal, imageHasher, mendImageMode, sealMismatch, sealOf, sha256OfFd, sha256OfFile, untouchedSinceSealed } from './image-seal.js';

/** The command a QEMU was started with: recorded at launch, copied into the image's metadata. */
export const RecordedCommand = z.strictObject({
  file: z.string().max(4096),
  args: z.array(z.string().max(4096)).max(2048),
  env: z.record(z.string().max(256), z.string().max(8192)).optional(),
});
export type RecordedCommand = z.infer<typeof RecordedCommand>;

/** `memory-image.json`: what a save wrote (before its image), one schema for writer and readers. */
export const ImageMeta = z.strictObject({
  version: z.literal(1),
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
});
export type ImageMeta = z.infer<typeof ImageMeta>;

const MAX_META_BYTES = 1024 * 1024;
/** A restore's image is QEMU's fd 3 (the first descriptor after stdin, stdout, stderr; LaunchCommand.inheritFds). */
const IMAGE_FD = 3;
/** A save or restore that makes no progress for this long is given up. */
const STALL_MS = 60_000;
/** A local save is not to be throttled by QEMU's default 128 MiB/s (bytes/s). */
const UNLIMITED_BANDWIDTH = 2 ** 50;

export interface ImagePaths {
  image: string;
  temp: string;
  meta: string;
  saveSocket: string;
  restoreSocket: string;
  launchRecord: string;
}

export function imagePaths(paths: VmPaths): ImagePaths {
  return {
    image: path.join(paths.stateDir, 'memory-image.bin'),
    temp: path.join(paths.stateDir, 'memory-image.bin.tmp'),
    meta: path.join(paths.stateDir, 'memory-image.json'),
    saveSocket: path.join(paths.runDir, 'save.sock'),
    restoreSocket: path.join(paths.runDir, 'restore.sock'),
    launchRecord: path.join(paths.runDir, 'launch.json'),
  };
}

export class HibernateError extends DaemonError {}

// ---- small, atomic files ------------------------------------------------------------------

/** Temp + rename; `durable`: fsynced too (the runtime dir does not outlive a reboot: atomic is enough there). */
function writeJsonAtomic(file: string, value: unknown, durable = true): void {
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

function fsyncDir(dir: string): void {
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

function exists(file: string): boolean {
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

function recorded(command: LaunchCommand): RecordedCommand {
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
}

/**
 * The complete image of a hibernated VM, or null. Throws HibernateError when its description
 * cannot be read or does not describe this file (no seal, another size: ./image-seal.ts).
 */
export function findImage(paths: VmPaths): FoundImage | null {
  const found = readImage(paths);
  if (!found) return null;
  const mismatch = sealMismatch(found.stat, found.meta.seal);
  if (mismatch) throw new HibernateError(mismatch);
  return found.image;
}

/** The image and its description as they are, sealed or not. */
function readImage(paths: VmPaths): { image: FoundImage; meta: ImageMeta; stat: fs.Stats } | null {
  const files = imagePaths(paths);
  let stat: fs.Stats;
  try {
    stat = fs.lstatSync(files.image);
  } catch {
    return null;
  }
  if (!stat.isFile()) throw new HibernateError(`${files.image} is not a regular file`);
  const meta = readJson(files.meta, ImageMeta);
  return { image: { meta, bytes: bytesOnDisk(stat), savedAt: stat.mtimeMs }, meta, stat };
}

/** Seals a complete image: its description now says which file it is (./image-seal.ts). */
function sealImage(files: ImagePaths, meta: ImageMeta, sha256: string): void {
  const fd = fs.openSync(files.image, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
  let seal: ImageSeal;
  try {
    seal = sealOf(fd, sha256);
  } finally {
    fs.closeSync(fd);
  }
  writeJsonAtomic(files.meta, { ...meta, seal } satisfies ImageMeta);
}

/**
 * What an image takes on disk: a mapped-ram image (QEMU ≥ 9) is as long as the guest's
 * RAM but sparse — its zero pages are holes — so its length would overstate it.
 */
function bytesOnDisk(stat: fs.Stats): number {
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

// ---- QMP helpers ---------------------------------------------------------------------------

async function capabilities(qmp: QmpClient): Promise<Set<string>> {
  const list = await qmp.execute('query-migrate-capabilities');
  return new Set(list.map((c) => c.capability));
}

const MIGRATION_DONE = new Set(['completed', 'failed', 'cancelled']);

/** Resolves with the migration's final status (completed, failed, cancelled), from events and a poll. */
function migrationFinished(qmp: QmpClient, signal: AbortSignal): Promise<{ status: string; error?: string | undefined }> {
  return new Promise((resolve, reject) => {
    let done = false;
    const finish = (result: { status: string; error?: string | undefined } | Error) => {
      if (done) return;
      done = true;
      off();
      clearInterval(poll);
      signal.removeEventListener('abort', onAbort);
      qmp.off('close', onClose);
      if (result instanceof Error) reject(result);
      else resolve(result);
    };
    const check = () =>
      qmp.execute('query-migrate', undefined, { timeoutMs: 10_000 }).then(
        (info) => {
          if (info.status && MIGRATION_DONE.has(info.status)) finish({ status: info.status, error: info['error-desc'] });
        },
        (error: Error) => finish(error),
      );
    const off = qmp.onEvent('MIGRATION', (event) => {
      if (MIGRATION_DONE.has(event.data.status)) void check();
    });
    // Events need the `events` capability; the poll is the safety net (QEMU may not send one we wait for).
    const poll = setInterval(check, 250);
    const onAbort = () => finish(signal.reason instanceof Error ? signal.reason : new HibernateError('aborted'));
    const onClose = () => finish(new HibernateError('QEMU closed its QMP connection'));
    signal.addEventListener('abort', onAbort);
    qmp.once('close', onClose);
    void check();
  });
}

/** A watchdog: aborts when `touch()` has not been called for `ms`. */
function stallGuard(ms: number, what: string): { signal: AbortSignal; touch: () => void; stop: () => void } {
  const controller = new AbortController();
  let timer: NodeJS.Timeout;
  const arm = () => {
    clearTimeout(timer);
    timer = setTimeout(() => controller.abort(new HibernateError(`${what} made no progress for ${Math.round(ms / 1000)} s`)), ms);
  };
  arm();
  return { signal: controller.signal, touch: arm, stop: () => clearTimeout(timer) };
}

function versionOf(qmp: QmpClient): string {
  const v = qmp.greeting.QMP.version.qemu;
  return `${v.major}.${v.minor}.${v.micro}`;
}

function errnoText(error: unknown): string {
  const code = errorCode(error);
  if (code === 'ENOSPC') return 'no space left on device (ENOSPC)';
  if (code === 'EDQUOT') return 'disk quota exceeded (EDQUOT)';
  if (code === 'EIO') return 'I/O error (EIO)';
  return errorMessage(error);
}

// ---- save ----------------------------------------------------------------------------------

export interface SaveOptions {
  paths: VmPaths;
  /** The command this QEMU was started with (its launch record). */
  command: RecordedCommand;
  rssBytes: number | null;
}

export interface Saved {
  bytes: number;
  savedAt: number;
  durationMs: number;
}

/**
 * Saves the VM's RAM and device state into its image; on success the image is
 * complete and QEMU is still there (stopped, `postmigrate`): the caller quits it.
 * On failure, nothing is left on disk and QEMU keeps the guest, paused.
 */
export async function saveImage(vm: VmProcess, options: SaveOptions): Promise<Saved> {
  const { paths } = options;
  const files = imagePaths(paths);
  const qmp = vm.qmp;
  const startedAt = Date.now();
  const status = await qmp.execute('query-status');
  if (status.running) await qmp.execute('stop');
  const caps = await capabilities(qmp);
  const mappedRam = caps.has('mapped-ram');
  await qmp.execute('migrate-set-capabilities', {
    capabilities: [
      ...(caps.has('events') ? [{ capability: 'events', state: true }] : []),
      ...(mappedRam ? [{ capability: 'mapped-ram', state: true }] : []),
    ],
  });
  await qmp.execute('migrate-set-parameters', { 'max-bandwidth': UNLIMITED_BANDWIDTH });

  removeIncompleteSave(paths);
  fs.rmSync(files.image, { force: true }); // an image of this VM is stale once it runs in RAM
  const meta: ImageMeta = {
    version: 1,
    command: options.command,
    format: mappedRam ? 'mapped-ram' : 'stream',
    startedAt,
    qemuVersion: versionOf(qmp),
    rssBytes: options.rssBytes,
  };
  writeJsonAtomic(files.meta, meta);

  const guard = stallGuard(STALL_MS, 'the save');
  try {
    const sha256 = mappedRam ? await saveThroughFile(qmp, files, guard) : await saveThroughSocket(qmp, files, guard);
    fs.renameSync(files.temp, files.image);
    // The seal is what makes the image restorable: a description without one is a save that did not finish.
    sealImage(files, meta, sha256);
    fsyncDir(paths.stateDir);
  } catch (error) {
    guard.stop();
    await cancelMigration(qmp);
    fs.rmSync(files.temp, { force: true });
    fs.rmSync(files.image, { force: true });
    fs.rmSync(files.meta, { force: true });
    throw error instanceof HibernateError ? error : new HibernateError(errnoText(error));
  }
  guard.stop();
  const stat = fs.statSync(files.image);
  return { bytes: bytesOnDisk(stat), savedAt: stat.mtimeMs, durationMs: Date.now() - startedAt };
}

async function cancelMigration(qmp: QmpClient): Promise<void> {
  if (qmp.closed) return;
  try {
    const info = await qmp.execute('query-migrate', undefined, { timeoutMs: 5000 });
    if (info.status && !MIGRATION_DONE.has(info.status)) {
      await qmp.execute('migrate_cancel', undefined, { timeoutMs: 5000 });
      // Wait until QEMU has let go of the stream (it is then `postmigrate`: still the guest, paused).
      const deadline = Date.now() + 10_000;
      for (;;) {
        const now = await qmp.execute('query-migrate', undefined, { timeoutMs: 5000 });
        if (!now.status || MIGRATION_DONE.has(now.status) || Date.now() > deadline) break;
        await new Promise((r) => setTimeout(r, 50));
      }
    }
  } catch {
    /* QEMU gone or not answering: its exit is reported on its own */
  }
}

/** QEMU ≥ 9 with mapped-ram: QEMU writes the temporary file; we wait, fsync, and hash what it wrote. */
async function saveThroughFile(qmp: QmpClient, files: ImagePaths, guard: ReturnType<typeof stallGuard>): Promise<string> {
  const fd = fs.openSync(files.temp, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_NOFOLLOW, 0o600);
  fs.closeSync(fd);
  await qmp.execute('migrate', { uri: `file:${files.temp}` });
  const result = await migrationFinished(qmp, guard.signal);
  if (result.status !== 'completed') throw new HibernateError(`QEMU's migration ${result.status}${result.error ? `: ${result.error}` : ''}`);
  const written = fs.openSync(files.temp, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
  try {
    fs.fsyncSync(written);
    return await sha256OfFd(written);
  } finally {
    fs.closeSync(written);
  }
}

/**
 * QEMU 7.2: QEMU connects to our socket and sends the stream; we write it, with every error seen
 * at once, and hash it as it is written (chunks are written one at a time, in order). Returns the hash.
 */
async function saveThroughSocket(qmp: QmpClient, files: ImagePaths, guard: ReturnType<typeof stallGuard>): Promise<string> {
  const hash = imageHasher();
  fs.rmSync(files.saveSocket, { force: true });
  const fd = fs.openSync(files.temp, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_NOFOLLOW, 0o600);
  const server = net.createServer();
  let fdClosed = false;
  const closeFd = () => {
    if (!fdClosed) fs.closeSync(fd);
    fdClosed = true;
  };
  try {
    // The stream: every chunk written before the next is read (backpressure through the socket).
    const written = new Promise<void>((resolve, reject) => {
      let taken = false;
      server.on('connection', (socket) => {
        if (taken) return socket.destroy(); // one stream per save; nobody else writes into our image
        taken = true;
        socket.on('error', (error) => reject(new HibernateError(`the migration stream broke: ${error.message}`)));
        socket.on('end', () => resolve());
        socket.on('data', (chunk: Buffer) => {
          guard.touch();
          socket.pause();
          hash.update(chunk);
          fs.write(fd, chunk, 0, chunk.length, null, (error) => {
            if (error) {
              socket.destroy(); // QEMU's side fails at once
              reject(new HibernateError(`writing the image: ${errnoText(error)}`));
              return;
            }
            socket.resume();
          });
        });
      });
      guard.signal.addEventListener('abort', () => reject(guard.signal.reason));
    });
    written.catch(() => {});
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(files.saveSocket, () => resolve());
    });
    fs.chmodSync(files.saveSocket, 0o600);
    await qmp.execute('migrate', { uri: `unix:${files.saveSocket}` });
    const finished = migrationFinished(qmp, guard.signal);
    finished.catch(() => {});
    // Whichever fails first says why; both must succeed.
    await Promise.race([written, finished.then((r) => { if (r.status !== 'completed') throw new HibernateError(`QEMU's migration ${r.status}${r.error ? `: ${r.error}` : ''}`); })]);
    const result = await finished;
    if (result.status !== 'completed') throw new HibernateError(`QEMU's migration ${result.status}${result.error ? `: ${result.error}` : ''}`);
    await written;
    await drainWrites(fd);
    try {
      fs.fsyncSync(fd);
    } catch (error) {
      throw new HibernateError(`writing the image: ${errnoText(error)}`);
    }
    return hash.digest('hex');
  } finally {
    closeFd();
    server.close();
    fs.rmSync(files.saveSocket, { force: true });
  }
}

/** fs.write callbacks run in order; one more zero-length write resolves after the last data write. */
function drainWrites(fd: number): Promise<void> {
  return new Promise((resolve, reject) => fs.write(fd, Buffer.alloc(0), (error) => (error ? reject(new HibernateError(`writing the image: ${errnoText(error)}`)) : resolve())));
}

// ---- restore -------------------------------------------------------------------------------

/** Why a recorded command cannot restore into the one the VM starts with now, or null when they are the same. */
export function commandDifference(saved: RecordedCommand, now: RecordedCommand): string | null {
  if (saved.file !== now.file) return `the program changed since it was saved (${saved.file} → ${now.file})`;
  const a = saved.args;
  const b = now.args;
  // What lies between the common beginning and the common end is what changed.
  let start = 0;
  while (start < a.length && start < b.length && a[start] === b[start]) start++;
  let end = 0;
  while (end < a.length - start && end < b.length - start && a[a.length - 1 - end] === b[b.length - 1 - end]) end++;
  const was = a.slice(start, a.length - end);
  const is = b.slice(start, b.length - end);
  if (was.length || is.length) {
    const words = (args: string[]) => JSON.stringify(args.join(' ').slice(0, 200));
    const change = !was.length ? `${words(is)} added` : !is.length ? `${words(was)} removed` : `${words(was)} → ${words(is)}`;
    return `its QEMU argv changed since it was saved (${change})`;
  }
  const envA = JSON.stringify(Object.entries(saved.env ?? {}).sort());
  const envB = JSON.stringify(Object.entries(now.env ?? {}).sort());
  if (envA !== envB) return 'its launch environment changed since it was saved';
  return null;
}

export interface RestoreOptions {
  paths: VmPaths;
  /** What the VM would start with now. */
  command: LaunchCommand;
  /** Starts QEMU (VmProcess.launch); the restore adds `-incoming defer`. */
  launch: (command: LaunchCommand) => Promise<VmProcess>;
}

export interface Restored {
  vm: VmProcess;
  /** How the guest came back: paused (it was saved paused), or running. */
  state: 'paused' | 'running';
  durationMs: number;
  image: FoundImage;
  /** What the user is to be told although the restore went on (an image readable by others, mended). */
  warnings: string[];
  /** Where the time went: QEMU up (QMP answers), the image read and loaded (ms from the start). */
  phases: { qemuUpMs: number; loadedMs: number };
}

/**
 * Starts QEMU from the image; resolves once the guest is back (paused). The
 * caller removes the image (removeImage) once it has told the policy: the
 * guest's way back is not held up by an unlink. Rejects with a HibernateError
 * whose message says why and where the image was kept; its QEMU is gone by then.
 */
export async function restoreImage(options: RestoreOptions): Promise<Restored> {
  const { paths } = options;
  const files = imagePaths(paths);
  const startedAt = Date.now();
  let found: FoundImage | null;
  try {
    found = findImage(paths);
  } catch (error) {
    throw aside(paths, errorMessage(error));
  }
  if (!found) throw new HibernateError('its image is gone');
  const difference = commandDifference(found.meta.command, recorded(options.command));
  if (difference) throw aside(paths, difference);

  // The file checked is the file QEMU gets: a stream image is handed to QEMU as this very open
  // descriptor (its fd 3), so QEMU reads it itself, straight from the page cache — no copy
  // through a socket, no process of ours in between.
  let imageFd: number | null;
  try {
    imageFd = fs.openSync(files.image, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
  } catch (error) {
    throw aside(paths, `its image cannot be read: ${errnoText(error)}`);
  }
  const warnings: string[] = [];
  try {
    const mended = mendImageMode(imageFd, path.basename(files.image));
    if (mended) warnings.push(mended);
    const problem = await sealedImageProblem(imageFd, found.meta.seal);
    if (problem) throw new HibernateError(problem);
  } catch (error) {
    fs.closeSync(imageFd);
    throw aside(paths, error instanceof HibernateError ? error.message : `its image cannot be read: ${errnoText(error)}`);
  }
  if (found.meta.format !== 'stream') {
    fs.closeSync(imageFd); // QEMU opens a mapped-ram image by its name
    imageFd = null;
  }
  const command = { ...options.command, args: [...options.command.args, '-incoming', 'defer'], ...(imageFd === null ? {} : { inheritFds: [imageFd] }) };
  let vm: VmProcess;
  try {
    vm = await options.launch(command);
  } catch (error) {
    throw aside(paths, `QEMU did not start: ${errorMessage(error)}`);
  } finally {
    if (imageFd !== null) fs.closeSync(imageFd); // QEMU has its own copy
  }
  const qemuUpMs = Date.now() - startedAt;
  let loadedMs = 0;
  let state: 'paused' | 'running' = 'paused';
  const exited = new Promise<{ kind: string; reason: string }>((resolve) => vm.once('exit', resolve));
  const guard = stallGuard(STALL_MS, 'the restore');
  try {
    const qmp = vm.qmp;
    const died = exited.then((end) => {
      throw new HibernateError(`QEMU ended while reading the image (${end.reason})`);
    });
    died.catch(() => {});
    let finished: ReturnType<typeof migrationFinished>;
    if (found.meta.format === 'mapped-ram') {
      const caps = await capabilities(qmp);
      if (!caps.has('mapped-ram')) throw new HibernateError('the image was written with mapped-ram, which this QEMU lacks');
      await qmp.execute('migrate-set-capabilities', {
        capabilities: [...(caps.has('events') ? [{ capability: 'events', state: true }] : []), { capability: 'mapped-ram', state: true }],
      });
      finished = migrationFinished(qmp, guard.signal);
      finished.catch(() => {});
      await qmp.execute('migrate-incoming', { uri: `file:${files.image}` });
    } else {
      // Both sent at once (QEMU answers in order): the load starts one round trip sooner. `events`
      // (QEMU ≥ 2.4) says at once when it completed; the poll in migrationFinished is the safety net.
      const events = qmp.execute('migrate-set-capabilities', { capabilities: [{ capability: 'events', state: true }] });
      const incoming = qmp.execute('migrate-incoming', { uri: `fd:${IMAGE_FD}` });
      events.catch(() => {});
      incoming.catch(() => {});
      finished = migrationFinished(qmp, guard.signal);
      finished.catch(() => {});
      try {
        await incoming;
      } catch {
        // fd 3 did not reach QEMU (a launch script that closed it?): the image is streamed in through a socket instead.
        fs.rmSync(files.restoreSocket, { force: true });
        await qmp.execute('migrate-incoming', { uri: `unix:${files.restoreSocket}` });
        const streamed = streamInto(files.image, files.restoreSocket, guard);
        streamed.catch(() => {});
        await Promise.race([streamed, died]);
      }
    }
    const result = await Promise.race([finished, died]);
    if (result.status !== 'completed') throw new HibernateError(`QEMU could not load the image: migration ${result.status}${result.error ? `: ${result.error}` : ''}`);
    loadedMs = Date.now() - startedAt;
    const status = await qmp.execute('query-status');
    if (status.status === 'inmigrate') throw new HibernateError('QEMU still waits for its image after the migration completed');
    state = status.running ? 'running' : 'paused';
  } catch (error) {
    guard.stop();
    // Never two QEMUs for one VM, and never a half-restored one left behind.
    if (!vm.ended) await vm.quit(2000).catch(() => undefined);
    fs.rmSync(files.restoreSocket, { force: true });
    const raw = error instanceof HibernateError ? error.message : errorMessage(error);
    // QEMU's last words, when it failed (a clean exit is our own quit just above: nothing to add).
    const tail = vm.ended ? await Promise.race([exited.then((e) => (e.kind === 'failed' ? e.reason : '')), new Promise<string>((r) => setTimeout(() => r(''), 1500))]) : '';
    throw aside(paths, tail && !raw.includes(tail) ? `${raw} (${tail})` : raw);
  }
  guard.stop();
  fs.rmSync(files.restoreSocket, { force: true });
  return { vm, state, durationMs: Date.now() - startedAt, image: found, warnings, phases: { qemuUpMs, loadedMs } };
}

/**
 * Why the open image is not the file its save sealed, or null: untouched since the seal
 * (same device, inode and ctime), or else a whole-file hash equal to the one taken as it was written.
 */
async function sealedImageProblem(fd: number, seal: ImageSeal | undefined): Promise<string | null> {
  const stat = fs.fstatSync(fd, { bigint: true });
  const mismatch = sealMismatch(stat, seal);
  if (mismatch || !seal) return mismatch;
  if (untouchedSinceSealed(stat, seal)) return null;
  const sha256 = await sha256OfFd(fd);
  return sha256 === seal.sha256 ? null : 'its image is not the one its save wrote (the file changed or was replaced since: its SHA-256 differs)';
}

function aside(paths: VmPaths, why: string): HibernateError {
  let kept: string | null = null;
  try {
    kept = setImageAside(paths);
  } catch (error) {
    return new HibernateError(`${why}; the image could not be set aside: ${errorMessage(error)}`);
  }
  return new HibernateError(kept ? `${why}; the image is kept as ${path.basename(kept)}` : why);
}

/**
 * Connects to QEMU's incoming socket (it listens once `migrate-incoming` returns)
 * and writes the image into it: by `cat IMAGE` with the socket as its stdout (an
 * argv, no shell; the kernel copies, measured ~50 ms faster than Node for 100
 * MiB), or by Node itself where there is no `cat`.
 */
async function streamInto(image: string, socketPath: string, guard: ReturnType<typeof stallGuard>): Promise<void> {
  const socket = await new Promise<net.Socket>((resolve, reject) => {
    const s = net.connect(socketPath);
    s.once('connect', () => resolve(s));
    s.once('error', reject);
  });
  try {
    if (await catInto(image, socket, guard)) return;
  } catch (error) {
    socket.destroy();
    throw error;
  }
  const fd = fs.openSync(image, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
  try {
    const buffer = Buffer.allocUnsafe(1 << 20);
    for (;;) {
      if (guard.signal.aborted) throw guard.signal.reason;
      const read = await new Promise<number>((resolve, reject) => fs.read(fd, buffer, 0, buffer.length, null, (error, n) => (error ? reject(error) : resolve(n))));
      if (read === 0) break;
      guard.touch();
      const chunk = Buffer.from(buffer.subarray(0, read));
      if (!socket.write(chunk)) {
        await new Promise<void>((resolve, reject) => {
          const onError = (error: Error) => done(new HibernateError(`QEMU stopped reading the image: ${error.message}`));
          const onClose = () => done(new HibernateError('QEMU closed the image stream'));
          const onDrain = () => done();
          const done = (error?: Error) => {
            socket.off('error', onError);
            socket.off('close', onClose);
            socket.off('drain', onDrain);
            if (error) reject(error);
            else resolve();
          };
          socket.once('error', onError);
          socket.once('close', onClose);
          socket.once('drain', onDrain);
        });
      }
    }
    await new Promise<void>((resolve) => socket.end(resolve));
  } finally {
    fs.closeSync(fd);
    socket.destroy();
  }
}

function readProcIo(pid: number | undefined): string {
  try {
    return pid === undefined ? '' : fs.readFileSync(`/proc/${pid}/io`, 'utf8');
  } catch {
    return '';
  }
}

/** `cat IMAGE` into the socket; false when there is no cat to run (the caller streams it itself). */
async function catInto(image: string, socket: net.Socket, guard: ReturnType<typeof stallGuard>): Promise<boolean> {
  const cat = spawn('cat', ['--', image], { stdio: ['ignore', socket, 'pipe'] });
  let stderr = '';
  cat.stderr!.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-500)));
  // Progress, for the stall guard: what cat has read so far (/proc/PID/io).
  let lastRead = -1;
  const progress = setInterval(() => {
    const read = Number(/rchar: (\d+)/.exec(readProcIo(cat.pid))?.[1] ?? -1);
    if (read > lastRead) guard.touch();
    lastRead = read;
  }, 1000);
  const outcome = await new Promise<{ code: number | null; missing: boolean }>((resolve) => {
    const onAbort = () => cat.kill('SIGKILL');
    guard.signal.addEventListener('abort', onAbort, { once: true });
    cat.once('error', (error: NodeJS.ErrnoException) => resolve({ code: null, missing: error.code === 'ENOENT' }));
    cat.once('exit', (code) => {
      guard.signal.removeEventListener('abort', onAbort);
      resolve({ code, missing: false });
    });
  });
  clearInterval(progress);
  if (outcome.missing) return false;
  socket.destroy(); // our copy of the stream's end: QEMU has all of it
  if (guard.signal.aborted) throw guard.signal.reason;
  if (outcome.code !== 0) throw new HibernateError(`reading the image failed (cat: ${stderr.trim() || `exit code ${outcome.code}`})`);
  return true;
}

// ---- adoption ------------------------------------------------------------------------------

export type AdoptedOutcome =
  /** The QEMU holds the guest: adopt it as it is. */
  | { kind: 'keep'; note: string | null }
  /** The guest is in its complete image: the QEMU was ended. */
  | { kind: 'hibernated'; image: FoundImage; note: string };

const MIGRATING = new Set(['setup', 'active', 'device', 'pre-switchover', 'cancelling', 'wait-unplug']);

/**
 * What a QEMU left by an earlier daemon means for the VM's image: a save or a
 * restore may have been in flight when that daemon died. Never loses the guest:
 * a complete image is kept until a QEMU holds the guest, and a QEMU is ended
 * only when the guest is in a complete image.
 */
export async function settleAdopted(vm: VmProcess, paths: VmPaths): Promise<AdoptedOutcome> {
  const files = imagePaths(paths);
  const qmp = vm.qmp;
  // A save in flight (its stream went with the daemon): wait for QEMU to notice, a few seconds at most.
  for (let i = 0; i < 100; i++) {
    const info = await qmp.execute('query-migrate', undefined, { timeoutMs: 5000 });
    const status = await qmp.execute('query-status', undefined, { timeoutMs: 5000 });
    if (!(info.status && MIGRATING.has(info.status)) && status.status !== 'finish-migrate') break;
    if (i === 99) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  const status = (await qmp.execute('query-status', undefined, { timeoutMs: 5000 })).status;
  let image: FoundImage | null = null;
  let unreadable: string | null = null;
  try {
    if (status === 'postmigrate') await sealFinishedSave(files, paths);
    image = findImage(paths);
  } catch (error) {
    unreadable = errorMessage(error);
  }
  if (status === 'inmigrate') {
    // A restore that never finished: the guest is still in the image.
    await vm.quit(2000).catch(() => undefined);
    removeIncompleteSave(paths);
    fs.rmSync(files.restoreSocket, { force: true });
    if (image) return { kind: 'hibernated', image, note: 'an earlier daemon was restoring it: the unfinished QEMU was ended, the image is intact' };
    return { kind: 'keep', note: `an unfinished restore was ended, and no image was found${unreadable ? ` (${unreadable})` : ''}` };
  }
  if (status === 'postmigrate' && image) {
    // The save completed (the image was renamed) and the daemon died before QEMU quit.
    await vm.quit(2000).catch(() => undefined);
    fs.rmSync(files.saveSocket, { force: true });
    return { kind: 'hibernated', image, note: 'an earlier daemon had saved it: the image is complete, its QEMU was ended' };
  }
  // The QEMU holds the guest: anything on disk is a save that never completed, or an image already restored.
  const unfinished = exists(files.temp) || (exists(files.meta) && !exists(files.image));
  const leftovers = unfinished || exists(files.image);
  if (leftovers) removeImage(paths);
  fs.rmSync(files.saveSocket, { force: true });
  fs.rmSync(files.restoreSocket, { force: true });
  if (!leftovers) return { kind: 'keep', note: null };
  return {
    kind: 'keep',
    note: unfinished
      ? `a save was in flight when the last daemon ended: its partial image was removed; the guest goes on in its QEMU (${status})`
      : `an image it no longer needs was removed (the guest is in its QEMU, ${status})`,
  };
}

/**
 * A save whose daemon died between the image's rename and its seal: QEMU, still `postmigrate`,
 * says the stream was complete, so the file is sealed now (hashed as it is).
 */
async function sealFinishedSave(files: ImagePaths, paths: VmPaths): Promise<void> {
  const found = readImage(paths);
  if (!found || found.meta.seal) return;
  sealImage(files, found.meta, await sha256OfFile(files.image));
}

/** A VM without a QEMU: hibernated when its image is complete; an unfinished save is removed. */
export function settleWithoutQemu(paths: VmPaths): { image: FoundImage | null; note: string | null } {
  const removed = removeIncompleteSave(paths);
  let image: FoundImage | null = null;
  try {
    image = findImage(paths);
  } catch (error) {
    const kept = setImageAside(paths);
    return { image: null, note: `its image cannot be used (${errorMessage(error)})${kept ? `; kept as ${path.basename(kept)}` : ''}` };
  }
  return { image, note: removed ? 'an unfinished save was removed' : null };
}
