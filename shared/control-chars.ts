// The one check for control characters in what a user, a config file or a URI gives us:
// C0 (U+0000–U+001F), DEL (U+007F) and C1 (U+0080–U+009F, NEL U+0085 among them). Any of
// them could rewrite what a terminal shows, split a line a reader relies on, or end an
// argument early; none belongs in a name, a workspace, a path or a flake reference.

/** C0, DEL and C1 controls. */
export const CONTROL_CHARACTER = /[\u0000-\u001f\u007f-\u009f]/;

/** `text` with each control character shown as `?`: for untrusted text bound for a terminal or a notification. */
export function replaceControlCharacters(text: string): string {
  return text.replace(new RegExp(CONTROL_CHARACTER.source, 'g'), '?');
}

/** The message a schema gives for a string with a control character in it. */
export const NO_CONTROL_CHARACTERS = 'must not contain control characters (C0, DEL or C1)';

export interface ControlCharacter {
  /** 0-based index in the string. */
  index: number;
  /** `U+0085`. */
  code: string;
}

/** The first control character in `text`, or null. */
export function findControlCharacter(text: string): ControlCharacter | null {
  const found = CONTROL_CHARACTER.exec(text);
  if (!found) return null;
  return { index: found.index, code: `U+${found[0].codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}` };
}

/** True when `text` has no control character (a zod refinement). */
export function withoutControlCharacters(text: string): boolean {
  return !CONTROL_CHARACTER.test(text);
}

/** `WHAT contains a control character (U+0085) at position 3`, or null when there is none. */
export function controlCharacterProblem(text: string, what: string): string | null {
  const found = findControlCharacter(text);
  return found ? `${what} contains a control character (${found.code}) at position ${found.index + 1}` : null;
}
