/**
 * What the panel's keys do, through the daemon's D-Bus API only (and, for
 * delete, the config file the daemon then re-reads). Each resolves with a line
 * for the status bar; failures reject with a message fit to show.
 */
import type { DaemonClient } from '../api/client.js';
import type { VmStatus } from '../api/schema.js';
import { ConfigError, removeVm } from '../config/file.js';

/** The part of DaemonClient the panel uses: tests may pass a fake of it. */
export type PanelClient = Pick<
  DaemonClient,
  'status' | 'start' | 'stop' | 'pause' | 'resume' | 'restart' | 'act' | 'log' | 'reload' | 'on' | 'off' | 'available' | 'generations' | 'update' | 'approveUpdate' | 'rollback' | 'backup' | 'restoreBackup' | 'identity'
>;

export type VmAction = 'start' | 'stop' | 'pause-resume' | 'restart' | 'focus' | 'hibernate' | 'update' | 'update-now' | 'approve-update' | 'rollback' | 'backup';

export const ACTION_KEYS: Record<string, VmAction> = {
  s: 'start',
  x: 'stop',
  p: 'pause-resume',
  r: 'restart',
  g: 'focus',
  // Memory: save it to disk and hold it there (its QEMU ends; p brings it back, focus does not).
  h: 'hibernate',
  // Flake VMs: update (used at the next start), update and restart into it, back to the last healthy generation.
  u: 'update',
  'S-u': 'update-now', // U
  // An update held for review (updates.review): approve it, built and used at the next start.
  'S-a': 'approve-update', // A
  b: 'rollback',
  // Backups: back up now (R, restore, asks first: panel/app.ts).
  'S-b': 'backup', // B
};

export async function runVmAction(client: PanelClient, action: VmAction, vm: VmStatus): Promise<string> {
  switch (action) {
    case 'start':
      await client.start(vm.name);
      return `${vm.name}: start requested`;
    case 'stop':
      await client.stop(vm.name);
      return `${vm.name}: stop requested`;
    case 'pause-resume':
      if (vm.state === 'paused' || vm.state === 'hibernated') {
        await client.resume(vm.name);
        return `${vm.name}: resume requested`;
      }
      await client.pause(vm.name);
      return `${vm.name}: pause requested`;
    case 'restart':
      await client.restart(vm.name);
      return `${vm.name}: restart requested`;
    case 'hibernate':
      return client.act('hibernate', vm.name);
    case 'update':
    case 'update-now':
      if (vm.kind !== 'flake') throw new Error(`${vm.name} is a QEMU VM: only flake VMs are updated`);
      return client.update(vm.name, action === 'update-now');
    case 'approve-update':
      if (vm.kind !== 'flake') throw new Error(`${vm.name} is a QEMU VM: only flake VMs are updated`);
      return client.approveUpdate(vm.name, false);
    case 'backup':
      return client.backup(vm.name);
    case 'rollback':
      if (vm.kind !== 'flake') throw new Error(`${vm.name} is a QEMU VM: it has no generations`);
      return client.rollback(vm.name, 0, true);
    case 'focus': {
      if (vm.workspace === null) throw new Error(`${vm.name} is not bound to a workspace`);
      const done = await client.act('focus', vm.name);
      return done || `${vm.name}: went to workspace ${vm.workspace}`;
    }
    default: {
      const never: never = action;
      throw new Error(`unknown VM action ${JSON.stringify(never)}`);
    }
  }
}

/** Removes the VM from the config and has the daemon re-read it. The network's files stay. */
export async function deleteVm(client: PanelClient, configFile: string, name: string): Promise<string> {
  try {
    removeVm(configFile, name);
  } catch (error) {
    if (error instanceof ConfigError) throw new Error(`cannot delete ${name}: ${error.problems.join('; ')}`);
    throw error;
  }
  if (!client.available) return `${name} removed from ${configFile}; the daemon reads it when it starts`;
  const problems = await client.reload();
  return problems.length ? `${name} removed, but the daemon refused the config: ${problems.join('; ')}` : `${name} removed from ${configFile}`;
}
