/**
 * A VM's RAM and device state to its image (./hibernate.ts says how); on success
 * the image is complete and sealed and QEMU is still there (stopped,
 * `postmigrate`): the caller quits it. A file-backed guest
 * (daemon/launch/ram-file.ts) saves only its device state (`x-ignore-shared`),
 * after which its RAM file is fsynced and sealed with the image.
 */
import fs from 'node:fs';
import net from 'node:net';
import type { VmPaths } from '../../config/paths.js';
import type { QmpClient } from '../../qmp/client.js';
import type { VmProcess } from './vm-process.js';
import { usesRamFile } from '../launch/ram-file.js';
import { bytesOnDisk, fsyncDir, HibernateError, imagePaths, removeIncompleteSave, sealImage, writeJsonAtomic, type ImageMeta, type ImagePaths, type RecordedCommand } from './image-files.js';
import { imageHasher, ramSealOf, sha256OfFd, type RamFileSeal } from './image-seal.js';
import { stallGuard, type StallGuard } from './image-stream.js';
import { cancelMigration, capabilities, errnoText, IGNORE_SHARED, migrationFinished, STALL_MS, UNLIMITED_BANDWIDTH, versionOf } from './migration.js';


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
  // A file-backed guest's RAM is already in its file: only the device state is written.
  const ramFile = usesRamFile(options.command.args);
  if (ramFile && !caps.has(IGNORE_SHARED)) throw new HibernateError(`this QEMU cannot leave its RAM file out of a save (no ${IGNORE_SHARED})`);
  const mappedRam = !ramFile && caps.has('mapped-ram');
  await qmp.execute('migrate-set-capabilities', {
    capabilities: [
      ...(caps.has('events') ? [{ capability: 'events', state: true }] : []),
      ...(mappedRam ? [{ capability: 'mapped-ram', state: true }] : []),
      ...(ramFile ? [{ capability: IGNORE_SHARED, state: true }] : []),
    ],
  });
  await qmp.execute('migrate-set-parameters', { 'max-bandwidth': UNLIMITED_BANDWIDTH });

  removeIncompleteSave(paths);
  fs.rmSync(files.image, { force: true }); // an image of this VM is stale once it runs in RAM
  const meta: ImageMeta = {
    version: 2,
    command: options.command,
    format: mappedRam ? 'mapped-ram' : 'stream',
    startedAt,
    qemuVersion: versionOf(qmp),
    rssBytes: options.rssBytes,
  };
  writeJsonAtomic(files.meta, meta);

  const guard = stallGuard(STALL_MS, 'the save');
  try {
    const sha256 = mappedRam
      ? await saveThroughFile(qmp, files, guard)
      : qmp.canPassFds
        ? await saveThroughFd(qmp, files, guard)
        : await saveThroughSocket(qmp, files, guard);
    // The RAM file on disk before the image is complete: the image is nothing without it.
    const ramSeal = ramFile ? syncRamFile(files) : undefined;
    fs.renameSync(files.temp, files.image);
    // The seal is what makes the image restorable: a description without one is a save that did not finish.
    sealImage(files, meta, sha256, ramSeal);
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
  const ramBytes = ramFile ? bytesOnDisk(fs.statSync(files.ramFile)) : 0;
  return { bytes: bytesOnDisk(stat) + ramBytes, savedAt: stat.mtimeMs, durationMs: Date.now() - startedAt };
}

/**
 * A file-backed guest, stopped: what the kernel has not yet written back of its RAM file goes
 * to disk now (fsync flushes the file's pages, whoever dirtied them), then its identity is
 * sealed (./image-seal.ts: nothing writes to it after this — the guest is stopped).
 */
export function syncRamFile(files: ImagePaths): RamFileSeal {
  let fd: number;
  try {
    fd = fs.openSync(files.ramFile, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
  } catch (error) {
    throw new HibernateError(`its RAM file cannot be opened: ${errnoText(error)}`);
  }
  try {
    fs.fsyncSync(fd);
    return ramSealOf(fd);
  } catch (error) {
    throw new HibernateError(`writing its RAM file back: ${errnoText(error)}`);
  } finally {
    fs.closeSync(fd);
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

/** The name QEMU knows the image's descriptor by during a save (QMP getfd). */
const IMAGE_FD_NAME = 'hiboss-image';

/**
 * QEMU 7.2: the daemon opens the temporary image (0600, O_EXCL) and hands QEMU the descriptor
 * over QMP (`getfd`, SCM_RIGHTS: transport/fd-passing.ts); `migrate fd:…` makes QEMU write the
 * stream into it itself, at its own speed — nothing passes through the daemon. Once QEMU says
 * `completed`, the file is fsynced and hashed as it lies on disk (read back through the page
 * cache). Returns the hash.
 */
async function saveThroughFd(qmp: QmpClient, files: ImagePaths, guard: StallGuard): Promise<string> {
  const flags = fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_NOFOLLOW;
  const forQemu = fs.openSync(files.temp, flags, 0o600);
  const ours = fs.openSync(files.temp, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
  try {
    await qmp.passFd(IMAGE_FD_NAME, forQemu); // consumed: QEMU holds the only writable descriptor
    await qmp.execute('migrate', { uri: `fd:${IMAGE_FD_NAME}` });
    const result = await migrationFinished(qmp, guard.signal);
    if (result.status !== 'completed') throw new HibernateError(`QEMU's migration ${result.status}${result.error ? `: ${result.error}` : ''}`);
    try {
      fs.fsyncSync(ours);
    } catch (error) {
      throw new HibernateError(`writing the image: ${errnoText(error)}`);
    }
    return await sha256OfFd(ours);
  } finally {
    fs.closeSync(ours);
  }
}

/**
 * QEMU 7.2 where the daemon cannot pass descriptors: QEMU connects to our socket and sends the stream; we write it, with every error seen
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

