/**
 * config.json's VMs as the policy sees them (VmSpec), and which of a VM's
 * settings only take effect at its next start.
 */
import type { Config } from '../config/schema.js';
import { memorySpec } from './policy/memory.js';
import type { VmSpec } from './policy/policy.js';

export function specsOf(config: Config): VmSpec[] {
  return Object.entries(config.vms).map(([name, vm]) => ({
    name,
    workspace: vm.workspace ?? null,
    restart: vm.restart,
    whenHidden: vm.whenHidden ?? 'pause',
    ...memorySpec(vm),
    ...(vm.backup ? { backup: { everyHours: vm.backup.everyHours, target: vm.backup.target } } : {}),
    ...(vm.audio === false ? { audio: false } : {}),
  }));
}

/** Whether what QEMU is started with changed: it applies at the VM's next start, not to the running one. */
export function launchSettingsChanged(before: Config['vms'][string], after: Config['vms'][string]): boolean {
  const launchPart = (vm: Config['vms'][string]) => ({ qemu: vm.qemu, flake: vm.flake });
  return JSON.stringify(launchPart(before)) !== JSON.stringify(launchPart(after));
}
