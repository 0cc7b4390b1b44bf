/**
 * Host directories the member maps into a flake VM (config.json `shares`),
 * and nothing else of the host: each is checked when the VM starts — it
 * exists, is a directory, no component of its path is a symlink (what it
 * names is what is shared), and it is neither the Nix store nor inside or
 * above it (a VM sees only its own closure). QEMU exports each over 9p
 * (`-fsdev local`, `readonly=on` unless the member says writable; files made
 * by the guest belong to the member), and the guest learns what to mount
 * from the member only: `-fw_cfg name=opt/hiboss/shares`, a JSON file in the
 * VM's run dir that the guest-side module (modules/guest-shares.nix) reads.
 */
import fs from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import type { Share } from '../../config/schema.js';
import { writeFileAtomic } from '../../config/file.js';
import { errorCode } from '../../shared/error-message.js';
import { qemuValue } from './flake-argv.js';
import type { VmPaths } from './launcher.js';

/** The fw_cfg entry the guest reads (/sys/firmware/qemu_fw_cfg/by_name/opt/hiboss/shares/raw). */
export const SHARES_FW_CFG = 'opt/hiboss/shares';

/** What the guest is told: one schema for the file hiboss writes (the guest module reads it with jq). */
export const GuestShares = z
  .array(
    z.strictObject({
      /** The 9p mount tag: hiboss0, hiboss1 … */
      tag: z.string().regex(/^hiboss[0-9]$/),
      path: z.string().regex(/^(\/[A-Za-z0-9._-]+)+$/).max(256),
      writable: z.boolean(),
    }),
  )
  .max(8);
export type GuestShares = z.infer<typeof GuestShares>;

export class ShareError extends Error {
  override name = 'ShareError';
}

const STORE = '/nix/store';

/** Why a host directory may not be shared, or null. No symlink anywhere on its path. */
export function shareProblem(host: string, stores: string[] = [STORE]): string | null {
  const parts = host.split('/').filter((part) => part !== '' && part !== '.');
  const real = `/${parts.join('/')}`;
  const inside = (dir: string, parent: string) => dir === parent || dir.startsWith(`${parent}/`);
  if (real === '/' || stores.some((store) => inside(real, store) || inside(store, real))) return `${host} is, is in or holds the Nix store: a VM sees only its own closure`;
  for (let i = 1; i <= parts.length; i++) {
    const prefix = `/${parts.slice(0, i).join('/')}`;
    let stat: fs.Stats;
    try {
      stat = fs.lstatSync(prefix);
    } catch (error) {
      return `${prefix} ${errorCode(error) === 'ENOENT' ? 'does not exist' : `cannot be read (${errorCode(error) ?? 'error'})`}`;
    }
    if (stat.isSymbolicLink()) return `${prefix} is a symlink (share the directory it points to, by its own path)`;
    if (i === parts.length && !stat.isDirectory()) return `${host} is not a directory`;
  }
  return null;
}

/** The shares checked, and what the guest is told; throws a ShareError naming the first bad one. */
export function checkShares(name: string, shares: Share[], stores: string[] = [STORE]): { share: Share; tag: string }[] {
  return shares.map((share, index) => {
    const problem = shareProblem(share.host, stores);
    if (problem !== null) throw new ShareError(`${name}: cannot share ${share.host} (shares[${index}]): ${problem}`);
    return { share, tag: `hiboss${index}` };
  });
}

/** The fw_cfg file's path in the VM's run dir. */
export function sharesFile(paths: VmPaths): string {
  return path.join(paths.runDir, 'shares.json');
}

/** QEMU's options for checked shares (none: no 9p device at all); writes the guest's file (0600). */
export function shareArgs(checked: { share: Share; tag: string }[], paths: VmPaths): string[] {
  if (checked.length === 0) return [];
  const told: GuestShares = GuestShares.parse(checked.map(({ share, tag }) => ({ tag, path: share.guest, writable: share.writable })));
  writeFileAtomic(sharesFile(paths), `${JSON.stringify(told)}\n`);
  return [
    ...checked.flatMap(({ share, tag }) => [
      // security_model=none: files keep the member's ownership (QEMU runs as the member); no xattrs, no chown.
      '-fsdev', `local,id=${tag},path=${qemuValue(share.host)},security_model=none${share.writable ? '' : ',readonly=on'}`,
      '-device', `virtio-9p-pci,fsdev=${tag},mount_tag=${tag}`,
    ]),
    '-fw_cfg', `name=${SHARES_FW_CFG},file=${qemuValue(sharesFile(paths))}`,
  ];
}
