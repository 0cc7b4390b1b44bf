/**
 * daemon/vm/hibernate.ts on its own, with real QEMU 7.2 and the real guest (no
 * WM, no daemon): the image and its description as written, a save whose
 * daemon died after the image was complete (QEMU still there, `postmigrate`),
 * a restore whose command differs, an image that is not the one its save wrote,
 * images set aside kept bounded, and how two commands are compared.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { vmPaths, ensureVmDirs, type RuntimeRoots } from '../../config/paths.js';
import { controlArgs } from '../../daemon/launch/launcher.js';
import { asideImages, commandDifference, findImage, imagePaths, ImageMeta, MAX_ASIDE_IMAGES, removeImage, restoreImage, saveImage, setImageAside, settleAdopted, settleWithoutQemu } from '../../daemon/vm/hibernate.js';
import { VmProcess } from '../../daemon/vm/vm-process.js';
import { firstTick, printedSince } from '../harness/continuity.js';
import { ensureGuest, guestQemuArgv, tickCount, type Guest } from '../harness/guest.js';
import { alive } from '../harness/inspect.js';
import { waitForContent } from '../harness/processes.js';

const t = suite('hibernate.ts with real QEMU and the real guest');
let guest: Guest;
let root: string;
let roots: RuntimeRoots;
let running: VmProcess[] = [];

t.before(async () => {
  guest = await ensureGuest();
});
t.before.each(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'hibio-'));
  roots = { runRoot: path.join(root, 'run'), stateRoot: path.join(root, 'state') };
});
t.after.each(async () => {
  for (const vm of running) if (!vm.ended) await vm.quit(1000).catch(() => undefined);
  running = [];
  fs.rmSync(root, { recursive: true, force: true });
});

const serial = () => path.join(root, 'guest.serial');

async function bootGuest() {
  const paths = vmPaths(roots, 'g');
  ensureVmDirs(roots, paths);
  const [file, ...args] = guestQemuArgv(guest, serial());
  const command = { file: file!, args: [...args, ...controlArgs('g', paths)] };
  const vm = await VmProcess.launch(command, paths);
  running.push(vm);
  await waitForContent(serial(), (text) => tickCount(text) >= 2, 30_000);
  return { paths, command, vm };
}

t('a save writes a private image and its description; the daemon dying before QEMU quit leaves it complete: QEMU is ended, the guest is in the image', async () => {
  const { paths, command, vm } = await bootGuest();
  const saved = await saveImage(vm, { paths, command, rssBytes: 123 });
  const files = imagePaths(paths);
  assert.is(fs.statSync(files.image).size, saved.bytes);
  assert.is(fs.statSync(files.image).mode & 0o777, 0o600);
  const meta = ImageMeta.parse(JSON.parse(fs.readFileSync(files.meta, 'utf8')));
  assert.equal(meta.command, command);
  assert.is(meta.format, 'stream', 'QEMU 7.2 has no mapped-ram: a stream');
  assert.is(vm.qmp.canPassFds, true, 'written by QEMU itself into the descriptor the daemon passed it (getfd)');
  assert.is(meta.qemuVersion.split('.')[0], '7');
  assert.is((await vm.qmp.execute('query-status')).status, 'postmigrate');
  assert.is(fs.existsSync(files.saveSocket), false, 'the socket is gone');
  const before = fs.readFileSync(serial(), 'utf8');

  // The daemon dies here: the next one adopts the QEMU and finds the image complete.
  vm.detach();
  const adopted = (await VmProcess.adopt(paths))!;
  running.push(adopted);
  const outcome = await settleAdopted(adopted, paths);
  assert.is(outcome.kind, 'hibernated');
  assert.is(alive(adopted.pid), false, 'its QEMU was ended: the guest is in the image');
  assert.is(findImage(paths)?.bytes, saved.bytes);

  // And the image brings the guest back where it was.
  const restored = await restoreImage({ paths, command, launch: (incoming) => VmProcess.launch(incoming, paths) });
  running.push(restored.vm);
  assert.is((await restored.vm.qmp.execute('query-status')).status, 'paused', 'it lands paused');
  assert.is(restored.state, 'paused');
  assert.is(fs.existsSync(files.image), true, 'kept until the caller has told the policy');
  removeImage(paths);
  await restored.vm.resume();
  const now = await waitForContent(serial(), (text) => tickCount(printedSince(before, text)) >= tickCount(before) + 1, 10_000);
  assert.is(firstTick(printedSince(before, now)), tickCount(before) + 1);
});

t('a VM without QEMU: a complete image is hibernated, a temporary one removed, an unreadable description kept aside', () => {
  const paths = vmPaths(roots, 'g');
  ensureVmDirs(roots, paths);
  const files = imagePaths(paths);
  fs.writeFileSync(files.temp, 'half');
  fs.writeFileSync(files.meta, '{"version":1}');
  assert.equal(settleWithoutQemu(paths), { image: null, note: 'an unfinished save was removed' });
  assert.equal(fs.readdirSync(paths.stateDir), []);
  fs.writeFileSync(files.image, 'x'.repeat(10));
  fs.writeFileSync(files.meta, 'not json');
  const found = settleWithoutQemu(paths);
  assert.is(found.image, null);
  assert.match(found.note!, /^its image cannot be used \(memory-image\.json is not JSON\); kept as memory-image\.unrestorable-\d{8}T\d{6}Z\.bin$/);
});

t('a restore whose command changed starts no QEMU and keeps the image aside', async () => {
  const { paths, command, vm } = await bootGuest();
  await saveImage(vm, { paths, command, rssBytes: null });
  await vm.quit();
  let launched = 0;
  const changed = { ...command, args: command.args.map((a) => (a === '128' ? '256' : a)) };
  const error = await restoreImage({ paths, command: changed, launch: async () => (launched++, vm) }).then(() => null, (e: Error) => e);
  assert.match(error!.message, /^its QEMU argv changed since it was saved \("128" → "256"\); the image is kept as memory-image\.unrestorable-\S+\.bin$/);
  assert.is(launched, 0);
  assert.is(findImage(paths), null);
});

t('an image is tied to its description: the same file untouched, or the same bytes; another file of the same size and start is refused and set aside', async () => {
  const { paths, command, vm } = await bootGuest();
  const saved = await saveImage(vm, { paths, command, rssBytes: null });
  await vm.quit();
  const files = imagePaths(paths);
  const meta = ImageMeta.parse(JSON.parse(fs.readFileSync(files.meta, 'utf8')));
  const stat = fs.statSync(files.image, { bigint: true });
  // The seal: which file, its size, and the hash of what was written.
  assert.equal(meta.seal, { dev: String(stat.dev), ino: String(stat.ino), size: saved.bytes, ctimeNs: String(stat.ctimeNs), sha256: createHash('sha256').update(fs.readFileSync(files.image)).digest('hex') });
  const pristine = path.join(root, 'pristine.bin');
  const pristineMeta = path.join(root, 'pristine.json');
  fs.copyFileSync(files.image, pristine);
  fs.copyFileSync(files.meta, pristineMeta);
  const putBack = (bytes: Buffer) => {
    // Another file in its place (a new inode), its description kept: as a user moving another VM's image would.
    fs.writeFileSync(`${files.image}.new`, bytes, { mode: 0o600 });
    fs.renameSync(`${files.image}.new`, files.image);
    fs.copyFileSync(pristineMeta, files.meta);
  };
  let launched = 0;
  const launch = (incoming: Parameters<typeof VmProcess.launch>[0]) => (launched++, VmProcess.launch(incoming, paths));

  // The same size and the same start, one byte different at the very end: refused before any QEMU starts.
  const other = fs.readFileSync(pristine);
  other[other.length - 1] = other[other.length - 1]! ^ 0xff;
  putBack(other);
  const refused = await restoreImage({ paths, command, launch }).then(() => null, (e: Error) => e);
  assert.match(refused!.message, /^its image is not the one its save wrote \(the file changed or was replaced since: its SHA-256 differs\); the image is kept as memory-image\.unrestorable-\d{8}T\d{6}Z\.bin$/);
  assert.is(launched, 0);
  assert.is(findImage(paths), null, 'set aside');

  // A description without a seal (a save that never finished): refused at once.
  putBack(fs.readFileSync(pristine));
  const { seal: _seal, ...unsealed } = meta;
  fs.writeFileSync(files.meta, JSON.stringify(unsealed));
  assert.throws(() => findImage(paths), /^its description does not say which image file it belongs to/);

  // The same image as a hiboss older than the seal left it (a version 1 description, no seal): not a
  // QEMU stream → refused; the stream itself → restored once on its description's word, with a warning.
  const legacy = JSON.stringify({ ...unsealed, version: 1 });
  const notAStream = fs.readFileSync(pristine);
  notAStream[0] = 0;
  putBack(notAStream);
  fs.writeFileSync(files.meta, legacy);
  assert.is(findImage(paths)?.legacy, true);
  const garbage = await restoreImage({ paths, command, launch }).then(() => null, (e: Error) => e);
  assert.match(garbage!.message, /^its image \(saved by an older hiboss, without a seal\) is not a QEMU migration stream; the image is kept as /);
  assert.is(launched, 0);
  putBack(fs.readFileSync(pristine));
  fs.writeFileSync(files.meta, legacy);
  const fromLegacy = await restoreImage({ paths, command, launch });
  running.push(fromLegacy.vm);
  assert.is(launched, 1);
  assert.is(fromLegacy.state, 'paused');
  assert.equal(fromLegacy.warnings, ["its image was saved by an older hiboss, before images were sealed: restored this once on its description's word (the same QEMU argv); its next save is sealed"]);
  await fromLegacy.vm.quit();
  launched = 0;

  // The very bytes the save wrote, in another file, readable by others: restored, its mode mended with a warning.
  putBack(fs.readFileSync(pristine));
  fs.chmodSync(files.image, 0o644);
  const restored = await restoreImage({ paths, command, launch });
  running.push(restored.vm);
  assert.is(launched, 1);
  assert.is(restored.state, 'paused');
  assert.equal(restored.warnings, ['its image memory-image.bin was readable by others (mode 0644): set back to 0600 before restoring']);
  assert.is(fs.statSync(files.image).mode & 0o777, 0o600);
});

t('images set aside are bounded: the newest three are kept, with their descriptions, and listed', () => {
  const paths = vmPaths(roots, 'g');
  ensureVmDirs(roots, paths);
  const files = imagePaths(paths);
  for (let day = 1; day <= 5; day++) {
    fs.writeFileSync(files.image, 'x'.repeat(day * 1000));
    fs.writeFileSync(files.meta, '{}');
    setImageAside(paths, new Date(Date.UTC(2026, 0, day, 12)));
  }
  assert.is(MAX_ASIDE_IMAGES, 3);
  assert.equal(fs.readdirSync(paths.stateDir).sort(), [3, 4, 5].flatMap((day) => [`memory-image.unrestorable-2026010${day}T120000Z.bin`, `memory-image.unrestorable-2026010${day}T120000Z.json`]));
  assert.equal(
    asideImages(paths).map((image) => [image.file, image.at]),
    [5, 4, 3].map((day) => [`memory-image.unrestorable-2026010${day}T120000Z.bin`, Date.UTC(2026, 0, day, 12)]),
  );
});

t('commands compared: the same, an argument added, removed, changed, another program, another environment', () => {
  const base = { file: 'qemu', args: ['-m', '128', '-name', 'x'] };
  assert.is(commandDifference(base, { ...base }), null);
  assert.is(commandDifference(base, { ...base, args: ['-m', '128', '-smp', '2', '-name', 'x'] }), 'its QEMU argv changed since it was saved ("-smp 2" added)');
  assert.is(commandDifference(base, { ...base, args: ['-name', 'x'] }), 'its QEMU argv changed since it was saved ("-m 128" removed)');
  assert.is(commandDifference(base, { ...base, args: ['-m', '256', '-name', 'x'] }), 'its QEMU argv changed since it was saved ("128" → "256")');
  assert.is(commandDifference(base, { ...base, file: '/nix/store/new/run-x-vm' }), 'the program changed since it was saved (qemu → /nix/store/new/run-x-vm)');
  assert.is(commandDifference({ ...base, env: { A: '1' } }, { ...base, env: { A: '2' } }), 'its launch environment changed since it was saved');
});

t.run();
