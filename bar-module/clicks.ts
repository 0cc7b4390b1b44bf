/**
 * Click events from i3bar (and i3blocks' persistent blocks) on stdin: an endless
 * JSON array, one event per line (`[`, then `{…}`, then `,{…}` …). Input from
 * another process is untrusted: lines are bounded and validated with zod.
 */
import { z } from 'zod';
import type { Verb } from '../api/schema.js';

/** Longer than any real click event (i3bar sends ~200 bytes); a longer line is dropped whole. */
export const MAX_CLICK_LINE = 4096;

export const ClickEvent = z.object({
  name: z.string().max(256).optional(),
  instance: z.string().max(256).optional(),
  button: z.number().int().min(0).max(64),
});
export type ClickEvent = z.infer<typeof ClickEvent>;

export type ParsedClickLine =
  | { kind: 'skip' }
  | { kind: 'click'; event: ClickEvent }
  | { kind: 'invalid'; reason: string };

export function parseClickLine(raw: string): ParsedClickLine {
  if (raw.length > MAX_CLICK_LINE) return { kind: 'invalid', reason: `line longer than ${MAX_CLICK_LINE} bytes` };
  let line = raw.trim();
  // The array's opening bracket and separators carry no event.
  if (line === '' || line === '[' || line === ']' || line === ',') return { kind: 'skip' };
  if (line.startsWith(',')) line = line.slice(1).trimStart();
  let json: unknown;
  try {
    json = JSON.parse(line);
  } catch {
    return { kind: 'invalid', reason: 'not JSON' };
  }
  const parsed = ClickEvent.safeParse(json);
  if (!parsed.success) return { kind: 'invalid', reason: parsed.error.issues.map((i) => `${i.path.join('.') || 'event'}: ${i.message}`).join('; ') };
  return { kind: 'click', event: parsed.data };
}

export type ClickAction = { kind: 'act'; verb: Verb; name: string } | { kind: 'panel' };

export interface Click {
  /** The X11/i3bar button number. */
  button: number;
  /** The key of waybar's custom module that runs on it. */
  waybarKey: 'on-click' | 'on-click-middle' | 'on-click-right' | 'on-scroll-up' | 'on-scroll-down';
  /** A verb for the daemon, or the panel (in a terminal). */
  action: Verb | 'panel';
  /** Whom the verb is for: the clicked VM (waybar: the focused workspace's), one that must be named, or none. */
  vm: 'clicked' | 'clicked-required' | 'none';
  /** What it does, for the README's table and the fragment's comments. */
  does: string;
}

/**
 * The one table of what a click on the module does: i3bar/i3blocks clicks are decided from it
 * (clickAction), and a test holds bar-module/waybar-module.jsonc and nix/waybar-module.nix to it.
 */
export const CLICKS: readonly Click[] = [
  { button: 1, waybarKey: 'on-click', action: 'toggle', vm: 'clicked', does: 'pauses or resumes the VM (a hibernated one comes back)' },
  {
    button: 2,
    waybarKey: 'on-click-middle',
    action: 'hibernate',
    vm: 'clicked-required',
    does: 'saves the VM to disk and holds it there: focus leaves it on disk; a left click, resume or start brings it back',
  },
  { button: 3, waybarKey: 'on-click-right', action: 'panel', vm: 'none', does: 'opens the panel in a terminal' },
  { button: 4, waybarKey: 'on-scroll-up', action: 'next', vm: 'none', does: 'goes to the next VM workspace' },
  { button: 5, waybarKey: 'on-scroll-down', action: 'prev', vm: 'none', does: 'goes to the previous VM workspace' },
];

/** What a click asks for, from CLICKS; null for a button without a meaning (or a hibernate with no VM to name). */
export function clickAction(event: ClickEvent): ClickAction | null {
  // Our block's instance is the VM name, or 'down'/'none' when there is no VM to name.
  const vm = event.instance && event.instance !== 'down' && event.instance !== 'none' ? event.instance : '';
  const click = CLICKS.find((c) => c.button === event.button);
  if (!click) return null;
  if (click.action === 'panel') return { kind: 'panel' };
  switch (click.vm) {
    case 'clicked':
      return { kind: 'act', verb: click.action, name: vm };
    case 'clicked-required':
      return vm ? { kind: 'act', verb: click.action, name: vm } : null;
    case 'none':
      return { kind: 'act', verb: click.action, name: '' };
    default: {
      const never: never = click.vm;
      throw new Error(`unknown click target ${String(never)}`);
    }
  }
}

/**
 * Splits a byte stream into lines of at most `max` characters without ever
 * holding more: an over-long line is reported once (as a string of max+1 chars)
 * and the rest of it is skipped up to its newline.
 */
export class LineSplitter {
  #buffer = '';
  #skipping = false;

  constructor(private readonly onLine: (line: string) => void, private readonly max = MAX_CLICK_LINE) {}

  push(chunk: string): void {
    let rest = chunk;
    while (rest.length) {
      const nl = rest.indexOf('\n');
      const piece = nl === -1 ? rest : rest.slice(0, nl);
      rest = nl === -1 ? '' : rest.slice(nl + 1);
      if (!this.#skipping) {
        this.#buffer += piece;
        if (this.#buffer.length > this.max) {
          this.onLine(this.#buffer.slice(0, this.max + 1));
          this.#buffer = '';
          this.#skipping = true;
        }
      }
      if (nl !== -1) {
        if (!this.#skipping) this.onLine(this.#buffer);
        this.#buffer = '';
        this.#skipping = false;
      }
    }
  }

  /** End of input: a last line without newline still counts. */
  end(): void {
    if (!this.#skipping && this.#buffer.length) this.onLine(this.#buffer);
    this.#buffer = '';
    this.#skipping = false;
  }
}
