/** The launcher for `qemu` VMs: the configured argv plus the daemon's control options. */
import { controlArgs, type LaunchCommand, type LaunchContext, type Launcher } from './launcher.js';
import { balloonArgs } from './balloon.js';
import { ramFileArgs } from './ram-file.js';
import { audioArgsNow } from './audio.js';
import { DaemonError } from '../errors.js';

export class QemuLauncher implements Launcher {
  async prepare({ name, vm, paths }: LaunchContext): Promise<LaunchCommand> {
    if (!vm.qemu) throw new DaemonError('not a qemu VM');
    const [file, ...args] = vm.qemu;
    return { file: file!, args: [...args, ...ramFileArgs(vm, paths, args), ...controlArgs(name, paths), ...balloonArgs(vm), ...(await audioArgsNow(vm, process.env))] };
  }
}
