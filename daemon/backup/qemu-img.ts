/**
 * qemu-img, as typed calls (argv only; its JSON parsed with one schema): what an
 * image is, merging a chain's oldest step into its base, checking an image, and
 * flattening a chain for a restore. (Backup images themselves are made by QEMU:
 * blockdev-create, daemon/backup/job.ts.)
 */
import { z } from 'zod';
import { DaemonError } from '../errors.js';

const MAX_OUTPUT_BYTES = 1024 * 1024;

export class QemuImgError extends DaemonError {}

/** `qemu-img info --output=json`: the parts we read. */
export const ImageInfo = z.looseObject({
  filename: z.string(),
  format: z.string(),
  'virtual-size': z.number(),
  'actual-size': z.number().optional(),
  'backing-filename': z.string().optional(),
  'format-specific': z
    .looseObject({
      type: z.string(),
      data: z
        .looseObject({
          compat: z.string().optional(),
          bitmaps: z.array(z.looseObject({ name: z.string(), flags: z.array(z.string()), granularity: z.number() })).optional(),
          corrupt: z.boolean().optional(),
        })
        .optional(),
    })
    .optional(),
});
export type ImageInfo = z.infer<typeof ImageInfo>;

async function run(args: string[], what: string): Promise<string> {
  // Loaded on first use: execa and its ~130 modules cost the daemon ~7 MiB of RSS, and most sessions never back up.
  const { execa } = await import('execa');
  const result = await execa('qemu-img', args, { reject: false, stdin: 'ignore', maxBuffer: MAX_OUTPUT_BYTES, env: { LC_ALL: 'C' } });
  if (result.failed) {
    const why = String(result.stderr || result.stdout || result.shortMessage).trim().split('\n').slice(-3).join(' | ');
    throw new QemuImgError(`${what}: ${why}`);
  }
  return result.stdout;
}

/** What an image is. `shared`: the image may be open in a running QEMU (-U: no lock taken; metadata may lag). */
export async function imageInfo(file: string, options: { shared?: boolean } = {}): Promise<ImageInfo> {
  const text = await run(['info', '--output=json', ...(options.shared ? ['-U'] : []), '--', file], `qemu-img info ${file}`);
  const parsed = ImageInfo.safeParse(JSON.parse(text));
  if (!parsed.success) throw new QemuImgError(`qemu-img info ${file}: unexpected output: ${parsed.error.issues[0]?.message}`);
  return parsed.data;
}

/** Writes `top`'s data into its backing image (the base then holds top's state; top is emptied). */
export async function commitIntoBacking(top: string): Promise<void> {
  await run(['commit', '-q', '--', top], `qemu-img commit ${top}`);
}

/** `top` and everything below it, flattened into one new qcow2 image. */
export async function flatten(top: string, out: string): Promise<void> {
  await run(['convert', '-q', '-O', 'qcow2', '--', top, out], `qemu-img convert ${top}`);
}

/** The image's metadata is sound (no leaks or corruption that matter). */
export async function checkImage(file: string): Promise<void> {
  await run(['check', '-q', '--', file], `qemu-img check ${file}`);
}
