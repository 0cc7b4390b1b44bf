/**
 * Reading a small file from the guest through its agent (guest-file-open,
 * guest-file-read in chunks, guest-file-close): never more than a cap, and
 * the handle closed whatever happens.
 */
import type { AgentClient } from './client.js';
import { AgentCommandError } from './errors.js';

export class GuestFileError extends Error {
  override name = 'GuestFileError';
  constructor(readonly file: string, readonly reason: 'missing' | 'too-large', message: string) {
    super(message);
  }
}

const CHUNK_BYTES = 4096;

/** The file's bytes; GuestFileError when it is missing or larger than maxBytes. Other agent errors as they are. */
export async function readGuestFile(agent: AgentClient, file: string, maxBytes: number, timeoutMs = 5000): Promise<Buffer> {
  let handle: number;
  try {
    handle = await agent.execute('guest-file-open', { path: file, mode: 'r' }, { timeoutMs });
  } catch (error) {
    // qemu-ga reports open(2)'s failure as a GenericError naming the errno text.
    if (error instanceof AgentCommandError && /No such file/i.test(error.desc)) {
      throw new GuestFileError(file, 'missing', `${file} does not exist in the VM`);
    }
    throw error;
  }
  try {
    const chunks: Buffer[] = [];
    let total = 0;
    for (;;) {
      const read = await agent.execute('guest-file-read', { handle, count: Math.min(CHUNK_BYTES, maxBytes + 1 - total) }, { timeoutMs });
      const bytes = Buffer.from(read['buf-b64'], 'base64');
      total += bytes.length;
      if (total > maxBytes) throw new GuestFileError(file, 'too-large', `${file} in the VM is larger than ${maxBytes} bytes`);
      chunks.push(bytes);
      if (read.eof || bytes.length === 0) return Buffer.concat(chunks);
    }
  } finally {
    await agent.execute('guest-file-close', { handle }, { timeoutMs }).catch(() => undefined);
  }
}
