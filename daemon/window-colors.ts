/**
 * A VM's colour on its windows, in what stock sway 1.7 and i3 4.22 allow:
 *
 * - The title label: `title_format` is per window, and both render Pango markup
 *   in it when their font is a Pango one (`font pango:…`), so every window of a network
 *   carries `<span background=COLOUR …>[NAME]</span> %title` — whichever output
 *   shows it. Both WMs escape the window's own title when they substitute %title.
 * - The frame: `client.focused` is one global setting, not per window; sway takes
 *   it as a runtime command, i3 only from its config file. On sway the daemon
 *   switches it with the focused workspace's VM, so the focused window's border
 *   and title bar are its network's colour; windows on other outputs keep the
 *   unfocused colours (their label still says which network they are).
 */
import { textColorOn } from '../config/colors.js';

/** Text safe inside Pango markup. */
export function escapeMarkup(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/'/g, '&#39;').replace(/"/g, '&quot;');
}

/** The title_format of a VM's windows: plain without a colour (no markup needed), else a coloured label. */
export function labelFormat(name: string, color: string | null | undefined): string {
  if (!color) return `[${name}] %title`;
  return `<span background='${color}' foreground='${textColorOn(color)}'>[${escapeMarkup(name)}]</span> %title`;
}

/**
 * Both WMs parse markup in titles only with a Pango font (`font pango:…`; sway's
 * `pango_markup` follows the font line): otherwise `<span …>` would be shown as text.
 */
export function rendersMarkup(configText: string): boolean {
  return /^\s*font\s+pango:/m.test(configText);
}

/** client.focused's five colours: border, background, text, indicator, child_border. */
export type FocusedColors = [string, string, string, string, string];

/** sway's and i3's built-in client.focused. */
export const DEFAULT_FOCUSED: FocusedColors = ['#4c7899', '#285577', '#ffffff', '#2e9ef4', '#285577'];

/** The colours a VM's focused window gets: its colour all round, readable text. */
export function vmFocusedColors(color: string): FocusedColors {
  return [color, color, textColorOn(color), color, color];
}

export function focusedCommand(colors: FocusedColors): string {
  return `client.focused ${colors.join(' ')}`;
}

/**
 * The user's own client.focused from the WM's config text (the last one wins), so
 * that a workspace without a VM gets it back; missing trailing colours follow the
 * WM's rules (indicator and child_border default to the background colour / the WM's).
 */
export function userFocusedColors(configText: string): FocusedColors {
  let found: FocusedColors = DEFAULT_FOCUSED;
  for (const line of configText.split('\n')) {
    const words = line.trim().split(/\s+/);
    if (words[0] !== 'client.focused') continue;
    const colors = words.slice(1).filter((w) => /^#[0-9a-fA-F]{6}([0-9a-fA-F]{2})?$/.test(w));
    if (colors.length < 3) continue;
    found = [colors[0]!, colors[1]!, colors[2]!, colors[3] ?? DEFAULT_FOCUSED[3], colors[4] ?? colors[1]!];
  }
  return found;
}
