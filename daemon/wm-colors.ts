/**
 * The network colours on the WM (see window-colors.ts for what sway and i3
 * allow): sway's client.focused switched with the focused workspace's VM (and
 * the user's own colours back on a workspace without one, and when the daemon
 * stops); labels of windows already placed redone when a colour changes.
 */
import type { WmClient } from '../wm-ipc/client.js';
import { MessageType, type Node } from '../wm-ipc/protocol.js';
import { DEFAULT_FOCUSED, focusedCommand, labelFormat, rendersMarkup, userFocusedColors, vmFocusedColors, type FocusedColors } from './window-colors.js';
import { quoteForWm, vmOfWindow, type VmWindowInfo } from './windows.js';
import { errorMessage } from '../shared/error-message.js';

export class WmColors {
  #userFocused: FocusedColors = DEFAULT_FOCUSED;
  /** The WM renders Pango markup in titles: its config has a `font pango:…` line (else markup shows as text). */
  #markup = false;
  /** The VM colour client.focused shows now (null: the user's own; undefined: never set by us). */
  #shown: string | null | undefined;

  constructor(
    private readonly wm: WmClient,
    private readonly kind: 'sway' | 'i3',
    private readonly warn: (message: string) => void,
  ) {
    // A restarted WM starts from its config's colours: ours are sent again at the next focus.
    wm.on('reconnected', () => (this.#shown = undefined));
  }

  /** Reads the WM's config: does it render markup; the user's client.focused (sway), to give it back. */
  async init(): Promise<void> {
    try {
      const reply = await this.wm.request(MessageType.GET_CONFIG);
      this.#markup = rendersMarkup(reply.config);
      if (this.kind === 'sway') this.#userFocused = userFocusedColors(reply.config);
    } catch (error) {
      this.warn(`cannot read the WM's config (labels stay plain; client.focused is restored to the defaults): ${errorMessage(error)}`);
    }
  }

  /** Whether labels may carry markup (coloured); without it they stay `[NAME] %title`. */
  get markup(): boolean {
    return this.#markup;
  }

  /** The focused workspace's VM colour (null: none) on the focused window's frame — sway only (i3 sets colours in its config file alone). */
  async showFocused(color: string | null): Promise<void> {
    if (this.kind !== 'sway' || this.wm.ended || color === this.#shown) return;
    this.#shown = color;
    try {
      await this.wm.command(focusedCommand(color ? vmFocusedColors(color) : this.#userFocused));
    } catch (error) {
      this.warn(`cannot set the focused window's colours: ${errorMessage(error)}`);
    }
  }

  /** The daemon stops: the user's own colours again (bounded: a WM that does not answer is left as it is). */
  async restore(timeoutMs = 1000): Promise<void> {
    if (this.#shown === undefined || this.#shown === null) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.showFocused(null), new Promise((resolve) => (timer = setTimeout(resolve, timeoutMs)))]);
    clearTimeout(timer);
  }

  /** Labels every VM window again (a colour or a name changed); one command for all. */
  async relabel(vms: VmWindowInfo[]): Promise<void> {
    if (this.wm.ended) return;
    try {
      const commands: string[] = [];
      const walk = (node: Node) => {
        const children = [...node.nodes, ...node.floating_nodes];
        if (children.length === 0 && (node.type === 'con' || node.type === 'floating_con')) {
          const vm = vmOfWindow(node, vms);
          if (vm) commands.push(`[con_id=${node.id}] title_format ${quoteForWm(labelFormat(vm.name, this.#markup ? vm.color : null))}`);
        }
        for (const child of children) walk(child);
      };
      walk(await this.wm.getTree());
      if (commands.length) await this.wm.command(commands.join('; '));
    } catch (error) {
      this.warn(`cannot relabel VM windows: ${errorMessage(error)}`);
    }
  }
}
