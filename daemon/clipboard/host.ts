/**
 * The host's clipboard, through the WM's own tools (argv only): wl-clipboard's
 * wl-paste/wl-copy under sway, xclip under i3. Read bounded (one byte over the
 * limit is enough to refuse); written through stdin.
 */
import { execa } from 'execa';
import { MAX_CLIP_BYTES } from '../../api/clipboard.js';

const TIMEOUT_MS = 5000;

export type HostWm = 'sway' | 'i3';

/** The commands that read and write the clipboard of this WM's session. */
export function hostClipboardCommands(wm: HostWm): { read: string[]; write: string[] } {
  switch (wm) {
    case 'sway':
      return { read: ['wl-paste', '--no-newline', '--type', 'text/plain;charset=utf-8'], write: ['wl-copy', '--type', 'text/plain;charset=utf-8'] };
    case 'i3':
      return { read: ['xclip', '-selection', 'clipboard', '-out', '-target', 'UTF8_STRING'], write: ['xclip', '-selection', 'clipboard', '-in', '-target', 'UTF8_STRING'] };
    default: {
      const never: never = wm;
      throw new Error(`no clipboard for ${String(never)}`);
    }
  }
}

export class HostClipboardError extends Error {}

/**
 * The host clipboard's text as bytes, at most MAX_CLIP_BYTES + 1 (more is refused by the caller);
 * null when it holds something, but no text (an image, a file's bytes).
 */
export async function readHostClipboard(wm: HostWm, env: NodeJS.ProcessEnv): Promise<Uint8Array | null> {
  const [file, ...args] = hostClipboardCommands(wm).read;
  const result = await execa(file!, args, { env, encoding: 'buffer', timeout: TIMEOUT_MS, maxBuffer: MAX_CLIP_BYTES + 1, reject: false, stdin: 'ignore' });
  if (result.isMaxBuffer) return new Uint8Array(MAX_CLIP_BYTES + 1);
  if (result.failed) {
    const said = Buffer.from(result.stderr as Uint8Array).toString('utf8').trim().split('\n')[0] ?? '';
    // wl-paste: "Nothing is copied" / "No suitable type of content copied"; xclip: "Error: target UTF8_STRING not available".
    if (/nothing is copied/i.test(said)) return new Uint8Array(0);
    if (/no suitable type|not available/i.test(said)) return null;
    throw new HostClipboardError(`${file} failed: ${said || result.shortMessage}`);
  }
  return result.stdout as Uint8Array;
}

/**
 * Puts text on the host's clipboard. wl-copy and xclip stay in the background to
 * serve it (their own copy, detached): only stdin is ours.
 */
export async function writeHostClipboard(wm: HostWm, env: NodeJS.ProcessEnv, text: string): Promise<void> {
  const [file, ...args] = hostClipboardCommands(wm).write;
  const result = await execa(file!, args, { env, input: text, stdout: 'ignore', stderr: 'ignore', timeout: TIMEOUT_MS, reject: false });
  if (result.failed) throw new HostClipboardError(`${file} failed: ${result.shortMessage}`);
}
