/**
 * daemon/vm/hibernate.ts on its own, with real QEMU 7.2 and the real guest (no
 * WM, no daemon): the image and its description as written, a save whose
 * daemon died after the image was complete (QEMU still there, `postmigrate`),
 * a restore whose command differs, and how two commands are compared.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { vmPaths, ensureVmDirs, type RuntimeRoots } from '../../config/paths.js';
import { controlArgs } from '../../daemon/launch/launcher.js';
import { commandDifference, findImage, imagePaths, ImageMeta, removeImage, restoreImage, saveImage, settleAdopted, settleWithoutQemu } from '../../daemon/vm/hibernate.js';
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
  assert.is(meta.format, 'stream', 'QEMU 7.2 has no mapped-ram: the stream goes through our socket');
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
