/**
 * VM windows land on their VM's workspace, labelled with the network's name:
 * the label is how a user always knows which network a window belongs to.
 * sway gives each window's pid; i3's X11 windows carry none, so there QEMU's
 * window title ("QEMU (NAME)", from -name) identifies it.
 *
 * Real QEMU 7.2 gtk titles (ui/gtk.c), all seen on real windows in the tests:
 *   "QEMU (NAME)"                                       the main window
 *   "QEMU (NAME) [Paused]"                              while the VM is stopped
 *   "QEMU (NAME) - Press Ctrl+Alt+G to release grab"    while it grabs input
 *   "QEMU (NAME): LABEL…"                               a detached tab's own window
 */
import type { Node } from '../wm-ipc/protocol.js';
import { labelFormat } from './window-colors.js';

export interface VmWindowInfo {
  name: string;
  pid: number | null;
  workspace: string | null;
  /** The network's colour (#rrggbb) for its label; none: a plain label. */
  color?: string | null;
}

/** Quotes a string for a sway/i3 command argument. */
export function quoteForWm(text: string): string {
  return `"${text.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

/** The WM command that moves the focus to a configured workspace ("2" means workspace number 2). */
export function workspaceCommand(workspace: string): string {
  return /^\d+$/.test(workspace) ? `workspace number ${workspace}` : `workspace ${quoteForWm(workspace)}`;
}

/**
 * Whether a window title is one QEMU's gtk display gives VM `name`. Anchored:
 * "QEMU (a)" must not claim "QEMU (ab)", nor a browser tab that merely mentions
 * "QEMU (a)"; what follows the name is one of QEMU's own suffixes (space or ':').
 */
export function isQemuTitleOf(title: string, name: string): boolean {
  const prefix = `QEMU (${name})`;
  if (!title.startsWith(prefix)) return false;
  const next = title.charAt(prefix.length);
  return next === '' || next === ' ' || next === ':';
}

/** An X11 window's class says which program made it; i3 reports it, sway's Wayland windows have none. */
function mayBeQemu(container: Node): boolean {
  const props = container.window_properties;
  if (!props || (props.class == null && props.instance == null)) return true;
  return /qemu/i.test(props.class ?? '') || /qemu/i.test(props.instance ?? '');
}

export function vmOfWindow(container: Node, vms: VmWindowInfo[]): VmWindowInfo | undefined {
  if (typeof container.pid === 'number' && container.pid > 0) {
    const byPid = vms.find((vm) => vm.pid === container.pid);
    if (byPid) return byPid;
  }
  if (!mayBeQemu(container)) return undefined;
  const title = container.window_properties?.title ?? container.name ?? '';
  return vms.find((vm) => isQemuTitleOf(title, vm.name));
}

/**
 * The decision for one WM `window` event: the VM whose window this is and that
 * still needs placing, or undefined. A window is placed once — on `new`, or, if
 * its title was not yet QEMU's at `new` (an X11 client may set WM_NAME after
 * mapping), on the first `title` event that makes it ours. Later title changes
 * ("[Paused]", grab hints) must not move a window the user has since moved.
 * The caller keeps `placed` (container ids): add the id once placed, delete it on `close`.
 */
export function windowToPlace(
  change: string,
  container: Node,
  vms: VmWindowInfo[],
  placed: ReadonlySet<number>,
): VmWindowInfo | undefined {
  if (change !== 'new' && change !== 'title') return undefined;
  if (placed.has(container.id)) return undefined;
  return vmOfWindow(container, vms);
}

/** Commands for a new window of a VM: label it, and move it to the VM's workspace. */
export function placeWindowCommands(container: Node, vm: VmWindowInfo): string {
  const target = `[con_id=${container.id}]`;
  const label = `${target} title_format ${quoteForWm(labelFormat(vm.name, vm.color))}`;
  if (vm.workspace === null) return label;
  const move = /^\d+$/.test(vm.workspace)
    ? `${target} move container to workspace number ${vm.workspace}`
    : `${target} move container to workspace ${quoteForWm(vm.workspace)}`;
  return `${label}; ${move}`;
}
