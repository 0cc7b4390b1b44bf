/**
 * A VM's RAM to disk and back: the I/O of the policy's `hibernate`
 * and `restore` operations, and what an adopting daemon makes of a save or a
 * restore that an earlier daemon left half done. Decisions are the policy's
 * (daemon/policy/memory.ts); this module only carries them out and says what
 * happened. The image's files and description are ./image-files.ts, its seal
 * ./image-seal.ts, the fallback stream ./image-stream.ts, and what an adopting
 * daemon makes of a half-done save or restore ./hibernate-adopt.ts.
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
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import type { VmPaths } from '../../config/paths.js';
import type { QmpClient } from '../../qmp/client.js';
import type { LaunchCommand } from '../launch/launcher.js';
import type { VmProcess } from './vm-process.js';
import { errorCode, errorMessage } from '../../shared/error-message.js';
import {
  findImage,
  fsyncDir,
  HibernateError,
  imagePaths,
  recorded,
  removeIncompleteSave,
  sealImage,
  setImageAside,
  writeJsonAtomic,
  bytesOnDisk,
  type FoundImage,
  type ImageMeta,
  type ImagePaths,
  type RecordedCommand,
} from './image-files.js';
import { imageHasher, mendImageMode, sealMismatch, sha256OfFd, untouchedSinceSealed, type ImageSeal } from './image-seal.js';
import { stallGuard, streamInto, type StallGuard } from './image-stream.js';

export {
  asideImages,
  findImage,
  HibernateError,
  ImageMeta,
  imagePaths,
  MAX_ASIDE_IMAGES,
  readLaunchRecord,
  recordLaunch,
  RecordedCommand,
  removeImage,
  removeImageInBackground,
  removeIncompleteSave,
  setImageAside,
  type AsideImage,
  type FoundImage,
  type ImagePaths,
} from './image-files.js';
export { settleAdopted, settleWithoutQemu, type AdoptedOutcome } from './hibernate-adopt.js';

/** A restore's image is QEMU's fd 3 (the first descriptor after stdin, stdout, stderr; LaunchCommand.inheritFds). */
const IMAGE_FD = 3;
/** A save or restore that makes no progress for this long is given up. */
const STALL_MS = 60_000;
/** A local save is not to be throttled by QEMU's default 128 MiB/s (bytes/s). */
const UNLIMITED_BANDWIDTH = 2 ** 50;

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
async function saveThroughFile(qmp: QmpClient, files: ImagePaths, guard: StallGuard): Promise<string> {
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
async function saveThroughSocket(qmp: QmpClient, files: ImagePaths, guard: StallGuard): Promise<string> {
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

