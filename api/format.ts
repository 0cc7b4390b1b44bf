/** How clients (CLI, panel) show the API's numbers to people. */

export function formatDuration(ms: number | null): string {
  if (ms === null) return '-';
  const s = Math.floor(ms / 1000);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

const MiB = 1024 * 1024;

export function formatMiB(bytes: number): string {
  return `${Math.round(bytes / MiB)} MiB`;
}

/** Memory a VM holds: resident in RAM, or its image on disk when hibernated. */
export function formatVmMemory(vm: { rssBytes: number | null; image?: { bytes: number } | null | undefined }): string {
  if (vm.image) return `disk ${formatMiB(vm.image.bytes)}`;
  return vm.rssBytes === null ? '-' : formatMiB(vm.rssBytes);
}

/** Memory held by all VMs against the budget: "412 MiB of 1024 MiB". */
export function formatHeld(memory: { heldBytes: number; budgetMiB: number | null } | undefined): string | null {
  if (!memory) return null;
  return memory.budgetMiB === null ? `${formatMiB(memory.heldBytes)} held` : `${formatMiB(memory.heldBytes)} held of a ${memory.budgetMiB} MiB budget`;
}
