/**
 * Which VM owns which workspace: one meaning for the daemon (which VM to run on
 * focus), the config schema (one VM per workspace) and the clients that bind
 * new VMs (the wizard, `hiboss join`).
 */

/** A workspace as the WM reports it: "2: mail" has num 2, "acme" none. */
export interface WorkspaceRef {
  name: string;
  num: number | null;
}

/** A configured workspace "2" matches "2" and any "2: label"; other names match exactly. */
export function workspaceMatches(configured: string, workspace: WorkspaceRef): boolean {
  if (configured === workspace.name) return true;
  // The number first: the daemon asks this of every VM on every switch, and most differ there.
  return workspace.num !== null && workspace.num === Number(configured) && /^\d+$/.test(configured);
}

/** Configured workspace → the VM bound to it (the first one, when a broken config binds two). */
export function workspaceOwners(vms: Record<string, { workspace?: string | undefined }>): Map<string, string> {
  const owners = new Map<string, string>();
  for (const [name, vm] of Object.entries(vms)) {
    if (vm.workspace !== undefined && !owners.has(vm.workspace)) owners.set(vm.workspace, name);
  }
  return owners;
}

/** Workspaces in the WM's order: by number first ("2" before "10"), then by name. */
export function compareWorkspaceNames(a: string, b: string): number {
  const na = parseInt(a, 10);
  const nb = parseInt(b, 10);
  if (!Number.isNaN(na) && !Number.isNaN(nb) && na !== nb) return na - nb;
  if (Number.isNaN(na) !== Number.isNaN(nb)) return Number.isNaN(na) ? 1 : -1;
  return compareNames(a, b);
}

/**
 * Names (of VMs, of workspaces) in one order whatever the user's locale — and
 * without `localeCompare`, which maps ICU's collation tables (~3 MiB) into the daemon.
 */
export function compareNames(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
