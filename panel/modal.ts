/**
 * The panel's one modal box: the wizard, the Market tab, a VM's members, or a yes/no
 * confirmation — and the text each shows in it.
 */
import type { MarketScreen } from './market.js';
import type { MembersScreen } from './members.js';
import type { Wizard } from './wizard.js';

export type Modal =
  | { kind: 'wizard'; wizard: Wizard }
  | { kind: 'market'; market: MarketScreen }
  | { kind: 'members'; screen: MembersScreen }
  | { kind: 'confirm'; text: string; onYes: () => Promise<void> };

export function modalText(modal: Modal): string {
  switch (modal.kind) {
    case 'wizard':
      return modal.wizard.view().join('\n');
    case 'market':
      return modal.market.view().join('\n');
    case 'members':
      return modal.screen.view().join('\n');
    case 'confirm':
      return modal.text;
    default: {
      const never: never = modal;
      throw new Error(`unknown modal ${JSON.stringify(never)}`);
    }
  }
}
