/**
 * Which file is a VM's disk, when QEMU is not there to ask (a stopped VM's
 * offline backup, a restore): the config's `backup.disk`, else the disk a live
 * backup found last, else what the launch settings say (a flake VM's
 * $NIX_DISK_IMAGE in its state dir; a QEMU argv's one writable `-drive file=`).
 */
import path from 'node:path';
import type { VmConfig } from '../../config/schema.js';
import type { VmPaths } from '../../config/paths.js';
import { parseFlakeVmRef } from '../../networks/flake-ref.js';
import { DaemonError } from '../errors.js';

export class DiskPathError extends DaemonError {}

/** QEMU's `key=value,key=value` option text, with `,,` standing for a comma. */
export function parseQemuOpts(text: string): Map<string, string> {
  const options = new Map<string, string>();
  const parts: string[] = [];
  let current = '';
  for (let i = 0; i < text.length; i++) {
    if (text[i] === ',' && text[i + 1] === ',') {
      current += ',';
      i++;
    } else if (text[i] === ',') {
      parts.push(current);
      current = '';
    } else current += text[i];
  }
  parts.push(current);
  for (const part of parts) {
    const eq = part.indexOf('=');
    if (eq > 0) options.set(part.slice(0, eq), part.slice(eq + 1));
  }
  return options;
}

/** The writable `-drive file=…` disks of a QEMU argv. */
export function drivesOf(argv: readonly string[]): string[] {
  const files: string[] = [];
  for (let i = 0; i < argv.length - 1; i++) {
    if (argv[i] !== '-drive' && argv[i] !== '--drive') continue;
    const options = parseQemuOpts(argv[i + 1]!);
    const file = options.get('file');
    if (!file || options.get('media') === 'cdrom' || ['on', 'true', 'yes'].includes(options.get('readonly') ?? '')) continue;
    files.push(path.resolve(file));
  }
  return files;
}

export function diskPathFor(name: string, vm: VmConfig, paths: Pick<VmPaths, 'stateDir'>, lastKnown: string | null): string {
  if (vm.backup?.disk) return vm.backup.disk;
  if (lastKnown) return lastKnown;
  if (vm.flake !== undefined) {
    const { configuration } = parseFlakeVmRef(vm.flake, name);
    return path.join(paths.stateDir, `${configuration}.qcow2`);
  }
  const drives = drivesOf(vm.qemu ?? []);
  if (drives.length === 1) return drives[0]!;
  throw new DiskPathError(
    drives.length === 0
      ? `${name}: no disk in its QEMU argv (-drive file=…) to back up; set backup.disk`
      : `${name}: its QEMU argv has ${drives.length} disks (${drives.join(', ')}): set backup.disk to the one to back up`,
  );
}
