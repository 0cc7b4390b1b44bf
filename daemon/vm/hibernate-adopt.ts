/**
 * What a QEMU left by an earlier daemon means for the VM's image: a save or a
 * restore may have been in flight when that daemon died. Never loses the guest:
 * a complete image is kept until a QEMU holds the guest, and a QEMU is ended
 * only when the guest is in a complete image.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { VmPaths } from '../../config/paths.js';
import { errorMessage } from '../../shared/error-message.js';
import { exists, findImage, imagePaths, readImage, removeImage, removeIncompleteSave, sealImage, setImageAside, type FoundImage, type ImagePaths } from './image-files.js';
import { sha256OfFile } from './image-seal.js';
import { syncRamFile } from './hibernate-save.js';
import { usesRamFile } from '../launch/ram-file.js';
import type { VmProcess } from './vm-process.js';

export type AdoptedOutcome =
  /** The QEMU holds the guest: adopt it as it is. */
  | { kind: 'keep'; note: string | null; saveInterrupted?: boolean }
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
    saveInterrupted: unfinished,
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
  sealImage(files, found.meta, await sha256OfFile(files.image), usesRamFile(found.meta.command.args) ? syncRamFile(files) : undefined);
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
