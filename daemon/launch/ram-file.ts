/**
 * A VM's RAM in a file hiboss owns (`guestRam: "file"`, the default from
 * FILE_RAM_FROM_MIB of guest memory on): `guest-ram.bin` in the VM's state dir
 * (0600: the guest's RAM is secret), mapped by QEMU as the machine's memory
 * backend (`memory-backend-file,share=on`). A save with QMP's `x-ignore-shared`
 * then writes only the device state, and a restore maps the same file again:
 * neither grows with the guest's size. What it costs: the kernel writes the
 * pages the guest changes back to the file while it runs (page cache, not
 * anonymous memory), and a save fsyncs what is still dirty.
 *
 * A `qemu` VM whose argv lays out its memory itself (`-mem-path`, a memory
 * backend of its own, NUMA nodes, hot-pluggable memory) keeps its layout.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { VmPaths } from '../../config/paths.js';
import type { GuestRam, VmConfig } from '../../config/schema.js';

/** From this much guest memory on, a VM's RAM is a file unless its config says otherwise. */
export const FILE_RAM_FROM_MIB = 1024;
/** The memory backend's QOM id in the argv: what marks a command as file-backed. */
export const RAM_BACKEND_ID = 'hiboss-ram';
/** QEMU's default guest memory without `-m` (MiB). */
const QEMU_DEFAULT_MIB = 128;

export function ramFilePath(paths: Pick<VmPaths, 'stateDir'>): string {
  return path.join(paths.stateDir, 'guest-ram.bin');
}

/** The guest's memory in MiB from an argv's `-m` (QEMU's forms: 256, 256M, 2G, size=2G), or null when it sets more than a size. */
export function memoryMiBOf(args: readonly string[]): number | null {
  let value: string | null = null;
  args.forEach((arg, index) => {
    if ((arg === '-m' || arg === '--m') && args[index + 1] !== undefined) value = args[index + 1]!;
  });
  if (value === null) return QEMU_DEFAULT_MIB;
  const parts = (value as string).split(',');
  const size = parts.length === 1 && !parts[0]!.includes('=') ? parts[0]! : parts.find((p) => p.startsWith('size='))?.slice(5);
  // slots= / maxmem= (hot-pluggable memory): not a single block hiboss can back with one file.
  if (size === undefined || parts.some((p) => p.startsWith('slots=') || p.startsWith('maxmem='))) return null;
  const match = /^(\d+(?:\.\d+)?)([MGT]?)i?B?$/i.exec(size);
  if (!match) return null;
  const unit = { '': 1, M: 1, G: 1024, T: 1024 * 1024 }[match[2]!.toUpperCase() as '' | 'M' | 'G' | 'T'];
  const mib = Number(match[1]) * unit;
  return Number.isInteger(mib) && mib > 0 ? mib : null;
}

/** An argv that lays out the guest's memory itself: hiboss leaves it as it is. */
function ownMemoryLayout(args: readonly string[]): boolean {
  return args.some((arg, index) => arg === '-mem-path' || arg === '-numa' || /(^|,)memory-backend=/.test(arg) || (arg === '-object' && /^memory-backend-/.test(args[index + 1] ?? '')));
}

/** Where this VM's RAM lives, from its config and its argv (without the backend hiboss adds). */
export function guestRamOf(vm: Pick<VmConfig, 'guestRam'>, args: readonly string[]): GuestRam {
  const mib = memoryMiBOf(args);
  if (mib === null || ownMemoryLayout(args)) return 'anonymous';
  return vm.guestRam ?? (mib >= FILE_RAM_FROM_MIB ? 'file' : 'anonymous');
}

/** The options that put the guest's RAM in its file, or none (anonymous memory). */
export function ramFileArgs(vm: Pick<VmConfig, 'guestRam'>, paths: Pick<VmPaths, 'stateDir'>, args: readonly string[]): string[] {
  if (guestRamOf(vm, args) !== 'file') return [];
  const mib = memoryMiBOf(args)!;
  const file = ramFilePath(paths).replaceAll(',', ',,');
  return ['-object', `memory-backend-file,id=${RAM_BACKEND_ID},size=${mib}M,mem-path=${file},share=on`, '-machine', `memory-backend=${RAM_BACKEND_ID}`];
}

/** Whether a command keeps the guest's RAM in hiboss's file (its save and restore then skip the RAM). */
export function usesRamFile(args: readonly string[]): boolean {
  return args.includes(`memory-backend=${RAM_BACKEND_ID}`);
}

/**
 * A cold boot's RAM file: as long as the guest's memory, all holes (zeros; the disk fills as the
 * guest writes), 0600. Written under a temporary name and renamed: whatever was there (a stale
 * file of an earlier run) is replaced whole.
 */
export function freshRamFile(paths: Pick<VmPaths, 'stateDir'>, args: readonly string[]): void {
  const mib = memoryMiBOf(args);
  if (mib === null) return;
  const file = ramFilePath(paths);
  const temp = `${file}.${process.pid}.tmp`;
  const fd = fs.openSync(temp, fs.constants.O_RDWR | fs.constants.O_CREAT | fs.constants.O_TRUNC | fs.constants.O_NOFOLLOW, 0o600);
  try {
    fs.fchmodSync(fd, 0o600);
    fs.ftruncateSync(fd, mib * 1024 * 1024);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(temp, file);
}

/** A VM that ended for good (not saved): its RAM file is the guest's secret and as large as its RAM. */
export function removeRamFile(paths: Pick<VmPaths, 'stateDir'>): void {
  fs.rmSync(ramFilePath(paths), { force: true });
}
