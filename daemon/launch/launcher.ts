/**
 * The seam between "what the config says" and "the process to start": each
 * kind of VM (a QEMU argv, a flake) has a launcher that turns its config into
 * one command. The supervisor starts that command the same way for every kind,
 * so every VM is controlled through the same QMP socket and pidfile.
 */
import type { VmPaths } from '../../config/paths.js';
import type { VmConfig } from '../../config/schema.js';

export type { VmPaths };


/** The process the supervisor spawns (argv only: nothing passes through a shell). */
export interface LaunchCommand {
  file: string;
  args: string[];
  /** Added to the daemon's environment. */
  env?: Record<string, string>;
  /** A flake VM: the generation this command boots (daemon/updates/generations.ts). */
  generation?: number;
  /** Open descriptors QEMU inherits as its fds 3, 4, … (a restore's image, which QEMU then reads itself). */
  inheritFds?: number[];
}

export interface LaunchContext {
  name: string;
  vm: VmConfig;
  paths: VmPaths;
  /** One line of progress (build output …) for the VM's log and the daemon's. */
  progress: (line: string) => void;
  signal: AbortSignal;
}

export interface Launcher {
  /** May take long (a nix build); must honour `signal`. Rejects with a reason users can read. */
  prepare(context: LaunchContext): Promise<LaunchCommand>;
}

/** The options hiboss adds to every QEMU it starts. */
export function controlArgs(name: string, paths: VmPaths): string[] {
  return ['-name', `${name},process=hiboss-${name}`, '-qmp', `unix:${paths.qmpSocket},server=on,wait=off`, '-pidfile', paths.pidFile];
}
