/**
 * What a key press does in the panel: on the main screen, a VM action, a screen
 * opened or a confirmation asked; in a modal, the key goes to its screen (wizard,
 * Market, members) or answers the yes/no. The panel (panel/app.ts) hands in the
 * few things a key may touch, as a KeyHost.
 */
import type blessed from 'blessed';
import type { DaemonStatus } from '../api/schema.js';
import { errorMessage } from '../shared/error-message.js';
import { ACTION_KEYS, deleteVm, runVmAction, type PanelClient } from './actions.js';
import { cycleVmColor } from './colors.js';
import type { Modal } from './modal.js';
import type { Layout } from './screens/layout.js';
import { escapeTags, type TreeRow } from './view-model.js';

export interface Key {
  full?: string;
  name?: string;
}

export interface KeyHost {
  readonly client: PanelClient;
  readonly configFile: string;
  readonly screen: blessed.Widgets.Screen;
  readonly layout: Layout;
  readonly status: DaemonStatus | null;
  readonly selectedRow: TreeRow | undefined;
  modal: Modal | null;
  quit(): void;
  say(text: string, error?: boolean): void;
  render(): void;
  /** One render after a burst of keys (a paste), not one per key. */
  renderSoon(): void;
  refresh(): Promise<void>;
  openWizard(editName?: string, localDir?: string | null): void;
  openMarket(): void;
  openMembers(vm: string, checkout: string | null): Promise<void>;
}

/** The keys that act on the selected VM besides ACTION_KEYS: delete, edit, colour, members, restore. */
const VM_KEYS = ['d', 'e', 'c', 'i', 'S-r'];

export async function mainKey(host: KeyHost, ch: string | undefined, key: Key): Promise<void> {
  const name = key.full ?? key.name ?? ch ?? '';
  if (name === 'q' || name === 'C-c') return host.quit();
  if (name === 'n') return host.openWizard();
  if (name === 'm') return host.openMarket();
  // The detail pane outgrows small terminals (memory, generations, backups): it scrolls.
  if (name === 'pagedown' || name === 'pageup') {
    host.layout.detail.scroll((name === 'pagedown' ? 1 : -1) * Math.max(1, Number(host.layout.detail.height) - 3));
    host.screen.render();
    return;
  }
  const row = host.selectedRow;
  const action = Object.hasOwn(ACTION_KEYS, name) ? ACTION_KEYS[name] : undefined;
  if (action === undefined && !VM_KEYS.includes(name)) return;
  if (row?.kind !== 'vm') return host.say(host.status ? 'select a VM first' : 'the daemon is not running', true);
  const vmName = row.vm.name;
  if (name === 'e') return host.openWizard(vmName, row.network.localDir);
  if (name === 'i') return host.openMembers(vmName, row.network.localDir);
  if (name === 'c') {
    try {
      host.say(await cycleVmColor(host.client, host.configFile, vmName));
    } catch (error) {
      host.say(errorMessage(error), true);
    }
    if (host.client.available) await host.refresh();
    return;
  }
  if (name === 'S-r') {
    host.modal = {
      kind: 'confirm',
      text: `{bold}Restore ${escapeTags(vmName)} from its latest backup?{/bold}\n\nThe VM is stopped (ACPI powerdown), its current disk is kept aside (never deleted),\n` +
        `the backup is written in its place, and it starts again.\n\nPress y to restore, n or esc to keep it as it is.`,
      onYes: async () => host.say(await host.client.restoreBackup(vmName, null)),
    };
    return host.render();
  }
  if (name === 'd') {
    host.modal = {
      kind: 'confirm',
      text: `{bold}Delete VM ${escapeTags(vmName)}?{/bold}\n\nIt is removed from ${escapeTags(host.configFile)} and the daemon re-reads it (stopping the VM).\n` +
        `${row.network.localDir ? `The network's files in ${escapeTags(row.network.localDir)} are kept.\n` : ''}\nPress y to delete, n or esc to keep it.`,
      onYes: async () => {
        host.say(await deleteVm(host.client, host.configFile, vmName));
        if (host.client.available) await host.refresh();
      },
    };
    return host.render();
  }
  if (!host.client.available) return host.say('the daemon is not running', true);
  try {
    host.say(await runVmAction(host.client, action!, row.vm));
  } catch (error) {
    host.say(errorMessage(error), true);
  }
}

export async function modalKey(host: KeyHost, ch: string | undefined, key: Key): Promise<void> {
  const modal = host.modal!;
  const name = key.full ?? key.name ?? '';
  switch (modal.kind) {
    case 'confirm':
      if (name === 'y') {
        host.modal = null;
        try {
          await modal.onYes();
        } catch (error) {
          host.say(errorMessage(error), true);
        }
      } else if (name === 'n' || name === 'escape' || name === 'q') {
        host.modal = null;
        host.say('kept');
      }
      return;
    case 'market': {
      const pending = modal.market.key(name, ch);
      host.render();
      await pending;
      if (modal.market.closed) {
        host.modal = null;
        void host.refresh(); // a joined VM shows in the tree
      }
      return host.render();
    }
    case 'wizard':
    case 'members': {
      const screen = modal.kind === 'wizard' ? modal.wizard : modal.screen;
      // A pasted join request is one burst of keys: the members screen is drawn once after it.
      const draw = modal.kind === 'members' ? () => host.renderSoon() : () => host.render();
      const pending = screen.key(name, ch);
      draw();
      await pending;
      if (!screen.result) return draw();
      host.modal = null;
      if (screen.result.kind === 'done') {
        host.say(screen.result.message);
        void host.refresh(); // the new VM, even if the daemon sends no ConfigChanged for our own reload
      } else host.say(modal.kind === 'members' ? 'members closed' : 'wizard cancelled; nothing written');
      return;
    }
    default: {
      const never: never = modal;
      throw new Error(`unknown modal ${JSON.stringify(never)}`);
    }
  }
}
