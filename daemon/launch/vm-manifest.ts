/**
 * What hiboss reads from a flake VM's build (nix/vm-image.nix): DATA only.
 *
 *   RESULT/hiboss-vm.json   the manifest below (written by hiboss's expression)
 *   RESULT/kernel           the guest's kernel   ─┐ links into the store; handed
 *   RESULT/initrd           the guest's initrd    │ to QEMU as files it loads into
 *   RESULT/closure.img      the closure (squashfs)┘ the guest, never executed here
 *
 * The manifest's values come from the network's configuration (it is the
 * network's to choose its memory size or kernel parameters), so each is
 * bounded here: sizes to ranges QEMU and the host can take, strings to what a
 * kernel command line may hold. Every file must resolve inside the store the
 * build lives in: a symlink to the member's home (an initrd made of their SSH
 * key) is refused.
 */
import fs from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { readFileBounded } from '../../config/read-bounded.js';

export const MANIFEST_FILE = 'hiboss-vm.json';
export const MANIFEST_VERSION = 1;
const MAX_MANIFEST_BYTES = 1024 * 1024;

/** One kernel command-line word: printable, no spaces or quotes (a word cannot become two). */
const KernelParam = z
  .string()
  .min(1)
  .max(1024)
  .regex(/^[\x21-\x7e]+$/, 'a kernel parameter is printable ASCII without spaces')
  .refine((word) => !/["'\\]/.test(word), 'a kernel parameter holds no quotes or backslashes');

const StorePath = z
  .string()
  .max(4096)
  .regex(/^\/[A-Za-z0-9._+\-/]+$/, 'a store path is an absolute path of plain characters');

export const VmManifest = z.strictObject({
  version: z.literal(MANIFEST_VERSION),
  /** nixosConfigurations.NAME */
  name: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/),
  /** The system's toplevel; the guest's init is TOPLEVEL/init (passed as init=). */
  toplevel: StorePath,
  kernelParams: z.array(KernelParam).max(256),
  /** hiboss.vm.memoryMiB (modules/guest-boot.nix), if the configuration says. */
  memoryMiB: z.number().int().min(64).max(256 * 1024).nullable(),
  /** hiboss.vm.cores */
  cores: z.number().int().min(1).max(64).nullable(),
  /** hiboss.vm.diskMiB: the member's disk is made this size when first created. */
  diskSizeMiB: z.number().int().min(64).max(4 * 1024 * 1024).nullable(),
  /** Every store path in closure.img (closureInfo's store-paths). */
  closurePaths: z.array(StorePath).min(1).max(100_000),
  /** closureInfo's total-nar-size: what the closure weighs unpacked. */
  closureBytes: z.number().int().min(0).max(2 ** 50),
});
export type VmManifest = z.infer<typeof VmManifest>;

/** The build's data, its files resolved to real paths inside the store. */
export interface VmBuild {
  manifest: VmManifest;
  kernel: string;
  initrd: string;
  closureImage: string;
  /** The whole kernel command line hiboss passes (init= first, then the network's parameters). */
  cmdline: string;
}

export class VmBuildError extends Error {
  override name = 'VmBuildError';
}

/**
 * Reads `outPath` (a generation's GC root or its target). `storeDir` is where
 * the build lives (nix's store: /nix/store); every file must resolve into it.
 */
export function readVmBuild(outPath: string, storeDir?: string): VmBuild {
  let real: string;
  try {
    real = fs.realpathSync(outPath);
  } catch (error) {
    throw new VmBuildError(`${outPath} is gone (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
  }
  const store = storeDir ?? path.dirname(real);
  const inside = (name: string): string => {
    const file = path.join(real, name);
    let resolved: string;
    try {
      resolved = fs.realpathSync(file);
    } catch {
      throw new VmBuildError(`${outPath} has no ${name}: not a hiboss VM build`);
    }
    if (!resolved.startsWith(store + path.sep)) throw new VmBuildError(`${outPath}/${name} points outside the store (${resolved}): refused`);
    if (!fs.statSync(resolved).isFile()) throw new VmBuildError(`${outPath}/${name} is not a regular file`);
    return resolved;
  };
  let json: unknown;
  const manifestFile = inside(MANIFEST_FILE);
  try {
    json = JSON.parse(readFileBounded(manifestFile, MAX_MANIFEST_BYTES));
  } catch (error) {
    throw new VmBuildError(`${outPath}/${MANIFEST_FILE}: ${(error as Error).message}`);
  }
  const parsed = VmManifest.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new VmBuildError(`${outPath}/${MANIFEST_FILE}: ${issue.path.join('.') || '(root)'}: ${issue.message}`);
  }
  const manifest = parsed.data;
  const cmdline = [`init=${manifest.toplevel}/init`, ...manifest.kernelParams].join(' ');
  if (cmdline.length > 4096) throw new VmBuildError(`${outPath}: the kernel command line is longer than 4096 characters`);
  return { manifest, kernel: inside('kernel'), initrd: inside('initrd'), closureImage: inside('closure.img'), cmdline };
}
