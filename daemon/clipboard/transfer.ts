/**
 * One `hiboss clip` request (issue #23): the host's text into a VM's clipboard
 * (`to`) or the VM's into the host's (`from`), checked by the one text rule
 * (api/clipboard.ts) before anything is written. The outcome says what crossed
 * (never the text: it may be a password) or why nothing did; the daemon tells it
 * in a notification naming the network.
 */
import { clipText, type ClipDirection } from '../../api/clipboard.js';
import { GuestClipboard } from '../../config/schema.js';
import { readGuestClipboard, writeGuestClipboard } from './guest.js';
import { readHostClipboard, writeHostClipboard, type HostWm } from './host.js';

export interface ClipboardRequest {
  direction: ClipDirection;
  /** The VM (null: the focused workspace has none). */
  target: string | null;
  /** What the policy knows of it (undefined: no such VM). */
  state: string | undefined;
  clipboard: GuestClipboard | undefined;
  wm: HostWm | undefined;
  /** The VM's guest agent channel. */
  agentSocket: string | null;
  env: NodeJS.ProcessEnv;
}

export type ClipboardOutcome =
  | { ok: true; summary: string; body: string }
  | { ok: false; summary: string; kind: 'InvalidArgument' | 'NoSuchVm' | 'Failed'; message: string };

export async function transferClipboard(request: ClipboardRequest): Promise<ClipboardOutcome> {
  const { direction, target } = request;
  const arrow = target === null ? 'clipboard' : direction === 'to' ? `clipboard → ${target}` : `clipboard ← ${target}`;
  const refuse = (kind: 'InvalidArgument' | 'NoSuchVm' | 'Failed', message: string): ClipboardOutcome => ({ ok: false, summary: `hiboss: ${arrow}: refused`, kind, message });
  const crossed = (body: string): ClipboardOutcome => ({ ok: true, summary: `hiboss: ${arrow}`, body });
  if (target === null) return refuse('InvalidArgument', 'the focused workspace has no VM: name the VM');
  if (request.state === undefined) return refuse('NoSuchVm', `no VM named "${target}"`);
  if (request.state !== 'running') return refuse('InvalidArgument', `${target} is ${request.state}: its clipboard is reachable only while it runs`);
  if (request.wm === undefined) return refuse('Failed', 'not connected to the WM: no host clipboard');
  if (request.agentSocket === null) return refuse('Failed', `${target} has no guest agent channel`);
  const commands = request.clipboard ?? GuestClipboard.parse({});
  try {
    if (direction === 'to') {
      const bytes = await readHostClipboard(request.wm, request.env);
      if (bytes === null) return refuse('InvalidArgument', `the host's clipboard holds no text (text only crosses): nothing was copied into ${target}`);
      const checked = clipText(bytes, "the host's clipboard");
      if (!checked.ok) return refuse('InvalidArgument', `${checked.reason}: nothing was copied into ${target}`);
      await writeGuestClipboard(request.agentSocket, commands, checked.text);
      return crossed(`${describeText(checked.text)} from the host's clipboard into ${target}'s`);
    }
    const checked = clipText(await readGuestClipboard(request.agentSocket, commands), `${target}'s clipboard`);
    if (!checked.ok) return refuse('InvalidArgument', `${checked.reason}: the host's clipboard is unchanged`);
    await writeHostClipboard(request.wm, request.env, checked.text);
    return crossed(`${describeText(checked.text)} from ${target}'s clipboard into the host's`);
  } catch (error) {
    return refuse('Failed', (error as Error).message);
  }
}

/** "12 characters" / "3 lines (40 characters)": what crossed, never the text itself. */
export function describeText(text: string): string {
  const lines = text.split('\n').length;
  const characters = [...text].length;
  return lines > 1 ? `${lines} lines (${characters} characters)` : `${characters} character${characters === 1 ? '' : 's'}`;
}
