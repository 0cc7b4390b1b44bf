/**
 * Part 5 of bench/memory.ts: guests of several sizes (`--sizes=256,1024,4096`, MiB),
 * each filled to ~60 % with data, saved and restored by daemon/vm/hibernate.ts the
 * way the daemon does it, with its RAM in a file (`guestRam: "file"`) and in QEMU's
 * anonymous memory (`--guest-ram=file,anonymous`), against the floor measured in
 * the same run. Per size and layout:
 *
 *  - cold boot: QEMU spawned → the guest's first tick;
 *  - running cost: bytes the guest makes the kernel write back (QEMU's
 *    /proc/PID/io write_bytes: pages it dirtied in its RAM file), idle and busy
 *    (a loop rewriting one file of 16 MiB: what room a 256 MiB guest 60 % full has left), per minute;
 *  - save: saveImage (for a file: device state + the RAM file's fsync);
 *  - restore, image (and RAM file) cached and not (their pages dropped with
 *    `dd iflag=nocache count=0`, posix_fadvise DONTNEED of those files only):
 *    restoreImage → `cont` → RESUME; then the guest's time to read its data back;
 *  - floor: the same argv with `-incoming defer` until QMP answers, plus reading
 *    the image (cached);
 *  - free-page reporting: the guest deletes its data; how much of it QEMU gives
 *    back (resident memory, and the RAM file's blocks on disk) within 10 s.
 *
 * No daemon and no WM: the daemon's own hop (D-Bus, policy) adds about a
 * millisecond (part 1 measures focus → running with them).
 */
import { execFile, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { promisify } from 'node:util';
import { ensureVmDirs, vmPaths, type VmPaths } from '../config/paths.js';
import type { GuestRam } from '../config/schema.js';
import { balloonArgs } from '../daemon/launch/balloon.js';
import { controlArgs } from '../daemon/launch/launcher.js';
import { FILE_RAM_FROM_MIB, freshRamFile, ramFileArgs, ramFilePath } from '../daemon/launch/ram-file.js';
import { imagePaths, removeImage, restoreImage, saveImage } from '../daemon/vm/hibernate.js';
import { residentBytes } from '../daemon/vm/memory.js';
import { VmProcess } from '../daemon/vm/vm-process.js';
import { QmpClient } from '../qmp/client.js';
import { guestQemuArgv, tickCount, type Guest } from '../test/harness/guest.js';
import { waitForContent } from '../test/harness/processes.js';
import { connectAgent, guestSh } from '../test/harness/records.js';

const run = promisify(execFile);
const MiB = 1024 * 1024;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
/** The issue's goals for every size, and for a 4 GiB guest (60 % filled). */
const GOALS = { restoreVsFloor: 1.5, coldVsRestore: 25, bigCachedMs: 150, bigUncachedMs: 400, bigSaveMs: 1000 };

export interface SizeResult {
  mib: number;
  layout: GuestRam;
  coldBootMs: number;
  writtenPerMinIdle: number;
  writtenPerMinBusy: number;
  saveMs: number;
  imageBytes: number;
  restoreCachedMs: number;
  restoreUncachedMs: number;
  floorMs: number;
  readBackCachedMs: number;
  readBackUncachedMs: number;
  reportedBackBytes: number;
  ramFileBlocksBefore: number;
  ramFileBlocksAfter: number;
  filledBytes: number;
  /** QEMU's memory by kind once filled (before the save), from /proc/PID/status and smaps_rollup. */
  filled: MemoryParts;
  /** The same, just before and 10 s after the guest freed its data. */
  beforeFree: MemoryParts;
  afterFree: MemoryParts;
}

/** VmRSS split by kind, the huge pages among them, and (a file layout) its RAM file's page cache. */
export interface MemoryParts {
  rss: number;
  anon: number;
  file: number;
  shmem: number;
  anonHuge: number;
  filePmd: number;
  ramFileCached: number;
}

function kB(text: string, key: string): number {
  return Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? 0) * 1024;
}

async function memoryParts(pid: number, ramFile: string | null): Promise<MemoryParts> {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const rollup = fs.readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
  // fincore (util-linux): the file's pages in the page cache, mapped or not.
  const ramFileCached = ramFile ? Number((await run('fincore', ['--bytes', '--noheadings', '--output', 'RES', ramFile])).stdout.trim()) : 0;
  return {
    rss: kB(status, 'VmRSS'), anon: kB(status, 'RssAnon'), file: kB(status, 'RssFile'), shmem: kB(status, 'RssShmem'),
    anonHuge: kB(rollup, 'AnonHugePages'), filePmd: kB(rollup, 'FilePmdMapped'), ramFileCached,
  };
}

function writeBytes(pid: number): number {
  return Number(/write_bytes:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/io`, 'utf8'))?.[1] ?? 0);
}

/** Drops the page cache of these files only (posix_fadvise DONTNEED through coreutils dd). */
async function dropCache(files: string[]): Promise<void> {
  for (const file of files) if (fs.existsSync(file)) await run('dd', [`if=${file}`, 'iflag=nocache', 'count=0', 'status=none']);
}

async function inGuest(agentSocket: string, script: string, timeoutMs = 600_000): Promise<number> {
  const agent = await connectAgent(agentSocket);
  try {
    const started = performance.now();
    const result = await guestSh(agent, script, timeoutMs);
    if (result.code !== 0) throw new Error(`in the guest: ${script}: ${result.stderr}`);
    return performance.now() - started;
  } finally {
    agent.close();
  }
}

/** QEMU from the image with `cont`: ms from the call to RESUME. */
async function restoreAndResume(paths: VmPaths, command: { file: string; args: string[] }): Promise<{ vm: VmProcess; ms: number }> {
  const started = performance.now();
  const restored = await restoreImage({ paths, command, launch: (incoming) => VmProcess.launch(incoming, paths) });
  const resumed = new Promise<void>((resolve) => restored.vm.qmp.onEvent('RESUME', () => resolve()));
  await restored.vm.qmp.execute('cont');
  await resumed;
  const ms = performance.now() - started;
  removeImage(paths);
  return { vm: restored.vm, ms };
}

/**
 * The floor: the restore's argv with -incoming defer until QMP answers, plus reading the image.
 * A file-backed guest's floor maps a scratch RAM file of the same size (`scratch`), never the
 * guest's own: one RAM file is only ever mapped by one QEMU.
 */
/** Reads a file through once, in 8 MiB chunks (an image can pass the 2 GiB one read may hold). */
function readWhole(file: string): void {
  const fd = fs.openSync(file, 'r');
  const chunk = Buffer.allocUnsafe(8 << 20);
  try {
    while (fs.readSync(fd, chunk, 0, chunk.length, null) > 0);
  } finally {
    fs.closeSync(fd);
  }
}

async function floor(paths: VmPaths, command: { file: string; args: string[] }, scratch: string | null): Promise<number> {
  const image = imagePaths(paths).image;
  readWhole(image); // cached, as the restore found it
  const socket = path.join(paths.runDir, 'floor.sock');
  let args = command.args.map((a) => a.replace(`unix:${paths.qmpSocket},`, `unix:${socket},`)).filter((a, i, all) => a !== '-pidfile' && all[i - 1] !== '-pidfile');
  if (scratch) {
    const scratchPaths = { stateDir: scratch };
    freshRamFile(scratchPaths, args);
    args = args.map((a) => a.replace(`mem-path=${ramFilePath(paths)}`, `mem-path=${ramFilePath(scratchPaths)}`));
  }
  // Its own agent socket and serial file: the guest's are not touched.
  args = args.map((a) => a.replace(/path=[^,]*qga\.sock/, `path=${path.join(paths.runDir, 'floor-qga.sock')}`).replace(/^file:.*serial$/, 'null'));
  const started = performance.now();
  const child = spawn(command.file, [...args, '-incoming', 'defer'], { stdio: 'ignore' });
  let qmp: QmpClient | null = null;
  for (let i = 0; i < 400 && !qmp; i++) qmp = await QmpClient.connect(socket).catch(async () => (await sleep(5), null));
  readWhole(image);
  const ms = performance.now() - started;
  await qmp?.execute('quit').catch(() => undefined);
  await new Promise((resolve) => (child.exitCode !== null ? resolve(null) : child.once('exit', resolve)));
  return ms;
}

export async function measureSize(guest: Guest, mib: number, layout: GuestRam, costSeconds: number): Promise<SizeResult> {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'bigguest-'));
  const roots = { runRoot: path.join(root, 'run'), stateRoot: path.join(root, 'state') };
  const paths = vmPaths(roots, 'big');
  ensureVmDirs(roots, paths);
  const serial = path.join(root, 'serial');
  const agentSocket = path.join(paths.runDir, 'qga.sock');
  const [file, ...guestArgs] = guestQemuArgv(guest, serial, '', { agentSocket, memoryMiB: mib });
  const command = { file: file!, args: [...guestArgs, ...ramFileArgs({ guestRam: layout }, paths, guestArgs), ...controlArgs('big', paths), ...balloonArgs({})] };
  let vm: VmProcess | null = null;
  try {
    if (layout === 'file') freshRamFile(paths, command.args);
    const bootStarted = performance.now();
    vm = await VmProcess.launch(command, paths);
    await waitForContent(serial, (text) => tickCount(text) >= 1, 120_000);
    const coldBootMs = performance.now() - bootStarted;

    // ~60 % of the guest's RAM in a tmpfs: 16 MiB of random data, copied over (no zero pages).
    const fillMiB = Math.floor(mib * 0.6);
    await inGuest(agentSocket, `mkdir -p /big && mount -t tmpfs -o size=90% tmpfs /big && dd if=/dev/urandom of=/big/r bs=1M count=16 2>/dev/null && i=0; while [ $i -lt ${Math.floor(fillMiB / 16)} ]; do cat /big/r >> /big/fill; i=$((i+1)); done; rm /big/r`);
    const filledBytes = Math.floor(fillMiB / 16) * 16 * MiB;
    if (layout === 'file') {
      const fd = fs.openSync(ramFilePath(paths), 'r');
      fs.fsyncSync(fd);
      fs.closeSync(fd);
    }
    const ramFile = layout === 'file' ? ramFilePath(paths) : null;
    const filled = await memoryParts(vm.pid, ramFile);

    // The running cost: what the guest dirties (and the kernel then writes back), idle and busy.
    let written = writeBytes(vm.pid);
    await sleep(costSeconds * 1000);
    const writtenPerMinIdle = ((writeBytes(vm.pid) - written) * 60) / costSeconds;
    await inGuest(agentSocket, `(end=$(( $(date +%s) + ${costSeconds} )); while [ $(date +%s) -lt $end ]; do head -c 16777216 /big/fill > /big/busy; done) </dev/null >/dev/null 2>&1 &`);
    written = writeBytes(vm.pid);
    await sleep(costSeconds * 1000);
    const writtenPerMinBusy = ((writeBytes(vm.pid) - written) * 60) / costSeconds;
    await sleep(1000);
    await inGuest(agentSocket, 'rm -f /big/busy*');

    // Read with dd (read + write: the data is copied through the guest's user memory, so every
    // page is touched): busybox cat to /dev/null uses sendfile, which never reads the pages'
    // contents, and so measured nothing of the guest's memory coming back.
    // After RESUME the agent is not asked again (a restored guest's agent channel may take long to
    // come back): jobs started now, in guest time (frozen while it is on disk), read its data back
    // after each restore and say how long that took on its serial console, then free it.
    const readBack = (label: string) => `s=$(cut -d" " -f1 /proc/uptime); dd if=/big/fill of=/dev/null bs=1M 2>/dev/null; e=$(cut -d" " -f1 /proc/uptime); echo "${label} $s $e" >/dev/ttyS0`;
    await inGuest(agentSocket, `(sleep 3; ${readBack('READBACK-CACHED')}; sleep 3; ${readBack('READBACK-UNCACHED')}; sleep 1; rm -f /big/fill; echo FREED >/dev/ttyS0) </dev/null >/dev/null 2>&1 &`);
    const readBackMs = async (label: string) => {
      const text = await waitForContent(serial, (t) => new RegExp(`${label} [\\d.]+ [\\d.]+`).test(t), 120_000);
      const [, start, end] = new RegExp(`${label} ([\\d.]+) ([\\d.]+)`).exec(text)!;
      return (Number(end) - Number(start)) * 1000;
    };

    const saveStarted = performance.now();
    await saveImage(vm, { paths, command, rssBytes: residentBytes(vm.pid) });
    const saveMs = performance.now() - saveStarted;
    const imageBytes = fs.statSync(imagePaths(paths).image).size;
    await vm.quit();

    // The floor's median of three: one sample on a shared machine is noise.
    const floors: number[] = [];
    for (let i = 0; i < 3; i++) floors.push(await floor(paths, command, layout === 'file' ? root : null));
    const floorMs = floors.sort((a, b) => a - b)[1]!;
    const cached = await restoreAndResume(paths, command);
    vm = cached.vm;
    const readBackCachedMs = await readBackMs('READBACK-CACHED');

    await saveImage(vm, { paths, command, rssBytes: null });
    await vm.quit();
    await dropCache([imagePaths(paths).image, ramFilePath(paths)]);
    const uncached = await restoreAndResume(paths, command);
    vm = uncached.vm;
    const readBackUncachedMs = await readBackMs('READBACK-UNCACHED');

    // Free-page reporting: the guest deletes its data; what comes back within 10 s.
    const blocks = () => (layout === 'file' ? fs.statSync(ramFilePath(paths)).blocks * 512 : 0);
    const ramFileBlocksBefore = blocks();
    const full = residentBytes(vm.pid)!;
    const beforeFree = await memoryParts(vm.pid, ramFile);
    await waitForContent(serial, (t) => /FREED/.test(t), 60_000);
    let lowest = full;
    for (let i = 0; i < 100; i++) {
      await sleep(100);
      lowest = Math.min(lowest, residentBytes(vm.pid)!);
    }
    const afterFree = await memoryParts(vm.pid, ramFile);
    return {
      mib, layout, coldBootMs, writtenPerMinIdle, writtenPerMinBusy, saveMs, imageBytes,
      restoreCachedMs: cached.ms, restoreUncachedMs: uncached.ms, floorMs, readBackCachedMs, readBackUncachedMs,
      reportedBackBytes: full - lowest, ramFileBlocksBefore, ramFileBlocksAfter: blocks(), filledBytes, filled, beforeFree, afterFree,
    };
  } catch (error) {
    console.error(`serial tail: ${fs.readFileSync(serial, 'utf8').slice(-1500)}`);
    throw error;
  } finally {
    if (vm && !vm.ended) await vm.quit(2000).catch(() => undefined);
    fs.rmSync(root, { recursive: true, force: true });
  }
}

export function printSize(r: SizeResult): void {
  const ms = (v: number) => (v >= 1000 ? `${(v / 1000).toFixed(2)} s` : `${v.toFixed(0)} ms`);
  const mb = (v: number) => `${(v / MiB).toFixed(0)} MiB`;
  const chosen = (r.mib >= FILE_RAM_FROM_MIB ? 'file' : 'anonymous') === r.layout ? ' (the default at this size)' : '';
  console.log(`   ${String(r.mib).padStart(5)} MiB ${r.layout.padEnd(9)}${chosen} filled ${mb(r.filledBytes)}; cold boot ${ms(r.coldBootMs)}`);
  console.log(`       save ${ms(r.saveMs)} (image ${mb(r.imageBytes)}); restore → RESUME cached ${ms(r.restoreCachedMs)}, not cached ${ms(r.restoreUncachedMs)}; floor ${ms(r.floorMs)} (restore/floor ${(r.restoreCachedMs / r.floorMs).toFixed(2)}×; cold/restore ${(r.coldBootMs / r.restoreCachedMs).toFixed(0)}×)`);
  const back = (v: number) => (v >= 0 ? ms(v) : "n/a (the guest's clock jumped)");
  console.log(`       the guest reads its data back: ${back(r.readBackCachedMs)} (cached), ${back(r.readBackUncachedMs)} (not cached)`);
  console.log(`       written back per minute: idle ${mb(r.writtenPerMinIdle)}, busy (16 MiB rewritten in a loop) ${mb(r.writtenPerMinBusy)}`);
  console.log(`       data deleted in the guest: ${mb(r.reportedBackBytes)} of QEMU's resident memory back within 10 s${r.layout === 'file' ? `; RAM file on disk ${mb(r.ramFileBlocksBefore)} → ${mb(r.ramFileBlocksAfter)}` : ''}`);
  const verdict = (ok: boolean) => (ok ? 'met' : 'NOT met');
  const goals = [
    `restore ≤ ${GOALS.restoreVsFloor}× the floor: ${verdict(r.restoreCachedMs <= GOALS.restoreVsFloor * r.floorMs)}`,
    `cold ÷ restore ≥ ${GOALS.coldVsRestore}×: ${verdict(r.coldBootMs / r.restoreCachedMs >= GOALS.coldVsRestore)}`,
    ...(r.mib >= 4096
      ? [`cached ≤ ${GOALS.bigCachedMs} ms: ${verdict(r.restoreCachedMs <= GOALS.bigCachedMs)}`, `not cached ≤ ${GOALS.bigUncachedMs} ms: ${verdict(r.restoreUncachedMs <= GOALS.bigUncachedMs)}`, `save ≤ ${GOALS.bigSaveMs} ms: ${verdict(r.saveMs <= GOALS.bigSaveMs)}`]
      : []),
  ];
  console.log(`       goals: ${goals.join('; ')}`);
  const parts = (m: MemoryParts) => `RSS ${mb(m.rss)} = anon ${mb(m.anon)} (huge ${mb(m.anonHuge)}) + file ${mb(m.file)} (PMD-mapped ${mb(m.filePmd)}) + shmem ${mb(m.shmem)}${r.layout === 'file' ? `; RAM file in page cache ${mb(m.ramFileCached)}` : ''}`;
  console.log(`       filled: ${parts(r.filled)}`);
  console.log(`       before freeing: ${parts(r.beforeFree)}`);
  console.log(`       10 s after:     ${parts(r.afterFree)}`);
}
