/**
 * Clipboard by hand: the words of the API and the one rule for the
 * text that may cross between the host and a VM — read by the daemon for both
 * directions, so no text crosses that this refuses.
 */
import { z } from 'zod';

/** `to`: the host's clipboard into the VM's; `from`: the VM's into the host's. */
export const CLIP_DIRECTIONS = ['to', 'from'] as const;
export const ClipDirection = z.enum(CLIP_DIRECTIONS);
export type ClipDirection = z.infer<typeof ClipDirection>;

/** Text only, and not a flood: 64 KiB of UTF-8. */
export const MAX_CLIP_BYTES = 64 * 1024;

/** Control characters other than tab and newline (C0, DEL, C1): they could drive a terminal on the other side. */
const CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/u;

/**
 * Clipboard text: valid UTF-8, at most MAX_CLIP_BYTES, no control characters but \n and \t.
 * Takes the bytes as read; `where` names the clipboard in the message ("the host's clipboard").
 */
export function clipText(bytes: Uint8Array, where: string): { ok: true; text: string } | { ok: false; reason: string } {
  if (bytes.byteLength === 0) return { ok: false, reason: `${where} is empty` };
  if (bytes.byteLength > MAX_CLIP_BYTES) return { ok: false, reason: `${where} holds more than ${MAX_CLIP_BYTES / 1024} KiB (text only, at most ${MAX_CLIP_BYTES} bytes)` };
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    return { ok: false, reason: `${where} is not UTF-8 text` };
  }
  const control = CONTROL.exec(text);
  if (control) {
    const code = control[0].codePointAt(0)!.toString(16).padStart(2, '0');
    return { ok: false, reason: `${where} holds a control character (U+00${code.toUpperCase()}); only text with newlines and tabs crosses` };
  }
  return { ok: true, text };
}
