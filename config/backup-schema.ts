/**
 * A VM's `backup` setting in config.json: where its disk is backed
 * up, how often, and how many restore points are kept. One schema for the
 * daemon and every client.
 *
 *   "backup": { "target": "/srv/backups", "everyHours": 24, "keep": 7 }
 *   "backup": { "target": "restic:sftp:me@nas.vpn:/srv/restic", "passwordFile": "/home/me/.config/hiboss/restic-pass",
 *               "everyHours": 24, "keep": 7, "keepWeekly": 4 }
 */
import path from 'node:path';
import { z } from 'zod';
import { NO_CONTROL_CHARACTERS, withoutControlCharacters } from '../shared/control-chars.js';

/** restic repositories hiboss accepts: a local path, sftp or rest-server (e.g. over the network's VPN). */
const RESTIC_REPOSITORY = /^(\/|sftp:|rest:)/;

const AbsolutePath = z
  .string()
  .min(1)
  .max(4096)
  .refine(withoutControlCharacters, NO_CONTROL_CHARACTERS)
  .refine((p) => path.isAbsolute(p) && !p.split('/').includes('..'), 'must be an absolute path without ".."');

export const BackupTarget = z
  .string()
  .min(1)
  .max(4096)
  .refine(withoutControlCharacters, NO_CONTROL_CHARACTERS)
  .superRefine((target, ctx) => {
    if (target.startsWith('restic:')) {
      const repository = target.slice('restic:'.length);
      if (!RESTIC_REPOSITORY.test(repository) || repository.startsWith('-')) {
        ctx.addIssue({ code: 'custom', message: 'a restic target is restic:/local/path, restic:sftp:user@host:/path or restic:rest:http(s)://host:port/' });
      }
      return;
    }
    if (!path.isAbsolute(target) || target.split('/').includes('..')) {
      ctx.addIssue({ code: 'custom', message: 'a backup target is an absolute directory (/srv/backups) or restic:REPOSITORY' });
    }
  });

export const BackupConfig = z
  .strictObject({
    /** An absolute directory (a chain of qcow2 images per VM) or `restic:REPOSITORY`. */
    target: BackupTarget,
    /** How often a backup is taken; a VM whose last good backup is older than 1.25 × this is flagged "unbacked". */
    everyHours: z.number().positive().max(24 * 366).default(24),
    /** Restore points kept (a local directory; for restic, `forget --keep-last`). */
    keep: z.number().int().min(1).max(1000).default(7),
    /** restic only: `forget --keep-daily/--keep-weekly/--keep-monthly`, on top of `keep`. */
    keepDaily: z.number().int().min(1).max(1000).optional(),
    keepWeekly: z.number().int().min(1).max(1000).optional(),
    keepMonthly: z.number().int().min(1).max(1000).optional(),
    /** restic only: the file holding the repository password (never the password itself). */
    passwordFile: AbsolutePath.optional(),
    /** The disk to back up, when the VM has several or is first backed up while stopped (default: found through QMP). */
    disk: AbsolutePath.optional(),
    /** Bandwidth limit of the copy, MiB/s (default: unlimited). */
    speedMiBps: z.number().positive().max(1 << 20).optional(),
  })
  .superRefine((backup, ctx) => {
    const restic = backup.target.startsWith('restic:');
    if (restic && backup.passwordFile === undefined) {
      ctx.addIssue({ code: 'custom', path: ['passwordFile'], message: 'a restic target needs passwordFile (the repository password, in a file)' });
    }
    if (!restic) {
      for (const key of ['passwordFile', 'keepDaily', 'keepWeekly', 'keepMonthly'] as const) {
        if (backup[key] !== undefined) ctx.addIssue({ code: 'custom', path: [key], message: `${key} applies to restic targets only` });
      }
    }
  });
export type BackupConfig = z.infer<typeof BackupConfig>;

export function isResticTarget(target: string): boolean {
  return target.startsWith('restic:');
}
