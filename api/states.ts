/**
 * How each state looks, declared once: its glyph, its colour on a bar (i3bar,
 * i3blocks, and waybar's bar-module/style.css, which a test holds to this table)
 * and its colour in a terminal (the panel). Besides the VM states, `down` (the
 * daemon is away) and `none` (no VM on the focused workspace).
 *
 * Every glyph is one that DejaVu Sans has (the font Debian installs with any
 * desktop; test/bar/glyphs.test.ts asks fontconfig), so no state draws as a
 * missing-glyph box: `‖` for paused (⏸ is not in DejaVu), `⊘` for unresponsive
 * (nor is ⌛).
 */
import type { VmState } from './schema.js';

/** What a bar or the panel shows: a VM state, the daemon being away, or no VM on the focused workspace. */
export type ShownState = VmState | 'down' | 'none';

/** blessed's named colours the panel uses. */
export type TerminalColour = 'green' | 'yellow' | 'cyan' | 'white' | 'red' | 'magenta' | 'blue' | 'grey';

export interface StateLook {
  glyph: string;
  /** #rrggbb: the background on waybar (style.css) and the text colour on i3bar/i3blocks. */
  bar: string;
  terminal: TerminalColour;
}

export const STATE_LOOKS = {
  running: { glyph: '▶', bar: '#a6e3a1', terminal: 'green' },
  paused: { glyph: '‖', bar: '#f9e2af', terminal: 'yellow' },
  starting: { glyph: '…', bar: '#89b4fa', terminal: 'cyan' },
  stopping: { glyph: '…', bar: '#89b4fa', terminal: 'cyan' },
  stopped: { glyph: '■', bar: '#9399b2', terminal: 'white' },
  failed: { glyph: '✖', bar: '#f38ba8', terminal: 'red' },
  unresponsive: { glyph: '⊘', bar: '#f5c2e7', terminal: 'magenta' },
  saving: { glyph: '⇣', bar: '#74c7ec', terminal: 'blue' },
  hibernated: { glyph: '❄', bar: '#b4befe', terminal: 'blue' },
  restoring: { glyph: '⇡', bar: '#74c7ec', terminal: 'blue' },
  down: { glyph: '⚠', bar: '#fab387', terminal: 'red' },
  none: { glyph: '·', bar: '#6c7086', terminal: 'grey' },
} as const satisfies Record<ShownState, StateLook>;

function pick<K extends keyof StateLook>(key: K): Record<ShownState, StateLook[K]> {
  return Object.fromEntries(Object.entries(STATE_LOOKS).map(([state, look]) => [state, look[key]])) as Record<ShownState, StateLook[K]>;
}

/** One glyph per state, for bars, the panel and the CLI. */
export const STATE_GLYPHS: Record<ShownState, string> = pick('glyph');
/** One colour per state on a bar. */
export const BAR_COLOURS: Record<ShownState, string> = pick('bar');
/** One colour per state in the panel. */
export const TERMINAL_COLOURS: Record<ShownState, TerminalColour> = pick('terminal');

/** Beside a VM that runs while its workspace is out of sight (VmStatus.runsHidden); DejaVu Sans has it. */
export const RUNS_HIDDEN_GLYPH = '↻';

/**
 * Beside the VM that hears the member, and the pin that keeps the microphone with it. These two are
 * emoji: DejaVu has neither, so a bar needs an emoji font beside it (Debian's fonts-noto-color-emoji).
 */
export const MIC_GLYPHS = { holds: '🎤', pinned: '📌' } as const;

/** "🎤" after the VM that hears the member ("🎤📌" when pinned); '' for every other VM. */
export function micMark(status: { microphone?: { vm: string | null; pinned: boolean } | undefined }, vm: string): string {
  const mic = status.microphone;
  if (!mic || mic.vm !== vm) return '';
  return mic.pinned ? `${MIC_GLYPHS.holds}${MIC_GLYPHS.pinned}` : MIC_GLYPHS.holds;
}
