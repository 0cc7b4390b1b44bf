/**
 * A VM's clipboard, through its guest agent only (no implicit channel: QEMU's
 * clipboard agent is never given): the guest-side programs of the VM's
 * `clipboard` setting run with guest-exec — `paste` prints the clipboard, `copy`
 * takes it on stdin. The agent runs a program and keeps its output; it has no
 * "exited" event, so its status is asked until the program has exited.
 */
import { AgentClient } from '../../qga/client.js';
import { MAX_CLIP_BYTES } from '../../api/clipboard.js';
import type { GuestClipboard } from '../../config/schema.js';
import { sleep } from '../../transport/backoff.js';

/** A clipboard program that takes longer than this is given up. */
const RUN_TIMEOUT_MS = 10_000;
const STATUS_INTERVAL_MS = 25;

export class GuestClipboardError extends Error {}

interface Ran {
  stdout: Uint8Array;
}

async function run(socket: string, argv: string[], input: string | null): Promise<Ran> {
  let agent: AgentClient | undefined;
  try {
    agent = await AgentClient.connect(socket);
    const [path, ...arg] = argv;
    const { pid } = await agent.execute('guest-exec', { path: path!, arg, 'capture-output': true, ...(input === null ? {} : { 'input-data': Buffer.from(input, 'utf8').toString('base64') }) }, { timeoutMs: 5000 });
    const deadline = Date.now() + RUN_TIMEOUT_MS;
    for (;;) {
      const status = await agent.execute('guest-exec-status', { pid }, { timeoutMs: 5000 });
      if (status.exited) {
        // The guest's words reach a notification and a terminal: one line, no control characters.
        const stderr = (Buffer.from(status['err-data'] ?? '', 'base64').toString('utf8').trim().split('\n')[0] ?? '').slice(0, 200).replace(/[\u0000-\u001f\u007f-\u009f]/g, '?');
        if (status.exitcode !== 0) throw new GuestClipboardError(`${path} exited with ${status.signal !== undefined ? `signal ${status.signal}` : `code ${status.exitcode}`}${stderr ? `: ${stderr}` : ''}`);
        // base64 of at most 4/3 of the bound: more is refused unread.
        const out = status['out-data'] ?? '';
        if (out.length > Math.ceil(((MAX_CLIP_BYTES + 1) * 4) / 3) + 4) return { stdout: new Uint8Array(MAX_CLIP_BYTES + 1) };
        return { stdout: Buffer.from(out, 'base64') };
      }
      if (Date.now() > deadline) throw new GuestClipboardError(`${path} did not finish within ${RUN_TIMEOUT_MS / 1000} s`);
      await sleep(STATUS_INTERVAL_MS);
    }
  } catch (error) {
    if (error instanceof GuestClipboardError) throw error;
    throw new GuestClipboardError(`the guest agent: ${(error as Error).message}`);
  } finally {
    agent?.close();
  }
}

/** The VM's clipboard (bytes; the caller checks them as text). */
export async function readGuestClipboard(socket: string, commands: GuestClipboard): Promise<Uint8Array> {
  return (await run(socket, commands.paste, null)).stdout;
}

/** Puts checked text on the VM's clipboard. */
export async function writeGuestClipboard(socket: string, commands: GuestClipboard, text: string): Promise<void> {
  await run(socket, commands.copy, text);
}
