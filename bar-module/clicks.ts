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

/** Button 1 toggles the clicked VM, 2 hibernates it, 3 opens the panel, the wheel (4 up, 5 down) goes to the next/previous VM. */
export function clickAction(event: ClickEvent): ClickAction | null {
  // Our block's instance is the VM name, or 'down'/'none' when there is no VM to name.
  const vm = event.instance && event.instance !== 'down' && event.instance !== 'none' ? event.instance : '';
  switch (event.button) {
    case 1:
      return { kind: 'act', verb: 'toggle', name: vm };
    case 2:
      return vm ? { kind: 'act', verb: 'hibernate', name: vm } : null; // memory: save it to disk
    case 3:
      return { kind: 'panel' };
    case 4:
      return { kind: 'act', verb: 'next', name: '' };
    case 5:
      return { kind: 'act', verb: 'prev', name: '' };
    default:
      return null;
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
