/**
 * A VM from its image (./hibernate.ts says how): the same argv plus `-incoming
 * defer`, the image checked against its seal and handed to QEMU as its fd 3;
 * a file-backed guest (daemon/launch/ram-file.ts) maps its RAM file again and
 * loads only its device state (`x-ignore-shared`), once the RAM file is the one
 * its save left. It lands paused. A restore that fails ends its QEMU and keeps
 * the image aside.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { VmPaths } from '../../config/paths.js';
import type { LaunchCommand } from '../launch/launcher.js';
import type { VmProcess } from './vm-process.js';
import { errorMessage } from '../../shared/error-message.js';
import { usesRamFile } from '../launch/ram-file.js';
import { findImage, HibernateError, imagePaths, recorded, setImageAside, type FoundImage, type ImagePaths, type RecordedCommand } from './image-files.js';
import { mendImageMode, ramSealProblem, sealMismatch, sha256OfFd, untouchedSinceSealed, type ImageSeal, type RamFileSeal } from './image-seal.js';
import { stallGuard, streamInto } from './image-stream.js';
import { capabilities, errnoText, IGNORE_SHARED, migrationFinished, STALL_MS } from './migration.js';

/** A restore's image is QEMU's fd 3 (the first descriptor after stdin, stdout, stderr; LaunchCommand.inheritFds). */
const IMAGE_FD = 3;


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
    if (found.legacy) {
      // Saved by a hiboss older than the seal: restored once on its description's word (its argv
      // matched above), provided it is a QEMU migration stream at all.
      const problem = legacyImageProblem(imageFd);
      if (problem) throw new HibernateError(problem);
      warnings.push(LEGACY_WARNING);
    } else {
      const problem = await sealedImageProblem(imageFd, found.meta.seal);
      if (problem) throw new HibernateError(problem);
    }
    // A file-backed guest: its RAM file must be the one the save left (identity, not a hash: ./image-seal.ts).
    if (usesRamFile(found.meta.command.args)) {
      const problem = ramFileProblem(files, found.meta.ramFile);
      if (problem) throw new HibernateError(problem);
    }
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
      // A file-backed guest's RAM is mapped from its file: the stream holds only its device state.
      const ignoreShared = usesRamFile(found.meta.command.args) ? [{ capability: IGNORE_SHARED, state: true }] : [];
      const events = qmp.execute('migrate-set-capabilities', { capabilities: [{ capability: 'events', state: true }, ...ignoreShared] });
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

const LEGACY_WARNING = 'its image was saved by an older hiboss, before images were sealed: restored this once on its description\'s word (the same QEMU argv); its next save is sealed';
/** The first bytes of every QEMU migration stream ("QEVM"). */
const QEMU_STREAM_MAGIC = Buffer.from('QEVM');

function legacyImageProblem(fd: number): string | null {
  const head = Buffer.alloc(QEMU_STREAM_MAGIC.length);
  const read = fs.readSync(fd, head, 0, head.length, 0);
  return read === head.length && head.equals(QEMU_STREAM_MAGIC) ? null : 'its image (saved by an older hiboss, without a seal) is not a QEMU migration stream';
}

function ramFileProblem(files: ImagePaths, seal: RamFileSeal | undefined): string | null {
  if (!seal) return 'its description does not say which RAM file its image belongs to';
  let stat: fs.BigIntStats;
  try {
    stat = fs.lstatSync(files.ramFile, { bigint: true });
  } catch (error) {
    return `its RAM file cannot be read: ${errnoText(error)}`;
  }
  return ramSealProblem(stat, seal);
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

