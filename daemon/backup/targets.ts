/**
 * Where backups go. Both targets take the images a QMP job writes into a chain
 * directory (daemon/backup/chain.ts):
 *
 * - a local directory: the chain lives there (TARGET/NAME/), `keep` restore
 *   points, the oldest incremental merged into the full beyond that;
 * - a restic repository (local path, sftp or rest-server over the VPN): the
 *   chain is a local cache in the VM's state dir, merged down to one image
 *   after each run, and that image is streamed into restic (`backup --stdin`,
 *   one self-contained snapshot per restore point, deduplicated by restic);
 *   retention is restic's own `forget --keep-*`. The password comes from a file.
 */
import fs from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { isResticTarget, type BackupConfig } from '../../config/backup-schema.js';
import { Chain, PointId, type PointMeta } from './chain.js';
import { DaemonError } from '../errors.js';

export interface RestorePoint {
  /** A chain image id (local) or a restic snapshot's short id. */
  id: string;
  /** Epoch ms: the instant the disk was copied. */
  at: number;
  kind: 'full' | 'incremental';
  /** Bytes the point adds on the target. */
  bytes: number;
  consistency: 'frozen' | 'crash-consistent';
  /** The chain image it corresponds to. */
  point: string;
}

export interface Target {
  /** For people: the directory, or "restic REPOSITORY". */
  readonly description: string;
  /** Where the job writes its images. */
  readonly chain: Chain;
  /** Free bytes where the backups are kept (null: a remote repository). */
  freeBytes(): number | null;
  /** After a good image: retention, and for restic the snapshot. Returns what to tell. */
  publish(point: PointMeta, signal: AbortSignal): Promise<string>;
  points(): Promise<RestorePoint[]>;
  /** An image (with its backing chain) holding the point's disk; `scratch` is a directory of ours for downloads. */
  materialize(id: string, scratch: string): Promise<string>;
}

export class TargetError extends DaemonError {}

export function freeBytesAt(dir: string): number | null {
  try {
    const stat = fs.statfsSync(dir);
    return stat.bavail * stat.bsize;
  } catch {
    return null;
  }
}

function toRestorePoint(meta: PointMeta): RestorePoint {
  return { id: meta.id, at: meta.at, kind: meta.kind, bytes: meta.bytes, consistency: meta.consistency, point: meta.id };
}

export class LocalTarget implements Target {
  readonly chain: Chain;
  constructor(readonly root: string, readonly vm: string, private readonly keep: number) {
    this.chain = new Chain(path.join(root, vm));
  }

  get description(): string {
    return this.chain.dir;
  }

  freeBytes(): number | null {
    return freeBytesAt(fs.existsSync(this.chain.dir) ? this.chain.dir : this.root);
  }

  async publish(point: PointMeta): Promise<string> {
    const dropped = await this.chain.retain(this.keep);
    return dropped.length ? `${dropped.length} older point${dropped.length === 1 ? '' : 's'} merged away (keep ${this.keep})` : '';
  }

  async points(): Promise<RestorePoint[]> {
    return this.chain.points().map(toRestorePoint);
  }

  async materialize(id: string): Promise<string> {
    if (!this.chain.points().some((p) => p.id === id)) throw new TargetError(`no backup ${id} in ${this.chain.dir}`);
    return this.chain.image(id);
  }
}

// ---- restic -------------------------------------------------------------------------

const ResticSnapshot = z.looseObject({
  id: z.string(),
  short_id: z.string(),
  time: z.string(),
  tags: z.array(z.string()).optional(),
  paths: z.array(z.string()).optional(),
});
const ResticSnapshots = z.array(ResticSnapshot).max(100_000);
const ResticSummary = z.looseObject({ message_type: z.literal('summary'), snapshot_id: z.string(), data_added: z.number().optional() });

const MAX_RESTIC_OUTPUT = 16 * 1024 * 1024;
const HOST_TAG = 'hiboss';

export class ResticTarget implements Target {
  readonly chain: Chain;
  readonly repository: string;

  constructor(
    readonly vm: string,
    private readonly backup: BackupConfig,
    /** The VM's state dir: the local cache of the latest image lives there. */
    stateDir: string,
  ) {
    this.repository = backup.target.slice('restic:'.length);
    this.chain = new Chain(path.join(stateDir, 'backup-cache'));
  }

  get description(): string {
    return `restic ${this.repository}`;
  }

  freeBytes(): number | null {
    return this.repository.startsWith('/') ? freeBytesAt(this.repository) : null;
  }

  #args(...rest: string[]): string[] {
    return ['--repo', this.repository, '--password-file', this.backup.passwordFile!, ...rest];
  }

  #env(): NodeJS.ProcessEnv {
    // The config decides the repository and password: nothing inherited may override them.
    const env: NodeJS.ProcessEnv = {};
    for (const [key, value] of Object.entries(process.env)) if (!key.startsWith('RESTIC_')) env[key] = value;
    return env;
  }

  async #restic(args: string[], what: string, options: { input?: string; inputFile?: string; signal?: AbortSignal; stdoutFile?: string } = {}): Promise<string> {
    // Loaded on first use: execa and its ~130 modules cost the daemon ~7 MiB of RSS, and most sessions never back up.
    const { execa } = await import('execa');
    const result = await execa('restic', this.#args(...args), {
      reject: false,
      env: this.#env(),
      extendEnv: false,
      maxBuffer: MAX_RESTIC_OUTPUT,
      ...(options.inputFile ? { inputFile: options.inputFile } : { stdin: 'ignore' as const }),
      ...(options.stdoutFile ? { stdout: { file: options.stdoutFile } } : {}),
      ...(options.signal ? { cancelSignal: options.signal } : {}),
    });
    if (result.failed) {
      const why = (result.isCanceled ? 'cancelled' : String(result.stderr || result.shortMessage)).trim().split('\n').filter(Boolean).slice(-2).join(' | ');
      throw new TargetError(`restic ${what} (${this.repository}): ${why}`);
    }
    return String(result.stdout ?? '');
  }

  async publish(point: PointMeta, signal: AbortSignal): Promise<string> {
    // One image in the cache: the latest state, which the next incremental builds on.
    await this.chain.retain(1);
    const latest = this.chain.last();
    if (!latest || latest.id !== point.id) throw new TargetError(`the cache chain in ${this.chain.dir} does not end at ${point.id}`);
    const output = await this.#restic(
      [
        'backup', '--json', '--host', HOST_TAG,
        '--tag', `hiboss,vm=${this.vm},point=${point.id},consistency=${point.consistency}`,
        '--time', resticTime(point.at),
        '--stdin', '--stdin-filename', `${this.vm}.qcow2`,
      ],
      'backup',
      { inputFile: this.chain.image(point.id), signal },
    );
    const summary = output.split('\n').map((line) => {
      try {
        return ResticSummary.safeParse(JSON.parse(line));
      } catch {
        return undefined;
      }
    }).find((parsed) => parsed?.success);
    if (!summary?.success) throw new TargetError(`restic backup (${this.repository}): no summary in its output`);
    const keep = ['--keep-last', String(this.backup.keep)];
    if (this.backup.keepDaily) keep.push('--keep-daily', String(this.backup.keepDaily));
    if (this.backup.keepWeekly) keep.push('--keep-weekly', String(this.backup.keepWeekly));
    if (this.backup.keepMonthly) keep.push('--keep-monthly', String(this.backup.keepMonthly));
    await this.#restic(['forget', '--host', HOST_TAG, '--tag', `vm=${this.vm}`, ...keep, '--prune'], 'forget', { signal });
    return `restic snapshot ${summary.data.snapshot_id.slice(0, 8)} (${summary.data.data_added ?? 0} bytes added)`;
  }

  async points(): Promise<RestorePoint[]> {
    const text = await this.#restic(['snapshots', '--json', '--host', HOST_TAG, '--tag', `vm=${this.vm}`], 'snapshots');
    const snapshots = ResticSnapshots.parse(JSON.parse(text || '[]'));
    return snapshots
      .map((snapshot): RestorePoint | null => {
        const tag = (key: string) => snapshot.tags?.find((t) => t.startsWith(`${key}=`))?.slice(key.length + 1);
        const point = tag('point');
        if (!point || !PointId.safeParse(point).success) return null;
        return {
          id: snapshot.short_id,
          at: Date.parse(snapshot.time),
          kind: 'full',
          bytes: 0,
          consistency: tag('consistency') === 'frozen' ? 'frozen' : 'crash-consistent',
          point,
        };
      })
      .filter((p): p is RestorePoint => p !== null)
      .sort((a, b) => a.at - b.at);
  }

  async materialize(id: string, scratch: string): Promise<string> {
    if (!/^[0-9a-f]{8,64}$/.test(id)) throw new TargetError(`"${id}" is not a restic snapshot id`);
    const out = path.join(scratch, `${this.vm}.restic.qcow2`);
    await this.#restic(['dump', id, `/${this.vm}.qcow2`], 'dump', { stdoutFile: out });
    return out;
  }
}

/** restic's --time format ("2006-01-02 15:04:05", local time). */
function resticTime(epochMs: number): string {
  const d = new Date(epochMs);
  const two = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${two(d.getMonth() + 1)}-${two(d.getDate())} ${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}`;
}

export function targetFor(vm: string, backup: BackupConfig, stateDir: string): Target {
  return isResticTarget(backup.target) ? new ResticTarget(vm, backup, stateDir) : new LocalTarget(backup.target, vm, backup.keep);
}
