/**
 * What the test guests' builders (guest.ts, net-guest.ts, sound-guest.ts) share:
 * Debian's packages downloaded and unpacked, an initramfs tree filled file by file
 * and packed with cpio (newc) and gzip, and the result put in its versioned cache
 * directory atomically. Each builder keeps what makes its guest: the kernel, the
 * modules, the programs, the init.
 */
import { execa } from 'execa';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';

/** A built guest: the kernel and the gzipped initramfs QEMU boots. */
export interface Guest {
  kernel: string;
  initrd: string;
}

/** The kernel and initramfs a builder makes, at their place in `cacheDir`. */
export function guestFiles(cacheDir: string): Guest {
  return { kernel: path.join(cacheDir, 'vmlinuz'), initrd: path.join(cacheDir, 'initrd.gz') };
}

export interface Unpacked {
  /** Every package's files, unpacked into one tree. */
  root: string;
  /** The kernel image (boot/vmlinuz-…) in that tree. */
  vmlinuz: string;
}

/**
 * Downloads the kernel `kernelMeta` depends on (linux-image-cloud-amd64, linux-image-amd64)
 * and `packages` with apt-get, and unpacks them all into `work`/root.
 */
export async function unpackDebian(work: string, kernelMeta: string, packages: readonly string[]): Promise<Unpacked> {
  const { stdout: depends } = await execa('apt-cache', ['depends', kernelMeta]);
  const kernelPackage = /Depends: (linux-image-\d\S*)/.exec(depends)?.[1];
  if (!kernelPackage) throw new Error(`cannot find the ${kernelMeta === 'linux-image-cloud-amd64' ? 'cloud ' : ''}kernel package in: ${depends}`);
  await execa('apt-get', ['download', kernelPackage, ...packages], { cwd: work });
  const root = path.join(work, 'root');
  for (const deb of fs.readdirSync(work).filter((f) => f.endsWith('.deb'))) await execa('dpkg-deb', ['-x', path.join(work, deb), root]);
  const vmlinuz = fs.readdirSync(path.join(root, 'boot')).find((f) => f.startsWith('vmlinuz-'));
  if (!vmlinuz) throw new Error('no vmlinuz in the kernel package');
  return { root, vmlinuz: path.join(root, 'boot', vmlinuz) };
}

/** The directories every initramfs starts with. */
const BASE_DIRS = ['bin', 'proc', 'sys', 'dev', 'lib/modules'];

/** An initramfs being filled in a directory, remembering what was put in it, in order. */
export class Initramfs {
  readonly files: string[] = [];

  constructor(readonly root: string) {
    for (const dir of BASE_DIRS) fs.mkdirSync(path.join(root, dir), { recursive: true });
  }

  /** Copies a file in at `inside`, with its parent directories; a path already put is kept as it is. */
  put(from: string, inside: string, mode = 0o644): void {
    if (this.files.includes(inside)) return;
    const to = path.join(this.root, inside);
    fs.mkdirSync(path.dirname(to), { recursive: true });
    fs.copyFileSync(from, to);
    fs.chmodSync(to, mode);
    this.files.push(inside);
  }

  /** Writes `text` at `inside` (a script, by default executable), with its parent directories. */
  write(inside: string, text: string, mode = 0o755): void {
    fs.mkdirSync(path.dirname(path.join(this.root, inside)), { recursive: true });
    fs.writeFileSync(path.join(this.root, inside), text, { mode });
    this.files.push(inside);
  }

  /**
   * The cpio (newc) archive. 'listed': the base and parent directories, sorted, then the files
   * in the order they were put; 'found': whatever `find` lists (a tree also filled by copying
   * whole directories in).
   */
  async pack(order: 'listed' | 'found'): Promise<Uint8Array> {
    let list: string;
    if (order === 'found') list = `${(await execa('find', ['.', '-mindepth', '1'], { cwd: this.root })).stdout}\n`;
    else {
      const dirs = new Set<string>(['.', 'bin', 'proc', 'sys', 'dev', 'lib', 'lib/modules']);
      for (const file of this.files) for (let d = path.dirname(file); d !== '.'; d = path.dirname(d)) dirs.add(d);
      list = [...[...dirs].sort(), ...this.files].join('\n') + '\n';
    }
    const cpio = await execa('cpio', ['-o', '-H', 'newc', '--quiet'], { cwd: this.root, input: list, encoding: 'buffer' });
    return cpio.stdout as Uint8Array;
  }
}

/**
 * Builds a guest into `cacheDir` unless it is there: `build` gets a fresh work
 * directory and returns the kernel's path and the uncompressed cpio. The cache
 * appears whole or not at all (staged beside it, then renamed); the work is removed.
 */
export async function buildGuestCache(
  cacheDir: string,
  label: string,
  build: (work: string) => Promise<{ kernel: string; cpio: Uint8Array; gzipLevel?: number }>,
): Promise<Guest> {
  const guest = guestFiles(cacheDir);
  if (fs.existsSync(guest.kernel) && fs.existsSync(guest.initrd)) return guest;
  const work = fs.mkdtempSync(path.join(os.tmpdir(), `${label}-build-`));
  try {
    const { kernel, cpio, gzipLevel } = await build(work);
    fs.mkdirSync(path.dirname(cacheDir), { recursive: true });
    const staging = fs.mkdtempSync(path.join(path.dirname(cacheDir), `${label}-`));
    fs.copyFileSync(kernel, path.join(staging, 'vmlinuz'));
    fs.writeFileSync(path.join(staging, 'initrd.gz'), zlib.gzipSync(cpio, gzipLevel === undefined ? {} : { level: gzipLevel }));
    fs.rmSync(cacheDir, { recursive: true, force: true });
    fs.renameSync(staging, cacheDir); // atomic: a crash never leaves half a cache
    return guest;
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}
