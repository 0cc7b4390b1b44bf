/**
 * VM windows land on their VM's workspace, labelled with the network's name:
 * the label is how a user always knows which network a window belongs to.
 * sway gives each window's pid; i3's X11 windows carry none, so there QEMU's
 * window title ("QEMU (NAME)", from -name) identifies it.
 */
import type { Node } from '../wm-ipc/protocol.js';

export interface VmWindowInfo {
  name: string;
  pid: number | null;
  workspace: string | null;
}

/** Quotes a string for a sway/i3 command argument. */
export function quoteForWm(text: string): string {
  return `"${text.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

/** The WM command that moves the focus to a configured workspace ("2" means workspace number 2). */
export function workspaceCommand(workspace: string): string {
  return /^\d+$/.test(workspace) ? `workspace number ${workspace}` : `workspace ${quoteForWm(workspace)}`;
}

export function vmOfWindow(container: Node, vms: VmWindowInfo[]): VmWindowInfo | undefined {
  if (typeof container.pid === 'number') {
    const byPid = vms.find((vm) => vm.pid === container.pid);
    if (byPid) return byPid;
  }
  const title = container.window_properties?.title ?? container.name ?? '';
  return vms.find((vm) => title.includes(`QEMU (${vm.name})`));
}

/** Commands for a new window of a VM: label it, and move it to the VM's workspace. */
export function placeWindowCommands(container: Node, vm: VmWindowInfo): string {
  const target = `[con_id=${container.id}]`;
  const label = `${target} title_format ${quoteForWm(`[${vm.name}] %title`)}`;
  if (vm.workspace === null) return label;
  const move = /^\d+$/.test(vm.workspace)
    ? `${target} move container to workspace number ${vm.workspace}`
    : `${target} move container to workspace ${quoteForWm(vm.workspace)}`;
  return `${label}; ${move}`;
}
