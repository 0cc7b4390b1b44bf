/**
 * A file-backed guest (daemon/launch/ram-file.ts) with real QEMU 7.2 and the real
 * guest: its RAM is a private file QEMU maps; the memory QEMU holds counts the
 * file's pages (what the budget reads); a save writes only the device state and
 * seals the RAM file; a restore maps the same file and the guest goes on (its
 * counter and the data in its RAM intact); a RAM file written to or replaced since
 * the save is refused before any QEMU starts, its image set aside. One boot.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { vmPaths, ensureVmDirs, type RuntimeRoots } from '../../config/paths.js';
import { controlArgs } from '../../daemon/launch/launcher.js';
import { freshRamFile, guestRamOf, memoryMiBOf, ramFileArgs, ramFilePath } from '../../daemon/launch/ram-file.js';
import { findImage, imagePaths, ImageMeta, removeImage, restoreImage, saveImage } from '../../daemon/vm/hibernate.js';
import { residentBytes } from '../../daemon/vm/memory.js';
import { VmProcess } from '../../daemon/vm/vm-process.js';
import { firstTick, printedSince } from '../harness/continuity.js';
import { ensureGuest, guestQemuArgv, tickCount, type Guest } from '../harness/guest.js';
import { waitForContent } from '../harness/processes.js';
import { guestSh, withAgent } from '../harness/records.js';

const t = suite('a file-backed guest with real QEMU and the real guest');
const MiB = 1024 * 1024;
let guest: Guest;
let root: string;
let roots: RuntimeRoots;
const running: VmProcess[] = [];

t.before(async () => {
  guest = await ensureGuest();
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'ramfile-'));
  roots = { runRoot: path.join(root, 'run'), stateRoot: path.join(root, 'state') };
});
t.after(async () => {
  for (const vm of running) if (!vm.ended) await vm.quit(1000).catch(() => undefined);
  fs.rmSync(root, { recursive: true, force: true });
});

const serial = () => path.join(root, 'guest.serial');

/** A field of /proc/PID/status, in bytes. */
function statusBytes(pid: number, field: string): number {
  return Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]) * 1024;
}

/** The resident pages of the process's mapping of `file` (/proc/PID/smaps). */
function mappingRss(pid: number, file: string): number {
  const smaps = fs.readFileSync(`/proc/${pid}/smaps`, 'utf8');
  const start = smaps.indexOf(` ${file}\n`);
  if (start < 0) return 0;
  return Number(/\nRss:\s+(\d+) kB/.exec(smaps.slice(start))?.[1]) * 1024;
}

t('which VMs get a RAM file: by size unless the config says, never over a memory layout of its own', () => {
  assert.is(memoryMiBOf(['-m', '256']), 256);
  assert.is(memoryMiBOf(['-m', '4G']), 4096);
  assert.is(memoryMiBOf(['-m', 'size=2G']), 2048);
  assert.is(memoryMiBOf(['-M', 'q35']), 128);
  assert.is(memoryMiBOf(['-m', 'size=1G,slots=2,maxmem=4G']), null);
  assert.is(guestRamOf({}, ['-m', '512']), 'anonymous');
  assert.is(guestRamOf({}, ['-m', '1G']), 'file');
  assert.is(guestRamOf({ guestRam: 'anonymous' }, ['-m', '4G']), 'anonymous');
  assert.is(guestRamOf({ guestRam: 'file' }, ['-m', '256']), 'file');
  assert.is(guestRamOf({ guestRam: 'file' }, ['-m', '2G', '-mem-path', '/dev/hugepages']), 'anonymous');
  assert.is(guestRamOf({ guestRam: 'file' }, ['-m', '2G', '-object', 'memory-backend-ram,id=m0,size=2G', '-numa', 'node,memdev=m0']), 'anonymous');
  assert.equal(ramFileArgs({ guestRam: 'file' }, { stateDir: '/s/a,b' }, ['-m', '256']), [
    '-object', 'memory-backend-file,id=hiboss-ram,size=256M,mem-path=/s/a,,b/guest-ram.bin,share=on', '-machine', 'memory-backend=hiboss-ram',
  ]);
});

t('saved without its RAM, restored by mapping it: the guest goes on with its memory intact; a RAM file touched or replaced since is refused', async () => {
  const paths = vmPaths(roots, 'g');
  ensureVmDirs(roots, paths);
  const agentSocket = path.join(paths.runDir, 'qga.sock');
  const [file, ...args] = guestQemuArgv(guest, serial(), '', { agentSocket, memoryMiB: 256 });
  const command = { file: file!, args: [...args, ...ramFileArgs({ guestRam: 'file' }, paths, args), ...controlArgs('g', paths)] };
  const ram = ramFilePath(paths);
  freshRamFile(paths, command.args);
  const fresh = fs.statSync(ram);
  assert.is(fresh.mode & 0o777, 0o600);
  assert.is(fresh.size, 256 * MiB);
  assert.ok(fresh.blocks * 512 < MiB, 'a fresh RAM file is all holes');

  const vm = await VmProcess.launch(command, paths);
  running.push(vm);
  await waitForContent(serial(), (text) => tickCount(text) >= 2, 30_000);

  // 32 MiB of random data in the guest's RAM (its root is a tmpfs): the guest's pages are the RAM
  // file's, resident in QEMU's mapping of it — and what the budget reads (VmRSS) counts them.
  const digest = await withAgent(agentSocket, async (agent) => {
    const run = await guestSh(agent, 'dd if=/dev/urandom of=/fill bs=1M count=32 2>/dev/null && sha256sum /fill', 60_000);
    assert.is(run.code, 0, run.stderr);
    return run.stdout.split(' ')[0]!;
  });
  const ramRss = mappingRss(vm.pid, ram);
  assert.ok(ramRss >= 32 * MiB, `the guest's pages are the RAM file's (${ramRss / MiB} MiB resident)`);
  assert.ok(residentBytes(vm.pid)! >= ramRss + statusBytes(vm.pid, 'RssAnon'), 'the budget\'s figure counts them with its own memory');

  const saved = await saveImage(vm, { paths, command, rssBytes: residentBytes(vm.pid) });
  const files = imagePaths(paths);
  const imageSize = fs.statSync(files.image).size;
  assert.ok(imageSize < 4 * MiB, `the image holds the device state only (${imageSize} bytes)`);
  const meta = ImageMeta.parse(JSON.parse(fs.readFileSync(files.meta, 'utf8')));
  assert.is(meta.version, 2);
  const ramStat = fs.statSync(ram, { bigint: true });
  assert.equal(meta.ramFile, { dev: String(ramStat.dev), ino: String(ramStat.ino), size: 256 * MiB, ctimeNs: String(ramStat.ctimeNs) });
  assert.ok(saved.bytes >= 32 * MiB, 'what it takes on disk counts its RAM file');
  await vm.quit();
  const before = fs.readFileSync(serial(), 'utf8');

  // Restored: QEMU maps the RAM file again and loads only the device state.
  const restored = await restoreImage({ paths, command, launch: (incoming) => VmProcess.launch(incoming, paths) });
  running.push(restored.vm);
  assert.is(restored.state, 'paused');
  assert.equal(restored.warnings, []);
  removeImage(paths);
  await restored.vm.resume();
  const now = await waitForContent(serial(), (text) => tickCount(printedSince(before, text)) >= tickCount(before) + 1, 10_000);
  assert.is(firstTick(printedSince(before, now)), tickCount(before) + 1, 'the guest counts on: no reboot');
  const after = await withAgent(agentSocket, (agent) => guestSh(agent, 'sha256sum /fill', 60_000));
  assert.is(after.stdout.split(' ')[0], digest, 'its RAM came back from the file, every byte');

  // Saved again; then its RAM file is written to (one byte, the same value): refused, nothing starts.
  await saveImage(restored.vm, { paths, command, rssBytes: null });
  await restored.vm.quit();
  const pristine = { image: fs.readFileSync(files.image), meta: fs.readFileSync(files.meta) };
  const same = Buffer.alloc(1);
  const fd = fs.openSync(ram, 'r+');
  fs.readSync(fd, same, 0, 1, 4096);
  fs.writeSync(fd, same, 0, 1, 4096);
  fs.closeSync(fd);
  let launched = 0;
  const launch = (incoming: Parameters<typeof VmProcess.launch>[0]) => (launched++, VmProcess.launch(incoming, paths));
  const touched = await restoreImage({ paths, command, launch }).then(() => null, (e: Error) => e);
  assert.match(touched!.message, /^its RAM file changed since it was saved \(written to, truncated or chmod'ed: its ctime moved\); the image is kept as memory-image\.unrestorable-\d{8}T\d{6}Z\.bin$/);
  assert.is(launched, 0);
  assert.is(findImage(paths), null, 'set aside');

  // The image put back, and a copy of the RAM file put in the file's place: refused too.
  fs.writeFileSync(files.image, pristine.image, { mode: 0o600 });
  fs.writeFileSync(files.meta, pristine.meta, { mode: 0o600 });
  fs.copyFileSync(ram, `${ram}.copy`);
  fs.renameSync(`${ram}.copy`, ram);
  const replaced = await restoreImage({ paths, command, launch }).then(() => null, (e: Error) => e);
  assert.match(replaced!.message, /^its RAM file is not the one its save left \(another file was put in its place\); the image is kept as /);
  assert.is(launched, 0);
});

t.run();
