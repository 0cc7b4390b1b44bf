/**
 * A VM's RAM to disk and back: the I/O of the policy's `hibernate`
 * and `restore` operations, and what an adopting daemon makes of a save or a
 * restore that an earlier daemon left half done. Decisions are the policy's
 * (daemon/policy/memory.ts); this module only carries them out and says what
 * happened. The image's files and description are ./image-files.ts, its seal
 * ./image-seal.ts, the fallback stream ./image-stream.ts, and what an adopting
 * daemon makes of a half-done save or restore ./hibernate-adopt.ts; the save itself
 * ./hibernate-save.ts, the restore ./hibernate-restore.ts, their QMP side ./migration.ts.
 *
 * A file-backed guest (daemon/launch/ram-file.ts: its RAM a file hiboss owns, mapped
 * by QEMU) saves and restores only its device state (`x-ignore-shared`); its RAM
 * file is fsynced at the save and sealed with the image by identity.
 *
 * Save (QEMU 7.2): the VM is paused; the daemon opens `memory-image.bin.tmp` in the
 * state dir (0600: the guest's RAM is secret) and hands QEMU the descriptor over QMP
 * (`getfd`, SCM_RIGHTS: transport/fd-passing.ts); `migrate fd:…` makes QEMU write the
 * stream into it itself. Where Node cannot pass descriptors, the daemon listens on a
 * unix socket in the VM's runtime dir (0700), QMP `migrate unix:…` makes QEMU send
 * its stream there, and the daemon writes it, hashing it as it goes. Only when QEMU
 * says `completed` and the file is fsynced is it renamed to `memory-image.bin` and
 * sealed: the description records which file it is and the hash of what was written
 * (./image-seal.ts). The seal is the moment the image is complete. Then QEMU quits.
 * No shell anywhere: an `exec:` URI would run /bin/sh.
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
export { saveImage, type SaveOptions, type Saved } from './hibernate-save.js';
export { commandDifference, restoreImage, type RestoreOptions, type Restored } from './hibernate-restore.js';
